import { afterEach, describe, expect, it, vi } from "vitest";
import { screen } from "@testing-library/react";
import { ApiError } from "./api/client";
import {
  chartData,
  fetchInsights,
  formatSeconds,
  mostFailingSteps,
  percent,
  perDay,
  projection,
  slowestSteps,
  type Insights,
  type StepInsight,
} from "./insights";
import { fakeDrover, renderAt } from "./test/fake";

function step(stepName: string, extra: Partial<StepInsight> = {}): StepInsight {
  return { stepName, finished: 10, succeeded: 10, failed: 0, retried: 0, failureRate: 0, retryRate: 0, waitingOnPeopleSeconds: 0, ...extra };
}

function insights(extra: Partial<Insights> = {}): Insights {
  return {
    migrationId: "m1",
    since: "2026-11-01T00:00:00Z",
    generatedAt: "2026-12-02T12:00:00Z",
    total: 10,
    remaining: 8,
    completed: 2,
    completedPerDay: 1,
    projectedCompletion: "2026-12-10T12:00:00Z",
    steps: [step("open-pr", { p50Seconds: 30, p95Seconds: 90, maxSeconds: 120 }), step("review", { failed: 2, failureRate: 0.2, retried: 1, retryRate: 0.1, waitingOnPeopleSeconds: 7500 })],
    days: [
      { day: "2026-12-01", started: 3, completed: 1, failed: 0, remaining: 9 },
      { day: "2026-12-02", started: 1, completed: 1, failed: 2, remaining: 8 },
    ],
    recentFailures: [{ id: "7", at: "2026-12-02T11:00:00Z", kind: "failed", executionId: "e1", candidateId: "repo-a", stepName: "review", error: "build is red" }],
    ...extra,
  };
}

describe("formatSeconds", () => {
  it("reads like a person says a duration", () => {
    expect(formatSeconds(45)).toBe("45s");
    expect(formatSeconds(60)).toBe("1m");
    expect(formatSeconds(750)).toBe("12m 30s");
    expect(formatSeconds(2 * 3600 + 5 * 60)).toBe("2h 5m");
    expect(formatSeconds(3600)).toBe("1h");
    expect(formatSeconds(3 * 86400 + 4 * 3600)).toBe("3d 4h");
    expect(formatSeconds(0.4)).toBe("0s");
  });
  it("says nothing is known for no value", () => {
    expect(formatSeconds(undefined)).toBe("—");
    expect(formatSeconds(Number.NaN)).toBe("—");
  });
});

describe("rates", () => {
  it("formats percentages and per-day rates", () => {
    expect(percent(0)).toBe("0%");
    expect(percent(0.005)).toBe("0.5%");
    expect(percent(0.123)).toBe("12%");
    expect(perDay(1)).toBe("1.0/day");
    expect(perDay(0.05)).toBe("0.05/day");
    expect(perDay(12.4)).toBe("12/day");
    expect(perDay(0)).toBe("0/day");
  });
});

describe("standout steps", () => {
  const steps = [
    step("a", { p95Seconds: 10, maxSeconds: 20 }),
    step("b", { p95Seconds: 300 }),
    step("c"),
    step("d", { p95Seconds: 10, maxSeconds: 50, failed: 1, failureRate: 0.1 }),
    step("e", { failed: 4, failureRate: 0.4 }),
    step("f", { failed: 2, failureRate: 0.4 }),
  ];
  it("sorts the slowest by p95, then max, leaving out steps without a duration", () => {
    expect(slowestSteps(steps).map((s) => s.stepName)).toEqual(["b", "d", "a"]);
    expect(slowestSteps(steps, 1).map((s) => s.stepName)).toEqual(["b"]);
  });
  it("sorts the most failing by rate, then failures, leaving out steps that never failed", () => {
    expect(mostFailingSteps(steps, 5).map((s) => s.stepName)).toEqual(["e", "f", "d"]);
  });
  it("does not reorder its input", () => {
    slowestSteps(steps);
    expect(steps.map((s) => s.stepName)).toEqual(["a", "b", "c", "d", "e", "f"]);
  });
});

