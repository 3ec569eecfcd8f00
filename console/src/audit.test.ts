import { describe, expect, it } from "vitest";
import { actionWords, stepOf, who } from "./audit";
import { covers } from "./me";

describe("audit entries in words", () => {
  it("names what each operation did, with the step a mark names", () => {
    expect(actionWords({ action: "startRun", path: "/migrations/m/candidates/c/start" })).toBe("started");
    expect(actionWords({ action: "cancelRun", path: "/migrations/m/candidates/c/cancel" })).toBe("cancelled");
    expect(actionWords({ action: "retryStep", path: "/migrations/m/candidates/c/retry-step" })).toBe("retried step");
    expect(actionWords({ action: "completeStep", path: "/migrations/m/candidates/c/steps/code%20review/complete" })).toBe("marked step code review");
    expect(actionWords({ action: "announceMigration", path: "/registry/announce" })).toBe("announced");
    expect(actionWords({ action: "somethingNew", path: "/x" })).toBe("somethingNew");
  });

  it("finds the step only in a mark's path", () => {
    expect(stepOf("/migrations/m/candidates/c/steps/review/complete")).toBe("review");
    expect(stepOf("/migrations/m/candidates/c/steps")).toBeUndefined();
    expect(stepOf("/migrations/m/candidates/c/steps/%E0%A4%A/complete")).toBe("%E0%A4%A");
  });

  it("names the caller by name when it has one", () => {
    expect(who({ actor: "operator:token:tok_1", actorName: "ana" })).toBe("ana");
    expect(who({ actor: "anonymous" })).toBe("anonymous");
  });
});

describe("roles", () => {
  it("orders viewer < operator < admin; no role covers nothing", () => {
    expect(covers("viewer", "operator")).toBe(false);
    expect(covers("operator", "operator")).toBe(true);
    expect(covers("admin", "operator")).toBe(true);
    expect(covers("admin", "admin")).toBe(true);
    expect(covers(undefined, "viewer")).toBe(false);
  });
});
