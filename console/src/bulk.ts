import type { Api, Candidate, CandidateQuery, CandidateStatus } from "./api/client";
import { ApiError, describe } from "./api/client";

export type BulkKind = "start" | "cancel";
export type BulkOutcome = {
  done: number;
  /** cancels whose clean-up was still running when Drover answered */
  pending: number;
  failed: { id: string; reason: string }[];
  /** candidates the action did not apply to, as listed */
  skipped: number;
  /** candidates whose status had changed since they were listed (the server answered 409) */
  changed: number;
  stopped: boolean;
};

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

/** inputsFor fills each required input from the form, or else from the candidate's metadata of the same name. */
export function inputsFor(names: string[], form: Record<string, string>, c: Candidate): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = form[n]?.trim() || c.inputs?.[n] || c.metadata?.[n];
    if (v) out[n] = v;
  }
  return out;
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
 * runBulk applies one action to many candidates, a few at a time, and reports every failure with
 * its reason. A candidate whose status has changed since it was listed (the server answers 409)
 * is counted apart from the failures; signal stops it between candidates.
 */
export async function runBulk(
  api: Api,
  migrationId: string,
  kind: BulkKind,
  candidates: Candidate[],
  inputNames: string[],
  form: Record<string, string>,
  onProgress: (o: BulkOutcome) => void,
  signal?: AbortSignal,
  concurrency = 8,
): Promise<BulkOutcome> {
  const todo = candidates.filter((c) => eligible(kind, c));
  const outcome: BulkOutcome = { done: 0, pending: 0, failed: [], skipped: candidates.length - todo.length, changed: 0, stopped: false };
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      if (signal?.aborted) {
        outcome.stopped = true;
        return;
      }
      const c = todo[next++];
      try {
        if (kind === "start") await api.start(migrationId, c.id, inputsFor(inputNames, form, c));
        else if ((await api.cancel(migrationId, c.id)) === "pending") outcome.pending++;
        outcome.done++;
      } catch (err) {
        if (err instanceof ApiError && err.status === 409) outcome.changed++;
        else outcome.failed.push({ id: c.id, reason: describe(err) });
      }
      onProgress({ ...outcome });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, todo.length) }, worker));
  return outcome;
}