describe("projection", () => {
  const now = Date.parse("2026-12-02T12:00:00Z");
  it("says when the rest is done at the recent rate", () => {
    expect(projection(insights(), now, "UTC")).toBe("done in ~8 days (Dec 10) at 1.0/day");
    expect(projection(insights({ projectedCompletion: "2026-12-02T20:00:00Z" }), now, "UTC")).toBe("done in ~1 day (Dec 2) at 1.0/day");
  });
  it("says there is nothing to project from without recent completions", () => {
    expect(projection(insights({ completedPerDay: 0, projectedCompletion: undefined }), now)).toBe("no completions in the last 7 days");
    expect(projection(insights({ completedPerDay: undefined }), now)).toBe("no completions in the last 7 days");
  });
  it("says when all is done or there is nothing", () => {
    expect(projection(insights({ remaining: 0 }), now)).toBe("all candidates completed");
    expect(projection(insights({ total: 0, remaining: 0 }), now)).toBe("no candidates yet");
  });
});

describe("chartData", () => {
  it("puts each UTC day at its midnight with remaining and completed", () => {
    const [x, remaining, completed] = chartData(insights().days);
    expect(x).toEqual([Date.parse("2026-12-01T00:00:00Z") / 1000, Date.parse("2026-12-02T00:00:00Z") / 1000]);
    expect(remaining).toEqual([9, 8]);
    expect(completed).toEqual([1, 1]);
  });
});

// fakeDrover's fetch records calls and answers from a routing function; fetchInsights takes it directly.
function fakeFetch(route: Parameters<typeof fakeDrover>[0]) {
  const calls: { path: string; query: URLSearchParams }[] = [];
  const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const req = input instanceof Request ? input : new Request(input, init);
    const url = new URL(req.url);
    const call = { method: req.method, path: url.pathname, query: url.searchParams, body: undefined };
    calls.push(call);
    const r = route(call) ?? { status: 404, body: { error: "not found" } };
    return new Response(r.body === undefined ? null : JSON.stringify(r.body), { status: r.status ?? 200, headers: { "Content-Type": "application/json" } });
  };
  return { calls, fetchImpl: fetchImpl as typeof fetch };
}

describe("fetchInsights", () => {
  it("asks for the migration's insights over the given days", async () => {
    const { calls, fetchImpl } = fakeFetch(() => ({ body: insights() }));
    const ins = await fetchInsights("m 1", 14, { baseUrl: "http://drover.test", fetchImpl });
    expect(ins.remaining).toBe(8);
    expect(calls[0].path).toBe("/migrations/m%201/insights");
    expect(calls[0].query.get("days")).toBe("14");
  });
  it("turns an error answer into an ApiError with the server's message", async () => {
    const { fetchImpl } = fakeFetch(() => ({ status: 400, body: { error: "days must be 1 to 365", field: "days" } }));
    const err = await fetchInsights("m1", 0, { baseUrl: "http://drover.test", fetchImpl }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(400);
    expect(err.field).toBe("days");
  });
});

describe("InsightsPage", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("shows the headline, the steps, the standouts and links failures to their candidate", async () => {
    const { fetchImpl } = fakeFetch((call) => (call.path === "/migrations/m1/insights" ? { body: insights() } : { body: {} }));
    vi.stubGlobal("fetch", fetchImpl);
    const { api } = fakeDrover((call) => {
      if (call.path === "/readyz") return { body: { status: "ready", checks: { store: "ok", temporal: "ok" } } };
      if (call.path === "/auth/me") return { body: { actor: "ana", role: "viewer" } };
      if (call.path === "/migrations") return { body: { migrations: [] } };
      return undefined;
    });
    renderAt("/migrations/m1/insights", api);
    expect(await screen.findByText("8 of 10 remaining")).toBeInTheDocument();
    expect(screen.getByText(/at 1\.0\/day/)).toBeInTheDocument();
    expect(screen.getByRole("table", { name: "Steps" })).toHaveTextContent("2h 5m");
    expect(screen.getByRole("link", { name: "repo-a" })).toHaveAttribute("href", "/migrations/m1/candidates/repo-a");
    expect(screen.getByText("build is red")).toBeInTheDocument();
  });
});
