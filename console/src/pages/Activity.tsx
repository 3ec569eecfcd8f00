import { useState } from "react";
import { useInfiniteQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import type { AuditEntry } from "../api/client";
import { useApi } from "../api/context";
import { actionWords, who } from "../audit";
import { ErrorNote } from "../components/ErrorNote";
import { when } from "../format";

const PAGE = 50;

/**
 * Activity is the audit log of a migration, or of one of its candidates: who started,
 * cancelled, retried or marked what, and what Drover refused. It asks only once opened.
 */
export function Activity({ migrationId, candidateId }: { migrationId: string; candidateId?: string }) {
  const api = useApi();
  const [open, setOpen] = useState(false);
  const log = useInfiniteQuery({
    queryKey: ["audit", migrationId, candidateId ?? null],
    queryFn: ({ pageParam }) => api.listAudit({ migration: migrationId, candidate: candidateId, before: pageParam, limit: PAGE }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next || undefined,
    enabled: open,
  });
  const entries = log.data?.pages.flatMap((p) => p.entries) ?? [];
  return (
    <details className="panel" data-testid="activity" open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>
        <h2>Activity</h2>
      </summary>
      <ErrorNote error={log.error} onRetry={() => log.refetch()} />
      {log.isLoading && <p className="muted">Loading…</p>}
      {log.isSuccess && entries.length === 0 && <p className="muted">Nothing recorded yet.</p>}
      {entries.length > 0 && (
        <ol className="activity">
          {entries.map((e) => (
            <Entry key={e.id} e={e} migrationId={migrationId} showCandidate={!candidateId} />
          ))}
        </ol>
      )}
      {log.hasNextPage && (
        <button type="button" disabled={log.isFetchingNextPage} onClick={() => log.fetchNextPage()}>
          {log.isFetchingNextPage ? "Loading…" : "More"}
        </button>
      )}
    </details>
  );
}

function Entry({ e, migrationId, showCandidate }: { e: AuditEntry; migrationId: string; showCandidate: boolean }) {
  const refused = e.outcome !== "allowed";
  return (
    <li className={refused ? "refused" : undefined} data-outcome={e.outcome}>
      <time className="muted small" dateTime={e.at}>
        {when(e.at)}
      </time>
      <strong title={`${e.actor}${e.role ? ` (${e.role})` : ""}${e.source ? ` from ${e.source}` : ""}`}>{who(e)}</strong>
      <span className="what">
        {refused && <span className="badge status-failed">{e.outcome === "refused" ? "Refused" : "Failed"}</span>} {refused ? "tried: " : ""}
        {actionWords(e)}
        {e.detail && <span className="muted small"> ({e.detail})</span>}
      </span>
      {showCandidate && e.candidate && (
        <Link to={`/migrations/${migrationId}/candidates/${e.candidate}`} className="cid">
          {e.candidate}
        </Link>
      )}
      {refused && <span className="muted small">{e.reason || `answered ${e.status}`}</span>}
    </li>
  );
}
