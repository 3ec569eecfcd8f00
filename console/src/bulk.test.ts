import { describe, expect, it } from "vitest";
import type { Candidate } from "./api/client";
import { cancelRuns, collect, eligibleQuery } from "./bulk";
import { fakeDrover } from "./test/fake";

const cand = (id: string, status: Candidate["status"]): Candidate => ({ id, kind: "repo", status });

describe("bulk actions", () => {
  it("cancels the running candidates among those picked in one request, and asks nothing when none runs", async () => {
    const { api, calls } = fakeDrover(() => ({ status: 202, body: { status: "CANCEL_REQUESTED", requested: 2 } }));
    const cs = [cand("a", "running"), cand("b", "not_started"), cand("c", "running"), cand("d", "completed")];
    expect(await cancelRuns(api, "m", cs, {})).toBe(2);
    expect(calls.map((c) => [c.method, c.path, c.body])).toEqual([["POST", "/migrations/m/cancel-runs", { candidateIds: ["a", "c"] }]]);
    expect(await cancelRuns(api, "m", [cand("b", "not_started")], {})).toBe(0);
    expect(calls).toHaveLength(1);
  });

  it("cancels every running candidate matching a filter: listed page by page, cancelled in one request", async () => {
    const running = Array.from({ length: 1200 }, (_, i) => cand(`r${String(i).padStart(4, "0")}`, "running"));
    const { api, calls } = fakeDrover((call) => {
      if (call.method === "POST") return { status: 202, body: { status: "CANCEL_REQUESTED", requested: (call.body as { candidateIds: string[] }).candidateIds.length } };
      const off = Number(call.query.get("offset"));
      return { body: running.slice(off, off + Number(call.query.get("limit"))), headers: { "X-Total-Count": String(running.length) } };
    });
    expect(await cancelRuns(api, "m", null, { q: "r" })).toBe(1200);
    const lists = calls.filter((c) => c.method === "GET");
    expect(lists.map((c) => [c.query.get("status"), c.query.get("q"), c.query.get("offset")])).toEqual([
      ["running", "r", "0"],
      ["running", "r", "1000"],
    ]);
    const posts = calls.filter((c) => c.method === "POST");
    expect(posts).toHaveLength(1);
    expect((posts[0].body as { candidateIds: string[] }).candidateIds).toHaveLength(1200);
    // A filter that cannot match a running candidate asks nothing.
    expect(await cancelRuns(api, "m", null, { status: "completed" })).toBe(0);
    expect(calls).toHaveLength(3);
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
