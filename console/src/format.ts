/** ago says how long ago an ISO time was, the way a person reads a dashboard. */
export function ago(iso: string | undefined, now: number = Date.now()): string {
  if (!iso) return "";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const s = Math.round((now - t) / 1000);
  if (s < 5) return "just now";
  if (s < 60) return `${s}s ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.round(h / 24)} days ago`;
}

/** when is an ISO time as local date and time, for titles and timelines. */
export function when(iso: string | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleString();
}

/** duration between two ISO times (the second defaulting to now), e.g. "2m 05s". */
export function duration(from: string | undefined, to?: string, now: number = Date.now()): string {
  if (!from) return "";
  const ms = (to ? Date.parse(to) : now) - Date.parse(from);
  if (!(ms >= 0)) return "";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/** statusLabel names candidate, run and step statuses for people. */
export const statusLabel: Record<string, string> = {
  not_started: "Not started",
  running: "Running",
  completed: "Completed",
  cancelled: "Cancelled",
  in_progress: "In progress",
  pending: "Pending",
  succeeded: "Succeeded",
  merged: "Merged",
  failed: "Failed",
  upcoming: "Upcoming",
  // rollouts and their members
  paused: "Paused",
  waiting_for_window: "Waiting for its window",
  waiting_for_approval: "Waiting for approval",
  waiting: "Waiting",
  skipped: "Skipped",
};

/** attentionLabel says why a candidate needs an operator. */
export const attentionLabel: Record<string, string> = {
  failed: "Step failed",
  waiting: "Waiting for a person",
  retrying: "Migrator not answering",
  silent: "Silent",
  overdue: "Overdue",
};

/** timeAttention says whether an attention kind is about time: the step has waited too long. */
export function timeAttention(attention: string | undefined): attention is "silent" | "overdue" {
  return attention === "silent" || attention === "overdue";
}

/**
 * waitedFor is how long a silent or overdue step has waited, from since (RunSummary.waitingSince,
 * or the step's acknowledgedAt) to now, e.g. "for 12m 05s"; "" for other attention or no time.
 */
export function waitedFor(attention: string | undefined, since: string | undefined, now: number = Date.now()): string {
  if (!timeAttention(attention)) return "";
  const d = duration(since, undefined, now);
  return d ? `for ${d}` : "";
}

/** attentionHelp explains why a candidate needs an operator and what they can do about it. */
export function attentionHelp(attention: string, since?: string, now: number = Date.now()): string {
  const d = duration(since, undefined, now);
  switch (attention) {
    case "failed":
      return "A step failed: retry it or cancel the run.";
    case "waiting":
      return "A step waits for a person to mark it done or failed.";
    case "retrying":
      return "The migrator has not accepted the step's dispatch after 3 attempts; Drover keeps retrying.";
    case "silent":
      return `The migrator accepted the dispatch and has not called back ${d ? `for ${d}` : "within the step's timeout"}: retry it or mark it failed.`;
    case "overdue":
      return `The step has been pending ${d ? `for ${d}, ` : ""}longer than its timeout: retry it or mark it done or failed.`;
  }
  return "Needs attention";
}

/** plural says "1 candidate" or "3 candidates". */
export function plural(n: number, one: string, many = one + "s"): string {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

/**
 * httpUrl is the URL as a link target when it is an absolute http or https URL, else undefined
 * (javascript:, data:, file: and relative URLs are shown as text, never followed).
 */
export function httpUrl(url: string | undefined): string | undefined {
  if (!url) return undefined;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  return u.protocol === "http:" || u.protocol === "https:" ? u.href : undefined;
}
