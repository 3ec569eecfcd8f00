import type { CandidateQuery, Rollout, RolloutPreview, RolloutRequest, RolloutStatus, RolloutWindow, Schemas } from "./api/client";
import { eligibleQuery } from "./bulk";
import { plural, when } from "./format";

export type Day = NonNullable<RolloutWindow["days"]>[number];
export const days: { id: Day; label: string }[] = [
  { id: "mon", label: "Mon" },
  { id: "tue", label: "Tue" },
  { id: "wed", label: "Wed" },
  { id: "thu", label: "Thu" },
  { id: "fri", label: "Fri" },
  { id: "sat", label: "Sat" },
  { id: "sun", label: "Sun" },
];

/** RolloutSource is which candidates a rollout takes: ids picked in the table, the table's filter, or every not_started one. */
export type RolloutSource = { kind: "ids"; ids: string[] } | { kind: "filter"; filter: Schemas["RolloutFilter"] } | { kind: "every" };

/**
 * sourceFor is the rollout of a table's selection: the not_started candidates among the rows
 * picked, or, when every matching candidate is selected (rows is null), the table's filter. It is
 * null when the filter cannot match a not_started candidate.
 */
export function sourceFor(rows: { id: string; status: string }[] | null, filter: CandidateQuery): RolloutSource | null {
  if (rows) return { kind: "ids", ids: rows.filter((c) => c.status === "not_started").map((c) => c.id) };
  const q = eligibleQuery("start", filter);
  if (!q) return null;
  return q.q ? { kind: "filter", filter: { status: "not_started", q: q.q } } : { kind: "every" };
}

/** sourceText names a rollout's candidates before the server has counted them. */
export function sourceText(s: RolloutSource): string {
  switch (s.kind) {
    case "ids":
      return s.ids.length === 1 ? "the selected candidate" : `the ${s.ids.length.toLocaleString()} selected candidates`;
    case "filter":
      return `every not-started candidate matching “${s.filter.q ?? ""}”`;
    case "every":
      return "every not-started candidate";
  }
}

/** RolloutForm is the create dialog's fields as typed. */
export type RolloutForm = {
  waves: string;
  approveWaves: boolean;
  maxConcurrent: string;
  failedHoldsSlot: boolean;
  rate: string;
  rateUnit: "minute" | "hour";
  windowOn: boolean;
  days: Day[];
  start: string;
  end: string;
  timeZone: string;
  pauseAfterFailures: string;
  /** a percentage of the finished runs, 0 to 100 */
  pauseAtFailureRate: string;
  minFinished: string;
  inputs: Record<string, string>;
};

/** browserTimeZone is the IANA time zone the browser runs in, UTC when it cannot tell. */
export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

export function defaultForm(timeZone = browserTimeZone()): RolloutForm {
  return {
    waves: "",
    approveWaves: false,
    maxConcurrent: "",
    failedHoldsSlot: false,
    rate: "",
    rateUnit: "minute",
    windowOn: false,
    days: ["mon", "tue", "wed", "thu", "fri"],
    start: "09:00",
    end: "17:00",
    timeZone,
    pauseAfterFailures: "",
    pauseAtFailureRate: "",
    minFinished: "",
    inputs: {},
  };
}

export const maxWaves = 20;

/** parseWaves reads wave sizes typed as "1, 5, 25" (commas or spaces); empty is one wave of every candidate. */
export function parseWaves(text: string): { waves: number[] } | { error: string } {
  const parts = text
    .split(/[\s,;]+/)
    .map((p) => p.trim())
    .filter(Boolean);
  const waves: number[] = [];
  for (const p of parts) {
    if (!/^\d+$/.test(p)) return { error: `“${p}” is not a wave size: give whole numbers such as 1, 5, 25` };
    const n = Number(p);
    if (n < 1) return { error: "a wave has at least one candidate" };
    waves.push(n);
  }
  if (waves.length > maxWaves) return { error: `${waves.length} waves; at most ${maxWaves} (the rest is the last wave)` };
  return { waves };
}

/** count reads an optional whole number: undefined when empty or 0 (no limit), else the number or an error. */
function count(text: string, max: number): number | undefined | { error: string } {
  const t = text.trim();
  if (t === "") return undefined;
  if (!/^\d+$/.test(t)) return { error: `“${t}” is not a whole number` };
  const n = Number(t);
  if (n > max) return { error: `at most ${max.toLocaleString()}` };
  return n === 0 ? undefined : n;
}

