import { describe, expect, it } from "vitest";
import type { Candidate } from "./api/client";
import { collect, eligibleQuery, inputsFor, runBulk } from "./bulk";
import { fakeDrover } from "./test/fake";

const cand = (id: string, status: Candidate["status"], metadata?: Record<string, string>): Candidate => ({ id, kind: "repo", status, metadata });

describe("bulk actions", () => {
  it("fills inputs from the form first, then from each candidate's metadata", () => {
    const c = cand("a", "not_started", { reviewer: "bo", team: "x" });
    expect(inputsFor(["reviewer"], { reviewer: " ana " }, c)).toEqual({ reviewer: "ana" });
    expect(inputsFor(["reviewer"], { reviewer: "" }, c)).toEqual({ reviewer: "bo" });
    expect(inputsFor(["reviewer", "ticket"], {}, cand("b", "not_started"))).toEqual({});
  });

  it("starts only not-started candidates, a few at a time, and reports each failure with its reason", async () => {
    let inFlight = 0;
    let peak = 0;
    const { api, calls } = fakeDrover((call) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      queueMicrotask(() => inFlight--);
      if (call.path.endsWith("/c3/start")) return { status: 400, body: { error: "required input reviewer is missing", field: "inputs.reviewer" } };
      return { status: 202, body: { status: "STARTED", runId: "x" } };
    });
    const cs = [cand("c1", "not_started", { reviewer: "a" }), cand("c2", "running"), cand("c3", "not_started"), cand("c4", "completed"), ...Array.from({ length: 10 }, (_, i) => cand(`n${i}`, "not_started", { reviewer: "r" }))];
    const seen: number[] = [];
    const out = await runBulk(api, "m", "start", cs, ["reviewer"], {}, (o) => seen.push(o.done + o.failed.length), undefined, 3);
    expect(out.done).toBe(11);
    expect(out.skipped).toBe(2);
    expect(out.failed).toEqual([{ id: "c3", reason: "required input reviewer is missing (inputs.reviewer)" }]);
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(12);
    expect(calls.find((c) => c.path.endsWith("/c1/start"))?.body).toEqual({ inputs: { reviewer: "a" } });
    expect(peak).toBeLessThanOrEqual(3);
    expect(seen[seen.length - 1]).toBe(12);
  });

  it("cancels only running candidates, and tells a finished cancel from one still cleaning up", async () => {
    const { api, calls } = fakeDrover((c) =>
      c.path.includes("/a/") ? { status: 204 } : c.path.includes("/c/") ? { status: 202 } : { status: 409, body: { error: "candidate d is not running" } },
    );
    const cs = [cand("a", "running"), cand("b", "not_started"), cand("c", "running"), cand("d", "running")];
    const out = await runBulk(api, "m", "cancel", cs, [], {}, () => {});
    expect(out).toEqual({ done: 2, pending: 1, failed: [], skipped: 1, changed: 1, stopped: false });
    expect(calls.map((c) => c.path).sort()).toEqual(["/migrations/m/candidates/a/cancel", "/migrations/m/candidates/c/cancel", "/migrations/m/candidates/d/cancel"]);
  });

  it("stops between candidates when asked", async () => {
    const stop = new AbortController();
    const { api, calls } = fakeDrover(() => {
      stop.abort();
      return { status: 202, body: { status: "STARTED", runId: "x" } };
    });
    const cs = Array.from({ length: 10 }, (_, i) => cand(`n${i}`, "not_started"));
    const out = await runBulk(api, "m", "start", cs, [], {}, () => {}, stop.signal, 1);
    expect(out.stopped).toBe(true);
    expect(out.done).toBe(1);
    expect(calls).toHaveLength(1);
  });

  it("narrows a filter to the candidates an action applies to", () => {
    expect(eligibleQuery("start", { q: "pay" })).toEqual({ q: "pay", status: "not_started", offset: undefined, limit: undefined });
    expect(eligibleQuery("cancel", { attention: true })).toMatchObject({ attention: true, status: "running" });
    expect(eligibleQuery("start", { status: "completed" })).toBeNull();
    expect(eligibleQuery("start", { attention: true })).toBeNull();
  });

  it("collects every candidate matching a filter, page by page", async () => {
    const all = Array.from({ length: 2500 }, (_, i) => cand(`c${String(i).padStart(4, "0")}`, "not_started"));
    const { api, calls } = fakeDrover((call) => {
      const off = Number(call.query.get("offset"));
      const lim = Number(call.query.get("limit"));
      return { body: all.slice(off, off + lim), headers: { "X-Total-Count": String(all.length) } };
    });
    const got = await collect(api, "m", { status: "not_started" });
    expect(got).toHaveLength(2500);
    expect(calls.map((c) => c.query.get("offset"))).toEqual(["0", "1000", "2000"]);
    expect(calls.every((c) => c.query.get("status") === "not_started")).toBe(true);
  });
});
