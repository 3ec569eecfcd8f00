import { Link } from "react-router";
import type { Candidate } from "../api/client";
import { AttentionBadge, StatusBadge } from "../components/Badges";
import { ago, timeAttention, waitedFor, when } from "../format";
import { useNow } from "../hooks";

/** CandidateTable is one page of a migration's candidates: status, current step, attention, and a checkbox each. */
export function CandidateTable({
  migrationId,
  items,
  isSelected,
  lockedSelection,
  pageSelected,
  onToggle,
  onTogglePage,
  empty,
}: {
  migrationId: string;
  items: Candidate[];
  isSelected: (c: Candidate) => boolean;
  /** every matching candidate is selected: rows cannot be picked one by one */
  lockedSelection: boolean;
  pageSelected: boolean;
  onToggle: (c: Candidate) => void;
  onTogglePage: () => void;
  empty: string | null;
}) {
  // Silent and overdue rows say how long they have waited, counting between polls.
  const now = useNow(items.some((c) => c.run?.status === "running" && timeAttention(c.run.attention)));
  return (
    <div className="table-wrap">
      <table className="candidates">
        <thead>
          <tr>
            <th className="check">
              <input type="checkbox" aria-label="Select this page" checked={pageSelected} onChange={onTogglePage} disabled={items.length === 0 || lockedSelection} />
            </th>
            <th>Candidate</th>
            <th>Status</th>
            <th>Current step</th>
            <th>Updated</th>
          </tr>
        </thead>
        <tbody>
          {items.map((c) => {
            const waited = waitedFor(c.run?.attention, c.run?.waitingSince, now);
            return (
              <tr key={c.id} className={c.run?.attention ? "needs" : undefined}>
                <td className="check">
                  <input
                    type="checkbox"
                    aria-label={`Select ${c.id}`}
                    checked={isSelected(c)}
                    onChange={() => onToggle(c)}
                    disabled={lockedSelection}
                    title={lockedSelection ? "Every matching candidate is selected; Clear to pick rows" : undefined}
                  />
                </td>
                <td>
                  <Link to={`/migrations/${migrationId}/candidates/${c.id}`} className="cid">
                    {c.id}
                  </Link>
                  <span className="muted small kind">{c.kind}</span>
                </td>
                <td>
                  <StatusBadge status={c.status} />
                  {c.status === "not_started" && c.run?.status === "cancelled" && <span className="muted small"> (cancelled)</span>}
                </td>
                <td>
                  {c.run?.stepName && c.run.status === "running" ? (
                    <span className="step-cell">
                      <span>{c.run.stepName}</span> {c.run.stepStatus && <StatusBadge status={c.run.stepStatus} />}{" "}
                      <AttentionBadge attention={c.run.attention} since={c.run.waitingSince} now={now} />
                      {waited && (
                        <span className="muted small waited" title={`since ${when(c.run.waitingSince)}`}>
                          {waited}
                        </span>
                      )}
                    </span>
                  ) : (
                    <span className="muted">—</span>
                  )}
                </td>
                <td className="muted small" title={when(c.updatedAt)}>
                  {ago(c.updatedAt)}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {empty && <p className="muted pad">{empty}</p>}
    </div>
  );
}

/** Pager says which candidates the page shows and moves between pages. */
export function Pager({ page, size, total, go }: { page: number; size: number; total: number; go: (page: number) => void }) {
  return (
    <div className="pager">
      <span className="muted">
        {total === 0 ? "0" : `${(page * size + 1).toLocaleString()}–${Math.min(total, (page + 1) * size).toLocaleString()}`} of {total.toLocaleString()}
      </span>
      <button type="button" disabled={page === 0} onClick={() => go(page - 1)}>
        ← Previous
      </button>
      <button type="button" disabled={(page + 1) * size >= total} onClick={() => go(page + 1)}>
        Next →
      </button>
    </div>
  );
}