export type FieldErrors = Record<string, string>;

/**
 * buildRequest turns the dialog's fields into the rollout request for source, or says which
 * fields are wrong (keyed like fieldKey's answers).
 */
export function buildRequest(source: RolloutSource, f: RolloutForm): { request: RolloutRequest } | { errors: FieldErrors } {
  const errors: FieldErrors = {};
  const req: RolloutRequest = {};
  // No ids would mean every not_started candidate to the server: an empty selection starts nothing.
  if (source.kind === "ids" && source.ids.length === 0) errors.candidates = "none of the selected candidates is not started";
  if (source.kind === "ids") req.candidateIds = source.ids;
  if (source.kind === "filter") req.filter = source.filter;

  const w = parseWaves(f.waves);
  if ("error" in w) errors.waves = w.error;
  else if (w.waves.length) req.waves = w.waves;
  if (f.approveWaves) req.approveWaves = true;

  const take = (key: string, text: string, max: number): number | undefined => {
    const v = count(text, max);
    if (typeof v === "object") {
      errors[key] = v.error;
      return undefined;
    }
    return v;
  };
  const mc = take("maxConcurrent", f.maxConcurrent, 100_000);
  if (mc) req.maxConcurrent = mc;
  if (f.failedHoldsSlot) req.failedHoldsSlot = true;

  const rate = take("rate", f.rate, f.rateUnit === "minute" ? 60 : 3600);
  if (rate && f.rateUnit === "minute") req.startsPerMinute = rate;
  if (rate && f.rateUnit === "hour") req.startsPerHour = rate;

  if (f.windowOn) {
    const clock = /^[0-2]\d:[0-5]\d$/;
    if (f.days.length === 0) errors["window.days"] = "pick at least one day";
    if (!clock.test(f.start)) errors["window.start"] = "a time of day such as 09:00";
    if (!clock.test(f.end)) errors["window.end"] = "a time of day such as 17:00";
    else if (f.end === f.start) errors["window.end"] = "equals the start: the window would never close";
    if (!f.timeZone.trim()) errors["window.timeZone"] = "a time zone such as Europe/Berlin or UTC";
    const order = days.map((d) => d.id);
    const picked = [...f.days].sort((a, b) => order.indexOf(a) - order.indexOf(b));
    req.window = { start: f.start, end: f.end, timeZone: f.timeZone.trim(), ...(picked.length < 7 ? { days: picked } : {}) };
  }

  const paf = take("pauseAfterFailures", f.pauseAfterFailures, 1_000_000);
  if (paf) req.pauseAfterFailures = paf;
  const pct = f.pauseAtFailureRate.trim();
  if (pct !== "") {
    const n = Number(pct);
    if (!Number.isFinite(n) || n < 0 || n > 100) errors.pauseAtFailureRate = "a percentage from 0 to 100";
    else if (n > 0) {
      req.pauseAtFailureRate = Math.round(n * 100) / 10000;
      const mf = take("minFinished", f.minFinished, 1_000_000);
      if (mf) req.minFinished = mf;
    }
  }

  const inputs = Object.fromEntries(
    Object.entries(f.inputs)
      .map(([k, v]) => [k, v.trim()])
      .filter(([, v]) => v !== ""),
  );
  if (Object.keys(inputs).length) req.inputs = inputs;
  return Object.keys(errors).length ? { errors } : { request: req };
}

/**
 * fieldKey is where the dialog shows the server's error about field (a JSON path such as
 * `waves[1]` or `window.timeZone`): "candidates" for the candidate set, "rate" for either rate,
 * "" for none in particular.
 */
export function fieldKey(field: string | undefined): string {
  if (!field) return "";
  if (/^(candidateIds|filter)\b/.test(field)) return "candidates";
  if (/^waves\b/.test(field)) return "waves";
  if (field === "startsPerMinute" || field === "startsPerHour") return "rate";
  if (/^window\.days\b/.test(field)) return "window.days";
  return field;
}

/** withoutField drops the "field: " that the server's messages begin with, for a message shown beside that field. */
export function withoutField(message: string, field: string | undefined): string {
  if (!field) return message;
  for (const p of [`${field}: `, `field "${field}": `]) if (message.startsWith(p)) return message.slice(p.length);
  return message;
}

