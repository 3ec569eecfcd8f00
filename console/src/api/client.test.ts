import { describe as suite, expect, it } from "vitest";
import { ApiError, describe } from "./client";
import { fakeDrover, stepState } from "../test/fake";

suite("api client", () => {
  it("sends the filter as query parameters and reads the total from X-Total-Count", async () => {
    const { api, calls } = fakeDrover(() => ({ body: [{ id: "a", kind: "repo", status: "running" }], headers: { "X-Total-Count": "1234" } }));
    const page = await api.listCandidates("m1", { status: "running", attention: true, q: "pay", offset: 50, limit: 50 });
    expect(page.total).toBe(1234);
    expect(page.items.map((c) => c.id)).toEqual(["a"]);
    expect(calls[0].path).toBe("/migrations/m1/candidates");
    expect(Object.fromEntries(calls[0].query)).toEqual({ status: "running", attention: "true", q: "pay", offset: "50", limit: "50" });
  });

  it("turns an error answer into an ApiError with the server's message and field", async () => {
    const { api } = fakeDrover(() => ({ status: 400, body: { error: "required input reviewer is missing", field: "inputs.reviewer" } }));
    const err = await api.start("m1", "c1", {}).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(400);
    expect(describe(err)).toBe("required input reviewer is missing (inputs.reviewer)");
  });

  it("says what failed when the answer has no message", async () => {
    const { api } = fakeDrover(() => ({ status: 500 }));
    const err = await api.listMigrations().catch((e) => e);
    expect(describe(err)).toMatch(/^500/);
  });

  it("explains unavailability, migrator failures and an unreachable server", () => {
    expect(describe(new ApiError(503, "redis: connection refused"))).toMatch(/cannot reach its store or Temporal/);
    expect(describe(new ApiError(502, "migrator answered 500"))).toMatch(/^The migrator failed/);
    expect(describe(new TypeError("fetch failed"))).toMatch(/did not answer/);
  });

  it("marks a step as the operator, naming the dispatch it saw, so a stale mark is refused", async () => {
    const { api, calls } = fakeDrover(() => ({ status: 202, body: { status: "ACCEPTED" } }));
    await api.markStep("m1", "c1", stepState({ id: "c1", kind: "repo", status: "running" }, "review", "pending", { dispatchId: "d-7" }), "failed", "build is red");
    expect(calls[0].path).toBe("/migrations/m1/candidates/c1/steps/review/complete");
    expect(calls[0].body).toEqual({ status: "failed", note: "build is red", dispatchId: "d-7" });
  });

  it("says a 401 means no login or an expired session, and a 403 that the role may not", async () => {
    const { api } = fakeDrover((c) =>
      c.path.endsWith("/start")
        ? { status: 401, body: { error: "authentication required: send Authorization: Bearer <token>, or log in to the console" } }
        : { status: 403, body: { error: "cancelRun needs the operator role; operator:token:tok_v is viewer" } },
    );
    expect(describe(await api.start("m1", "c1", {}).catch((e) => e))).toBe(
      "Not logged in or the session expired: authentication required: send Authorization: Bearer <token>, or log in to the console",
    );
    expect(describe(await api.cancel("m1", "c1").catch((e) => e))).toBe("Your role may not do this: cancelRun needs the operator role; operator:token:tok_v is viewer");
  });

  it("asks the audit log for one migration's or candidate's page, older than before", async () => {
    const { api, calls } = fakeDrover(() => ({ body: { entries: [], next: "e9" } }));
    const page = await api.listAudit({ migration: "m1", candidate: "c1", before: "e10", limit: 50, actor: "" });
    expect(page.next).toBe("e9");
    expect(calls[0].path).toBe("/audit");
    expect(Object.fromEntries(calls[0].query)).toEqual({ migration: "m1", candidate: "c1", before: "e10", limit: "50" });
  });

  it("asks for a candidate's history older than before, leaving out what is not set", async () => {
    const { api, calls } = fakeDrover(() => ({ body: { events: [{ id: "7", at: "2026-12-01T12:00:00Z", kind: "run_started", executionId: "x1" }], next: "7" } }));
    const page = await api.getHistory("m1", "c1", { before: "12-1", limit: 100 });
    expect(page.next).toBe("7");
    expect(page.events.map((e) => e.kind)).toEqual(["run_started"]);
    expect(calls[0].path).toBe("/migrations/m1/candidates/c1/history");
    expect(Object.fromEntries(calls[0].query)).toEqual({ before: "12-1", limit: "100" });
    await api.getHistory("m1", "c1", { before: undefined });
    expect(Object.fromEntries(calls[1].query)).toEqual({});
  });
});
