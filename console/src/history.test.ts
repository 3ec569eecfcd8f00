import { describe, expect, it } from "vitest";
import type { HistoryEvent } from "./api/client";
import { compareIds, eventLabel, groupRuns, isErrorEvent, metadataText } from "./history";

let seq = 0;
const ev = (executionId: string, kind: HistoryEvent["kind"], extra: Partial<HistoryEvent> = {}): HistoryEvent => {
  seq++;
  return { id: String(seq), at: new Date(Date.UTC(2026, 11, 1, 12, 0, seq)).toISOString(), kind, executionId, ...extra };
};

// Two runs of one candidate: the first cancelled while open-pr waited, the second with a
// dispatch that did not get through, a failure, a retry and a merge.
seq = 0;
const first = [
  ev("x1", "run_started", { inputs: { reviewer: "ana" } }),
  ev("x1", "dispatched", { stepName: "branch", try: 1, dispatchId: "d1" }),
  ev("x1", "acknowledged", { stepName: "branch", try: 1 }),
  ev("x1", "succeeded", { stepName: "branch", try: 1, metadata: { branch: "drover/bump" } }),
  ev("x1", "dispatched", { stepName: "open-pr", try: 1 }),
  ev("x1", "cancelled", { stepName: "open-pr", try: 1 }),
  ev("x1", "run_finished", { runStatus: "cancelled" }),
];
const second = [
  ev("x2", "run_started"),
  ev("x2", "dispatched", { stepName: "open-pr", try: 1 }),
  ev("x2", "dispatch_failed", { stepName: "open-pr", try: 1, attempt: 1, error: "connection refused" }),
  ev("x2", "acknowledged", { stepName: "open-pr", try: 1 }),
  ev("x2", "pending", { stepName: "open-pr", try: 1, metadata: { prUrl: "https://git.example/pr/7" } }),
  ev("x2", "failed", { stepName: "open-pr", try: 1, error: "CI is red" }),
  ev("x2", "retried", { stepName: "open-pr", try: 2 }),
  ev("x2", "dispatched", { stepName: "open-pr", try: 2 }),
  ev("x2", "merged", { stepName: "open-pr", try: 2 }),
  ev("x2", "run_finished", { runStatus: "completed" }),
];
// As the API answers: newest first.
const history = [...first, ...second].reverse();

describe("groupRuns", () => {
  it("puts the newest run first, each with its events oldest first, its start and its end", () => {
    const runs = groupRuns(history);
    expect(runs.map((r) => r.executionId)).toEqual(["x2", "x1"]);
    expect(runs[0].events.map((e) => e.id)).toEqual(second.map((e) => e.id));
    expect(runs[1].events.map((e) => e.id)).toEqual(first.map((e) => e.id));
    expect(runs[0]).toMatchObject({ startedAt: second[0].at, finishedAt: second[second.length - 1].at, status: "completed" });
    expect(runs[1]).toMatchObject({ startedAt: first[0].at, status: "cancelled", inputs: { reviewer: "ana" } });
  });

  it("leaves a running run without an end, and one whose start is on an older page without a start", () => {
    // Only the newest page: the run still going, started before the page begins.
    const runs = groupRuns([ev("x3", "dispatched", { stepName: "review" }), ev("x3", "pending", { stepName: "review" })].reverse());
    expect(runs).toHaveLength(1);
    expect(runs[0].startedAt).toBeUndefined();
    expect(runs[0].finishedAt).toBeUndefined();
    expect(runs[0].status).toBeUndefined();
    expect(runs[0].events.map((e) => e.kind)).toEqual(["dispatched", "pending"]);
  });

  it("counts an event seen on two pages once", () => {
    const runs = groupRuns([...history.slice(0, 5), ...history.slice(4)]);
    expect(runs[0].events).toHaveLength(second.length);
  });

  it("is empty for no events", () => {
    expect(groupRuns([])).toEqual([]);
  });
});

describe("compareIds", () => {
  it("orders ids as numbers, part by part", () => {
    expect(compareIds("9", "10")).toBeLessThan(0);
    expect(compareIds("1700000000000-2", "1700000000000-10")).toBeLessThan(0);
    expect(compareIds("1700000000001-0", "1700000000000-5")).toBeGreaterThan(0);
    expect(compareIds("12", "12")).toBe(0);
  });
});

describe("eventLabel", () => {
  it("says what happened to which step, in which try", () => {
    const labels = groupRuns(history).flatMap((r) => r.events.map((e) => eventLabel(e)));
    expect(labels).toEqual([
      "run started",
      "open-pr dispatched",
      "open-pr dispatch attempt 1 did not reach the migrator: connection refused",
      "open-pr accepted by the migrator",
      "open-pr pending: prUrl=https://git.example/pr/7",
      "open-pr failed: CI is red",
      "open-pr retried (try 2)",
      "open-pr dispatched (try 2)",
      "open-pr merged (try 2)",
      "run completed",
      "run started",
      "branch dispatched",
      "branch accepted by the migrator",
      "branch succeeded: branch=drover/bump",
      "open-pr dispatched",
      "run cancelled during open-pr",
      "run cancelled",
    ]);
  });

  it("names silence, lateness, redelivery and a failure without a reason", () => {
    expect(eventLabel(ev("x", "silent", { stepName: "review", try: 3 }))).toBe("review silent: no callback within its timeout (try 3)");
    expect(eventLabel(ev("x", "overdue", { stepName: "review" }))).toBe("review overdue: pending longer than its timeout");
    expect(eventLabel(ev("x", "redelivered", { stepName: "review" }))).toBe("review delivered again");
    expect(eventLabel(ev("x", "failed", { stepName: "review" }))).toBe("review failed");
    expect(eventLabel(ev("x", "cancelled"))).toBe("run cancelled");
    expect(eventLabel(ev("x", "run_finished"))).toBe("run finished");
  });

  it("leaves the metadata out when asked, and keeps an error and metadata apart", () => {
    const e = ev("x", "pending", { stepName: "open-pr", metadata: { prUrl: "https://git.example/pr/7", checks: "red" } });
    expect(eventLabel(e, false)).toBe("open-pr pending");
    expect(eventLabel(e)).toBe("open-pr pending: checks=red, prUrl=https://git.example/pr/7");
    expect(eventLabel(ev("x", "failed", { stepName: "ci", error: "red", metadata: { log: "l" } }))).toBe("ci failed: red · log=l");
  });
});

describe("metadataText and isErrorEvent", () => {
  it("joins metadata in key order", () => {
    expect(metadataText({ b: "2", a: "1" })).toBe("a=1, b=2");
    expect(metadataText(undefined)).toBe("");
  });

  it("treats failures and failed dispatches as errors", () => {
    expect(isErrorEvent(ev("x", "failed", { stepName: "s" }))).toBe(true);
    expect(isErrorEvent(ev("x", "dispatch_failed", { stepName: "s", error: "timeout" }))).toBe(true);
    expect(isErrorEvent(ev("x", "succeeded", { stepName: "s" }))).toBe(false);
  });
});
