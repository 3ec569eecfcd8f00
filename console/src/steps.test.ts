import { describe, expect, it } from "vitest";
import { isManual, isRetryable, markable, timedOut } from "./steps";

describe("isManual", () => {
  it("is true for manual steps and steps of type manual-review, false otherwise", () => {
    expect(isManual({ manual: true })).toBe(true);
    expect(isManual({ type: "manual-review" })).toBe(true);
    expect(isManual({ type: "manual-review", manual: false })).toBe(true);
    expect(isManual({ type: "rollout" })).toBe(false);
    expect(isManual({ manual: false })).toBe(false);
    expect(isManual({})).toBe(false);
    expect(isManual(undefined)).toBe(false);
  });
});

describe("timed-out steps", () => {
  const at = "2026-12-01T12:00:00Z";

  it("timedOut: an in_progress step past its timeout is silent, a pending one overdue", () => {
    expect(timedOut({ status: "in_progress", timedOutAt: at })).toBe("silent");
    expect(timedOut({ status: "pending", timedOutAt: at })).toBe("overdue");
    expect(timedOut({ status: "in_progress" })).toBeUndefined();
    expect(timedOut({ status: "pending" })).toBeUndefined();
    expect(timedOut({ status: "failed", timedOutAt: at })).toBeUndefined();
    expect(timedOut({ status: "succeeded", timedOutAt: at })).toBeUndefined();
    expect(timedOut(undefined)).toBeUndefined();
  });

  it("isRetryable: a failed, silent or overdue step, nothing else", () => {
    expect(isRetryable({ status: "failed" })).toBe(true);
    expect(isRetryable({ status: "in_progress", timedOutAt: at })).toBe(true);
    expect(isRetryable({ status: "pending", timedOutAt: at })).toBe(true);
    expect(isRetryable({ status: "in_progress" })).toBe(false);
    expect(isRetryable({ status: "pending" })).toBe(false);
    expect(isRetryable({ status: "succeeded", timedOutAt: at })).toBe(false);
    expect(isRetryable({ status: "merged" })).toBe(false);
    expect(isRetryable(undefined)).toBe(false);
  });

  it("markable: done or failed while pending (overdue too), only failed when silent", () => {
    expect(markable({ status: "pending" })).toEqual(["succeeded", "failed"]);
    expect(markable({ status: "pending", timedOutAt: at })).toEqual(["succeeded", "failed"]);
    expect(markable({ status: "in_progress", timedOutAt: at })).toEqual(["failed"]);
    expect(markable({ status: "in_progress" })).toEqual([]);
    expect(markable({ status: "failed" })).toEqual([]);
    expect(markable({ status: "succeeded" })).toEqual([]);
    expect(markable(undefined)).toEqual([]);
  });
});
