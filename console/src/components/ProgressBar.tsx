import type { Schemas } from "../api/client";

/** ProgressBar shows a migration's candidates by status as one stacked bar with a legend. */
export function ProgressBar({ counts }: { counts?: Schemas["CandidateCounts"] }) {
  const c = counts ?? { not_started: 0, running: 0, completed: 0 };
  const total = c.not_started + c.running + c.completed;
  const pct = (n: number) => (total === 0 ? 0 : (n / total) * 100);
  const done = total === 0 ? 0 : Math.floor(pct(c.completed));
  const label = `${c.completed} of ${total} completed, ${c.running} running, ${c.not_started} not started`;
  return (
    <div className="progress">
      <div className="bar" role="progressbar" aria-valuemin={0} aria-valuemax={total} aria-valuenow={c.completed} aria-label={label} title={label}>
        <span className="seg completed" style={{ width: `${pct(c.completed)}%` }} />
        <span className="seg running" style={{ width: `${pct(c.running)}%` }} />
      </div>
      <div className="legend">
        <strong>{done}%</strong>
        <span><i className="dot completed" />{c.completed.toLocaleString()} completed</span>
        <span><i className="dot running" />{c.running.toLocaleString()} running</span>
        <span><i className="dot not_started" />{c.not_started.toLocaleString()} not started</span>
        {c.attention ? <span className="needs"><i className="dot attention" />{c.attention.toLocaleString()} {c.attention === 1 ? "needs" : "need"} attention</span> : null}
      </div>
    </div>
  );
}
