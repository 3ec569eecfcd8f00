import createClient from "openapi-fetch";
import { ApiError, type Schemas } from "./api/client";
import type { paths } from "./api/schema.gen";

export type Insights = Schemas["Insights"];
export type StepInsight = Schemas["StepInsight"];
export type DayInsight = Schemas["DayInsight"];
export type InsightsOverview = Schemas["InsightsOverview"];
export type MigrationInsight = Schemas["MigrationInsight"];

export type InsightsOptions = { baseUrl?: string; fetchImpl?: typeof fetch };

/**
 * fetchInsights reads GET /migrations/{id}/insights?days=… (counts, rates and durations per step,
 * per-day burndown, the projection and recent failures). client.ts exports no generic request
 * helper, so this is a small typed read of its own; an error answer becomes an ApiError the same
 * way, so describe() and the login recheck treat it like any other request.
 */
export async function fetchInsights(migrationId: string, days = 30, opts: InsightsOptions = {}): Promise<Insights> {
  // A client per call takes the fetch of the moment (tests stub it); it is a plain GET, so it needs no CSRF token.
  // The API is at the console's origin (as makeApi("") in main.tsx); naming it keeps the URL absolute where Request needs one.
  const baseUrl = opts.baseUrl ?? (typeof location !== "undefined" ? location.origin : "");
  const c = createClient<paths>({ baseUrl, fetch: opts.fetchImpl, headers: { "Content-Type": "application/json" } });
  const { data, error, response } = await c.GET("/migrations/{migrationId}/insights", { params: { path: { migrationId }, query: { days } } });
  if (response.ok && data) return data;
  const body = (error ?? {}) as { error?: string; field?: string };
  const message = typeof body.error === "string" && body.error !== "" ? body.error : `${response.status} ${response.statusText}`;
  throw new ApiError(response.status, message, body.field);
}

/** fetchOverview reads GET /insights?days=…: every migration's counts, rate and projected completion, summed and one by one. */
export async function fetchOverview(days = 7, opts: InsightsOptions = {}): Promise<InsightsOverview> {
  const baseUrl = opts.baseUrl ?? (typeof location !== "undefined" ? location.origin : "");
  const c = createClient<paths>({ baseUrl, fetch: opts.fetchImpl, headers: { "Content-Type": "application/json" } });
  const { data, error, response } = await c.GET("/insights", { params: { query: { days } } });
  if (response.ok && data) return data;
  const body = (error ?? {}) as { error?: string; field?: string };
  const message = typeof body.error === "string" && body.error !== "" ? body.error : `${response.status} ${response.statusText}`;
  throw new ApiError(response.status, message, body.field);
}

/** seconds as a person reads a duration: "45s", "12m 30s", "2h 5m", "3d 4h" (the smaller part left out when 0). */
export function formatSeconds(sec: number | undefined): string {
  if (sec === undefined || !Number.isFinite(sec) || sec < 0) return "—";
  const s = Math.round(sec);
  if (s < 60) return `${s}s`;
  const two = (big: number, bigUnit: string, small: number, smallUnit: string) => (small ? `${big}${bigUnit} ${small}${smallUnit}` : `${big}${bigUnit}`);
  if (s < 3600) return two(Math.floor(s / 60), "m", s % 60, "s");
  const m = Math.round(s / 60);
  if (m < 24 * 60) return two(Math.floor(m / 60), "h", m % 60, "m");
  const h = Math.round(m / 60);
  return two(Math.floor(h / 24), "d", h % 24, "h");
}

/** percent of a 0..1 rate: "0%", "0.5%", "12%". */
export function percent(rate: number): string {
  if (!Number.isFinite(rate) || rate <= 0) return "0%";
  const p = rate * 100;
  return p < 1 ? `${p.toFixed(1)}%` : `${Math.round(p)}%`;
}

/** perDay is a completion rate: "1.0/day", "12/day", "0.14/day". */
export function perDay(rate: number): string {
  if (!Number.isFinite(rate) || rate <= 0) return "0/day";
  if (rate >= 10) return `${Math.round(rate)}/day`;
  if (rate < 0.1) return `${rate.toFixed(2)}/day`;
  return `${rate.toFixed(1)}/day`;
}

/** slowestSteps are the steps with a p95 duration, slowest first (ties by max), at most n. */
export function slowestSteps(steps: StepInsight[], n = 3): StepInsight[] {
  return steps
    .filter((s) => s.p95Seconds !== undefined && s.p95Seconds > 0)
    .sort((a, b) => b.p95Seconds! - a.p95Seconds! || (b.maxSeconds ?? 0) - (a.maxSeconds ?? 0) || a.stepName.localeCompare(b.stepName))
    .slice(0, n);
}

/** mostFailingSteps are the steps that failed at least once, highest failure rate first (ties by failures), at most n. */
export function mostFailingSteps(steps: StepInsight[], n = 3): StepInsight[] {
  return steps
    .filter((s) => s.failed > 0)
    .sort((a, b) => b.failureRate - a.failureRate || b.failed - a.failed || a.stepName.localeCompare(b.stepName))
    .slice(0, n);
}

const DAY = 86_400_000;

/**
 * projection says when the migration is done at its recent rate, e.g. "done in ~8 days (Dec 10)
 * at 1.0/day", or "no completions in the last 7 days" when there is no rate to project from.
 * timeZone is for tests; the page shows the person's own.
 */
export function projection(ins: Pick<Insights, "remaining" | "total" | "completedPerDay" | "projectedCompletion">, now = Date.now(), timeZone?: string): string {
  if (ins.total === 0) return "no candidates yet";
  if (ins.remaining === 0) return "all candidates completed";
  const rate = ins.completedPerDay ?? 0;
  const at = ins.projectedCompletion ? Date.parse(ins.projectedCompletion) : NaN;
  if (!(rate > 0) || Number.isNaN(at)) return "no completions in the last 7 days";
  const days = Math.max(1, Math.ceil((at - now) / DAY));
  const date = new Date(at).toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone });
  return `done in ~${days} ${days === 1 ? "day" : "days"} (${date}) at ${perDay(rate)}`;
}

/** chartData is the burndown and throughput as uPlot's columns: day (unix seconds, UTC midnight), remaining, completed. */
export function chartData(days: DayInsight[]): [number[], number[], number[]] {
  return [days.map((d) => Date.parse(`${d.day}T00:00:00Z`) / 1000), days.map((d) => d.remaining), days.map((d) => d.completed)];
}
