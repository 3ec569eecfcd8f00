import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import type { Rollout } from "../api/client";
import { useApi } from "../api/context";
import { StatusBadge } from "../components/Badges";
import { ErrorNote } from "../components/ErrorNote";
import { ago, plural, when } from "../format";
import { useCan } from "../me";
import { pausedText, rolloutEnded, waitText } from "../rollout";
import { usePoll } from "../live";

/** useRollouts is a migration's rollouts, followed every few seconds while one of them is active. */
export function useRollouts(migrationId: string) {
  const api = useApi();
  const poll = usePoll();
  return useQuery({
    queryKey: ["rollouts", migrationId],
    queryFn: () => api.listRollouts(migrationId),
    refetchInterval: (q) => poll(q.state.data?.some((r) => !rolloutEnded(r.status)) ? 3000 : false),
  });
}

/**
 * Rollouts is a migration's rollouts: the active ones first, each with its progress and what it
 * waits for, the ended ones folded beneath; and the button that rolls out every not-started
 * candidate.
 */
export function Rollouts({ migrationId, canStart, onNew }: { migrationId: string; canStart: boolean; onNew: () => void }) {
  const can = useCan("operator");
  const list = useRollouts(migrationId);
  const all = list.data ?? [];
  // Newest first: the list comes oldest first.
  const active = all.filter((r) => !rolloutEnded(r.status)).reverse();
  const ended = all.filter((r) => rolloutEnded(r.status)).reverse();
  return (
    <div className="panel rollouts" data-testid="rollouts">
      <div className="table-head">
        <h2>Rollouts</h2>
        {active.length > 0 && <span className="badge status-running">{active.length} active</span>}
        <span className="spacer" />
        {!can.ok && <span className="role-note">{can.why}</span>}
        <button type="button" disabled={!can.ok || !canStart} title={can.why ?? (canStart ? "Roll out every not-started candidate, paced" : "No candidate is not started")} onClick={onNew}>
          New rollout…
        </button>
      </div>
      <ErrorNote error={list.error} onRetry={() => list.refetch()} />
      {list.isSuccess && all.length === 0 && (
        <p className="muted small">
          No rollout yet. A rollout starts many candidates on the server, at a pace: in waves, a few at a time, within a time window, pausing itself when runs fail.
          Start one here, or from a selection of candidates below.
        </p>
      )}
      {active.length > 0 && (
        <ul className="rollout-list">
          {active.map((r) => (
            <RolloutRow key={r.id} r={r} migrationId={migrationId} />
          ))}
        </ul>
      )}
      {ended.length > 0 && (
        <details className="ended-rollouts" open={active.length === 0 && ended.length <= 3}>
          <summary className="muted small">{plural(ended.length, "ended rollout")}</summary>
          <ul className="rollout-list ended">
            {ended.map((r) => (
              <RolloutRow key={r.id} r={r} migrationId={migrationId} />
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}

function RolloutRow({ r, migrationId }: { r: Rollout; migrationId: string }) {
  const pct = (n: number) => (r.total === 0 ? 0 : (n / r.total) * 100);
  const label = `${r.completed} of ${r.total} completed, ${r.running} running, ${r.failed} failed`;
  return (
    <li className={`rollout-row status-row-${r.status}`} data-rollout={r.id}>
      <div className="rollout-row-head">
        <Link to={`/migrations/${migrationId}/rollouts/${r.id}`} className="cid">
          {r.id}
        </Link>
        <StatusBadge status={r.status} />
        <span className="muted small">
          {plural(r.total, "candidate")} · {r.waves.length > 1 ? `wave ${(r.wave ?? 0) + 1} of ${r.waves.length} · ` : ""}by {r.createdBy || "someone"}{" "}
          <span title={when(r.createdAt)}>{ago(r.createdAt)}</span>
        </span>
        <span className="spacer" />
        <span className="small">{label}</span>
      </div>
      <div className="progress">
        <div className="bar" role="progressbar" aria-valuemin={0} aria-valuemax={r.total} aria-valuenow={r.completed} aria-label={`${r.id}: ${label}`}>
          <span className="seg completed" style={{ width: `${pct(r.completed)}%` }} />
          <span className="seg failed" style={{ width: `${pct(r.failed)}%` }} />
          <span className="seg running" style={{ width: `${pct(r.running)}%` }} />
        </div>
      </div>
      {!rolloutEnded(r.status) && (
        <p className="small rollout-wait">
          {r.status === "paused" && r.pausedReason ? pausedText(r.pausedReason) : waitText(r)}
        </p>
      )}
    </li>
  );
}
