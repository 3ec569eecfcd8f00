import { useMemo, useState } from "react";
import { useInfiniteQuery } from "@tanstack/react-query";
import type { HistoryEvent } from "../api/client";
import { useApi } from "../api/context";
import { StatusBadge } from "../components/Badges";
import { ErrorNote } from "../components/ErrorNote";
import { Linkified } from "../components/Linkified";
import { duration, plural, when } from "../format";
import { eventLabel, groupRuns, isErrorEvent, type HistoryRun } from "../history";

const PAGE = 200;

/** historyKey is the query key of a candidate's history; the candidate page invalidates it when it refreshes the candidate. */
export const historyKey = (migrationId: string, candidateId: string) => ["history", migrationId, candidateId];

/**
 * History is every run of a candidate, newest first, with every step event of each: what was
 * dispatched, what failed and why, what was retried or cancelled. It asks only once opened, and
 * follows the candidate page's own refreshes (no poll of its own).
 */
export function History({ migrationId, candidateId }: { migrationId: string; candidateId: string }) {
  const api = useApi();
  const [open, setOpen] = useState(false);
  const log = useInfiniteQuery({
    queryKey: historyKey(migrationId, candidateId),
    queryFn: ({ pageParam }) => api.getHistory(migrationId, candidateId, { before: pageParam, limit: PAGE }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next || undefined,
    enabled: open,
  });
  const runs = useMemo(() => groupRuns(log.data?.pages.flatMap((p) => p.events) ?? []), [log.data]);
  return (
    <details className="panel" data-testid="history" open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>
        <h2>History</h2>
      </summary>
      <ErrorNote error={log.error} onRetry={() => log.refetch()} />
      {log.isLoading && <p className="muted">Loading…</p>}
      {log.isSuccess && runs.length === 0 && <p className="muted">No runs recorded yet.</p>}
      {runs.map((r, i) => (
        <Run key={r.executionId} run={r} latest={i === 0} more={log.hasNextPage} />
      ))}
      {log.hasNextPage && (
        <button type="button" disabled={log.isFetchingNextPage} onClick={() => log.fetchNextPage()}>
          {log.isFetchingNextPage ? "Loading…" : "Load older"}
        </button>
      )}
    </details>
  );
}

function Run({ run: r, latest, more }: { run: HistoryRun; latest: boolean; more: boolean }) {
  // A run without its end is still going if it is the newest; an older one's end was not kept.
  const status = r.status ?? (latest && !r.finishedAt ? "running" : undefined);
  const inputs = Object.entries(r.inputs ?? {});
  return (
    <div className="history-run" data-execution={r.executionId} data-status={status ?? "unknown"}>
      <div className="table-head">
        <h3>
          {latest ? "Latest run" : "Earlier run"} {status && <StatusBadge status={status} />}
        </h3>
        <span className="muted small" title={r.executionId}>
          {r.startedAt ? `started ${when(r.startedAt)}` : more ? "started before the events loaded (load older)" : "start not kept"}
          {r.finishedAt ? `, ended ${when(r.finishedAt)}` : ""}
          {r.startedAt && r.finishedAt ? ` · ${duration(r.startedAt, r.finishedAt)}` : ""} · {plural(r.events.length, "event")}
        </span>
      </div>
      {inputs.length > 0 && (
        <dl className="meta small">
          {inputs.map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </div>
          ))}
        </dl>
      )}
      <ol className="activity history-events">
        {r.events.map((e) => (
          <Event key={e.id} e={e} />
        ))}
      </ol>
    </div>
  );
}

function Event({ e }: { e: HistoryEvent }) {
  const meta = Object.entries(e.metadata ?? {});
  const error = isErrorEvent(e);
  return (
    <li className={error ? "error" : undefined} data-kind={e.kind} data-step={e.stepName}>
      <time className="muted small" dateTime={e.at}>
        {when(e.at)}
      </time>
      <span className="what">{eventLabel(e, false)}</span>
      {meta.length > 0 && (
        <dl className="meta small">
          {meta.map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>
                <Linkified text={v} />
              </dd>
            </div>
          ))}
        </dl>
      )}
    </li>
  );
}
