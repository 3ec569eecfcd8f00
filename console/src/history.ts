import type { HistoryEvent, RunStatus } from "./api/client";

/** HistoryRun is one run of a candidate (one executionId) as its history tells it. */
export type HistoryRun = {
  executionId: string;
  /** When the run started (its run_started); undefined while that event is on a page not loaded yet. */
  startedAt?: string;
  /** When the run finished (its run_finished), with the status it finished with. */
  finishedAt?: string;
  status?: RunStatus;
  /** The operator inputs the run started with. */
  inputs?: Record<string, string>;
  /** The run's events, oldest first. */
  events: HistoryEvent[];
};

/**
 * compareIds orders event ids ("123" or "123-4"), oldest first: they increase with every event
 * of the candidate, part by part, as numbers (so "10" comes after "9").
 */
export function compareIds(a: string, b: string): number {
  const pa = a.split("-");
  const pb = b.split("-");
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? "";
    const y = pb[i] ?? "";
    if (x.length !== y.length) return x.length - y.length;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/**
 * groupRuns groups a candidate's history (the events of the pages loaded so far, in any order)
 * into its runs: the newest run first, each with its events oldest first. An event seen twice
 * (a page that shifted between two reads) counts once.
 */
export function groupRuns(events: HistoryEvent[]): HistoryRun[] {
  const seen = new Set<string>();
  const byRun = new Map<string, HistoryEvent[]>();
  for (const e of events) {
    if (seen.has(e.id)) continue;
    seen.add(e.id);
    const list = byRun.get(e.executionId);
    if (list) list.push(e);
    else byRun.set(e.executionId, [e]);
  }
  const runs: HistoryRun[] = [];
  for (const [executionId, list] of byRun) {
    list.sort((a, b) => compareIds(a.id, b.id));
    const run: HistoryRun = { executionId, events: list };
    for (const e of list) {
      if (e.kind === "run_started") {
        run.startedAt = e.at;
        run.inputs = e.inputs;
      } else if (e.kind === "run_finished") {
        run.finishedAt = e.at;
        run.status = e.runStatus;
      }
    }
    runs.push(run);
  }
  const last = (r: HistoryRun) => r.events[r.events.length - 1].id;
  return runs.sort((a, b) => compareIds(last(b), last(a)));
}

/** metadataText is the keys an event set, "k=v, k=v", in key order. */
export function metadataText(metadata: Record<string, string> | undefined): string {
  return Object.entries(metadata ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}

const runStatusWords: Record<RunStatus, string> = { running: "running", completed: "completed", cancelled: "cancelled" };

/**
 * eventLabel says what happened in a few words, e.g. "open-pr dispatched (try 2)",
 * "open-pr failed: CI is red", "run cancelled", "open-pr pending: prUrl=…". With
 * withMetadata false it leaves the metadata out (for a page that shows it beside the label).
 */
export function eventLabel(e: HistoryEvent, withMetadata = true): string {
  const step = e.stepName ?? "a step";
  const tryNote = e.try !== undefined && e.try > 1 ? ` (try ${e.try})` : "";
  let text: string;
  let hasError = false;
  switch (e.kind) {
    case "run_started":
      text = "run started";
      break;
    case "run_finished":
      text = e.runStatus ? `run ${runStatusWords[e.runStatus] ?? e.runStatus}` : "run finished";
      break;
    case "dispatched":
      text = `${step} dispatched${tryNote}`;
      break;
    case "dispatch_failed":
      text = `${step} dispatch${e.attempt !== undefined ? ` attempt ${e.attempt}` : ""} did not reach the migrator${tryNote}`;
      if (e.error) text += `: ${e.error}`;
      hasError = true;
      break;
    case "acknowledged":
      text = `${step} accepted by the migrator${tryNote}`;
      break;
    case "redelivered":
      text = `${step} delivered again${tryNote}`;
      break;
    case "pending":
      text = `${step} pending${tryNote}`;
      break;
    case "silent":
      text = `${step} silent: no callback within its timeout${tryNote}`;
      break;
    case "overdue":
      text = `${step} overdue: pending longer than its timeout${tryNote}`;
      break;
    case "succeeded":
      text = `${step} succeeded${tryNote}`;
      break;
    case "merged":
      text = `${step} merged${tryNote}`;
      break;
    case "failed":
      text = `${step} failed${tryNote}${e.error ? `: ${e.error}` : ""}`;
      hasError = true;
      break;
    case "retried":
      text = `${step} retried${tryNote}`;
      break;
    case "cancelled":
      text = e.stepName ? `run cancelled during ${e.stepName}` : "run cancelled";
      break;
    default:
      text = `${e.stepName ? `${e.stepName} ` : ""}${String(e.kind).replace(/_/g, " ")}`;
  }
  if (e.error && !hasError) text += `: ${e.error}`;
  const meta = withMetadata ? metadataText(e.metadata) : "";
  if (meta) text += `${e.error ? " · " : ": "}${meta}`;
  return text;
}

/** isErrorEvent says whether an event reports something that went wrong (shown as an error). */
export function isErrorEvent(e: HistoryEvent): boolean {
  return e.kind === "failed" || e.kind === "dispatch_failed" || Boolean(e.error);
}
