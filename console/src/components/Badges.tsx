import { attentionHelp, attentionLabel, statusLabel } from "../format";

/** StatusBadge shows a candidate, run or step status with its colour. */
export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge status-${status}`}>{statusLabel[status] ?? status}</span>;
}

/**
 * AttentionBadge says why a candidate needs an operator; its title explains what they can do.
 * since is, for silent and overdue, since when the step has waited.
 */
export function AttentionBadge({ attention, since, now }: { attention?: string; since?: string; now?: number }) {
  if (!attention) return null;
  return (
    <span className={`badge attention attention-${attention}`} title={`Needs attention: ${attentionHelp(attention, since, now)}`}>
      ⚠ {attentionLabel[attention] ?? attention}
    </span>
  );
}