/** roughly says how long ms is, the way one estimates: "under a minute", "about 25 min", "about 3 h 20 min", "about 2 days 4 h". */
export function roughly(ms: number): string {
  const min = Math.round(ms / 60_000);
  if (min < 1) return "under a minute";
  if (min < 60) return `about ${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `about ${h} h${min % 60 ? ` ${min % 60} min` : ""}`;
  const d = Math.floor(h / 24);
  return `about ${d} days${h % 24 ? ` ${h % 24} h` : ""}`;
}

/** soon says how far ahead an ISO time is: "in 40 s", "in 3 min", "in about 2 h"; "now" once past. */
export function soon(iso: string | undefined, now: number = Date.now()): string {
  if (!iso) return "";
  const ms = Date.parse(iso) - now;
  if (Number.isNaN(ms)) return "";
  if (ms <= 1000) return "now";
  if (ms < 60_000) return `in ${Math.round(ms / 1000)} s`;
  if (ms < 3_600_000) return `in ${Math.round(ms / 60_000)} min`;
  return `in ${roughly(ms)}`;
}

/** rateText is a start rate for people: "1 start a minute", "30 starts an hour"; "" without one. */
export function rateText(perMinute?: number, perHour?: number): string {
  if (perMinute) return `${plural(perMinute, "start")} a minute`;
  if (perHour) return `${plural(perHour, "start")} an hour`;
  return "";
}

/** daysText names a window's days: "every day", "Mon–Fri", "Mon, Wed, Fri". */
export function daysText(ds: Day[] | undefined): string {
  if (!ds || ds.length === 0 || ds.length === 7) return "every day";
  const order = days.map((d) => d.id);
  const idx = [...new Set(ds.map((d) => order.indexOf(d)))].sort((a, b) => a - b);
  const label = (i: number) => days[i].label;
  if (idx.length >= 3 && idx[idx.length - 1] - idx[0] === idx.length - 1) return `${label(idx[0])}–${label(idx[idx.length - 1])}`;
  return idx.map(label).join(", ");
}

/** windowText is a time window for people: "Mon–Fri 09:00–17:00 (Europe/Berlin)". */
export function windowText(w: RolloutWindow | undefined): string {
  if (!w) return "";
  const overnight = w.end <= w.start ? ", past midnight" : "";
  return `${daysText(w.days)} ${w.start}–${w.end} (${w.timeZone}${overnight})`;
}

/** wavesText is wave sizes for people: "1, then 5, then 22", or "one wave of 28". */
export function wavesText(sizes: number[]): string {
  if (sizes.length <= 1) return `one wave of ${(sizes[0] ?? 0).toLocaleString()}`;
  return sizes.map((n) => n.toLocaleString()).join(", then ");
}

export type Plan = Pick<
  Rollout,
  "maxConcurrent" | "failedHoldsSlot" | "approveWaves" | "startsPerMinute" | "startsPerHour" | "window" | "pauseAfterFailures" | "pauseAtFailureRate" | "minFinished" | "inputs"
>;

/** planLines is a rollout's plan as label and value pairs, the same before it starts (a request) and after (a rollout). */
export function planLines(p: Plan, waveSizes: number[]): [string, string][] {
  const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;
  const pause: string[] = [];
  if (p.pauseAfterFailures) pause.push(`after ${plural(p.pauseAfterFailures, "failed run")}`);
  if (p.pauseAtFailureRate) pause.push(`once ${pct(p.pauseAtFailureRate)} of its finished runs have failed (from ${plural(p.minFinished || 5, "finished run")} on)`);
  const lines: [string, string][] = [
    ["Waves", wavesText(waveSizes) + (p.approveWaves && waveSizes.length > 1 ? "; each wave after the first waits for an approval" : "")],
    [
      "At once",
      p.maxConcurrent
        ? `at most ${plural(p.maxConcurrent, "run")} open; a run with a failed step ${p.failedHoldsSlot ? "keeps" : "frees"} its slot`
        : "no limit",
    ],
    ["Start rate", rateText(p.startsPerMinute, p.startsPerHour) || "no limit"],
    ["Window", windowText(p.window) || "any time"],
    ["Pauses itself", pause.length ? pause.join(", or ") : "never (only when an operator pauses it)"],
  ];
  const inputs = Object.entries(p.inputs ?? {});
  if (inputs.length) lines.push(["Inputs", inputs.map(([k, v]) => `${k} = ${v}`).join(", ")]);
  return lines;
}

/**
 * estimateText says how long a previewed rollout's starts take at its rate and in its window, from
 * the server's lastStartBy: the earliest its last start can be. Waves and maxConcurrent wait for
 * runs to finish, which no one can know beforehand, so they only make it longer.
 */
export function estimateText(preview: RolloutPreview, plan: Plan, now: number = Date.now()): string {
  const n = preview.total;
  const rate = rateText(plan.startsPerMinute, plan.startsPerHour);
  const limits = [rate && `at ${rate}`, plan.window && "within its window"].filter(Boolean).join(" and ");
  const lead = limits ? `${limits[0].toUpperCase()}${limits.slice(1)}, the` : "The";
  const later = "Waves and the max concurrent runs can only make it longer: they wait for runs to finish.";
  if (!preview.lastStartBy) {
    if (limits) return `${lead} ${plural(n, "start")} have no estimate from Drover. ${later}`;
    return `No start rate and no window: nothing holds the ${plural(n, "start")} back but the waves and the max concurrent runs, so how long it takes depends on how long its runs take.`;
  }
  const ms = Date.parse(preview.lastStartBy) - now;
  const what = n === 1 ? "start" : `last of the ${plural(n, "start")}`;
  if (ms < 60_000) return `${lead} ${what} can happen right away. ${later}`;
  return `${lead} ${what} is no earlier than ${when(preview.lastStartBy)}, ${roughly(ms)} from now. ${later}`;
}

/** rolloutEnded says whether a rollout has stopped for good (it takes no more commands). */
export function rolloutEnded(status: RolloutStatus): boolean {
  return status === "completed" || status === "cancelled";
}

/**
 * pausedText says why a rollout paused: a threshold's reason ("1 run failed (pauseAfterFailures
 * 1)") or an operator's, which already begins "paused by …".
 */
export function pausedText(reason: string): string {
  if (/^paused\b/i.test(reason)) return reason[0].toUpperCase() + reason.slice(1);
  return `Paused: ${reason}`;
}

/** waitText says what a rollout is doing or waiting for, in a sentence. */
export function waitText(r: Rollout, now: number = Date.now()): string {
  if (r.status === "completed") {
    const extra = [r.skipped ? `${r.skipped} skipped (started by someone else)` : "", r.cancelled ? `${r.cancelled} cancelled` : ""].filter(Boolean);
    return `Done: ${plural(r.completed, "candidate")} completed${extra.length ? `, ${extra.join(", ")}` : ""}.`;
  }
  if (r.status === "cancelled") return "Cancelled: it starts nothing more.";
  const wave = (r.wave ?? 0) + 1;
  const open = r.running + (r.failedHoldsSlot ? r.failed : 0);
  switch (r.waitingFor) {
    case "slot":
      return `Waiting for a free slot: ${open} of at most ${plural(r.maxConcurrent ?? 0, "run")} are open.`;
    case "wave":
      return `Waiting for the runs of wave ${wave - 1} to complete before it starts wave ${wave}.`;
    case "approval":
      return `Waiting for an operator to approve wave ${wave} of ${r.waves.length}.`;
    case "window":
      return `Outside its window (${windowText(r.window)}): it opens ${when(r.until)}${r.until ? ` (${soon(r.until, now)})` : ""}.`;
    case "rate":
      return `Pacing its starts at ${rateText(r.startsPerMinute, r.startsPerHour)}: the next start is ${soon(r.until, now) || "soon"}.`;
    case "resume":
      return `It starts nothing until it is resumed; its open runs go on.${
        r.failed ? ` ${plural(r.failed, "run has", "runs have")} a failed step: retry ${r.failed === 1 ? "it" : "them"} (Retry failed) or cancel ${r.failed === 1 ? "it" : "them"}, then resume.` : ""
      }`;
    case "runs": {
      const left = r.running + r.failed;
      if (left === 0) return "Every candidate is started; finishing.";
      return `Every candidate is started; waiting for its ${plural(left, "open run")} to finish${r.failed ? ` (${r.failed} with a failed step: retry or cancel them)` : ""}.`;
    }
  }
  return "Starting candidates.";
}
