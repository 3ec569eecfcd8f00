import type { Api, Candidate, CandidateQuery, CandidateStatus } from "./api/client";

export type BulkKind = "start" | "cancel";

/** needs is the status a candidate must have for a bulk action to apply to it. */
export function needs(kind: BulkKind): CandidateStatus {
  return kind === "start" ? "not_started" : "running";
}

/** eligible says whether a bulk action applies to a candidate in its current status. */
export function eligible(kind: BulkKind, c: Candidate): boolean {
  return c.status === needs(kind);
}

/** eligibleQuery narrows a filter to the candidates a bulk action applies to, or null when none can match. */
export function eligibleQuery(kind: BulkKind, q: CandidateQuery): CandidateQuery | null {
  if (q.status && q.status !== needs(kind)) return null;
  if (kind === "start" && q.attention) return null; // only running candidates need attention
  return { ...q, status: needs(kind), offset: undefined, limit: undefined };
}

/** collect pages through every candidate matching a filter, 1,000 at a time. */
export async function collect(api: Api, migrationId: string, q: CandidateQuery): Promise<Candidate[]> {
  const all: Candidate[] = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await api.listCandidates(migrationId, { ...q, offset, limit: 1000 });
    all.push(...page.items);
    if (page.items.length < 1000 || all.length >= page.total) return all;
  }
}

/**
 * cancelRuns asks Drover to cancel the runs of the running candidates among those picked, or of
 * every running candidate matching a filter (candidates is null), in one request: the server
 * carries the cancellations out, so closing the page stops nothing. It answers how many runs are
 * being cancelled, or 0 without asking when none of them runs.
 */
export async function cancelRuns(api: Api, migrationId: string, candidates: Candidate[] | null, filter: CandidateQuery): Promise<number> {
  let ids: string[];
  if (candidates) ids = candidates.filter((c) => eligible("cancel", c)).map((c) => c.id);
  else {
    const q = eligibleQuery("cancel", filter);
    ids = q ? (await collect(api, migrationId, q)).map((c) => c.id) : [];
  }
  if (ids.length === 0) return 0;
  return (await api.cancelRuns(migrationId, ids)).requested;
}
