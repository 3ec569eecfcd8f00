import type { Api, Candidate, CandidateQuery } from "./api/client";
import { describe } from "./api/client";

export type BulkKind = "start" | "cancel";
export type BulkOutcome = { done: number; failed: { id: string; reason: string }[]; skipped: number };

/** eligible says whether a bulk action applies to a candidate in its current status. */
export function eligible(kind: BulkKind, c: Candidate): boolean {
  return kind === "start" ? c.status === "not_started" : c.status === "running";
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

/** runBulk applies one action to many candidates, a few at a time, and reports every failure with its reason. */
export async function runBulk(
  api: Api,
  migrationId: string,
  kind: BulkKind,
  candidates: Candidate[],
  inputNames: string[],
  form: Record<string, string>,
  onProgress: (o: BulkOutcome) => void,
  concurrency = 8,
): Promise<BulkOutcome> {
  const todo = candidates.filter((c) => eligible(kind, c));
  const outcome: BulkOutcome = { done: 0, failed: [], skipped: candidates.length - todo.length };
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const c = todo[next++];
      try {
        if (kind === "start") await api.start(migrationId, c.id, inputsFor(inputNames, form, c));
        else await api.cancel(migrationId, c.id);
        outcome.done++;
      } catch (err) {
        outcome.failed.push({ id: c.id, reason: describe(err) });
      }
      onProgress({ ...outcome, failed: [...outcome.failed] });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, todo.length) }, worker));
  return outcome;
}
