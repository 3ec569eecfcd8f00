import { attentionLabel, statusLabel } from "../format";

/** StatusBadge shows a candidate, run or step status with its colour. */
export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge status-${status}`}>{statusLabel[status] ?? status}</span>;
}

/** AttentionBadge says why a candidate needs an operator. */
export function AttentionBadge({ attention }: { attention?: string }) {
  if (!attention) return null;
  return (
    <span className={`badge attention attention-${attention}`} title="Needs attention">
      ⚠ {attentionLabel[attention] ?? attention}
    </span>
  );
}
