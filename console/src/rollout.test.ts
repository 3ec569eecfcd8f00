import { describe, expect, it } from "vitest";
import type { Rollout } from "./api/client";
import { when } from "./format";
import {
  buildRequest,
  daysText,
  defaultForm,
  estimateText,
  fieldKey,
  parseWaves,
  pausedText,
  planLines,
  roughly,
  sourceFor,
  waitText,
  windowText,
  withoutField,
  type RolloutForm,
} from "./rollout";

const form = (f: Partial<RolloutForm> = {}): RolloutForm => ({ ...defaultForm("Europe/Berlin"), ...f });
const now = Date.parse("2026-12-01T12:00:00Z");

describe("wave sizes", () => {
  it.each([
    ["1, 5, 25", [1, 5, 25]],
    [" 1 5;25 ", [1, 5, 25]],
    ["1,", [1]],
    ["", []],
  ])("reads %j", (text, waves) => expect(parseWaves(text)).toEqual({ waves }));

  it("refuses what is not a wave size, saying why", () => {
    expect(parseWaves("1, five")).toEqual({ error: "“five” is not a wave size: give whole numbers such as 1, 5, 25" });
    expect(parseWaves("1.5")).toMatchObject({ error: expect.stringContaining("“1.5”") });
    expect(parseWaves("-1")).toMatchObject({ error: expect.stringContaining("“-1”") });
    expect(parseWaves("0")).toEqual({ error: "a wave has at least one candidate" });
    expect(parseWaves(Array(21).fill("1").join(","))).toMatchObject({ error: expect.stringContaining("at most 20") });
  });
});

describe("the rollout request", () => {
  it("takes the picked ids, a filter, or every not-started candidate", () => {
    expect(buildRequest({ kind: "ids", ids: ["a", "b"] }, form())).toEqual({ request: { candidateIds: ["a", "b"] } });
    expect(buildRequest({ kind: "filter", filter: { status: "not_started", q: "pay" } }, form())).toEqual({ request: { filter: { status: "not_started", q: "pay" } } });
    expect(buildRequest({ kind: "every" }, form())).toEqual({ request: {} });
  });

  it("never sends an empty id list, which the server would read as every candidate", () => {
    expect(buildRequest({ kind: "ids", ids: [] }, form())).toEqual({ errors: { candidates: "none of the selected candidates is not started" } });
  });

  it("sends every limit that is set, and no limit that is empty or 0", () => {
    const got = buildRequest(
      { kind: "every" },
      form({
        waves: "1, 5",
        approveWaves: true,
        maxConcurrent: "2",
        failedHoldsSlot: true,
        rate: "30",
        rateUnit: "hour",
        windowOn: true,
        days: ["fri", "mon"],
        start: "22:00",
        end: "06:00",
        timeZone: " America/New_York ",
        pauseAfterFailures: "3",
        pauseAtFailureRate: "12.5",
        minFinished: "10",
        inputs: { reviewer: " ana ", ticket: "" },
      }),
    );
    expect(got).toEqual({
      request: {
        waves: [1, 5],
        approveWaves: true,
        maxConcurrent: 2,
        failedHoldsSlot: true,
        startsPerHour: 30,
        window: { start: "22:00", end: "06:00", timeZone: "America/New_York", days: ["mon", "fri"] },
        pauseAfterFailures: 3,
        pauseAtFailureRate: 0.125,
        minFinished: 10,
        inputs: { reviewer: "ana" },
      },
    });
    expect(buildRequest({ kind: "every" }, form({ maxConcurrent: "0", rate: "", pauseAtFailureRate: "0", minFinished: "9" }))).toEqual({ request: {} });
    expect(buildRequest({ kind: "every" }, form({ rate: "6" }))).toEqual({ request: { startsPerMinute: 6 } });
    // Every day is the same as no days.
    const all = buildRequest({ kind: "every" }, form({ windowOn: true, days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] }));
    expect(all).toEqual({ request: { window: { start: "09:00", end: "17:00", timeZone: "Europe/Berlin" } } });
  });

  it("names each field that is wrong", () => {
    const got = buildRequest(
      { kind: "every" },
      form({ waves: "x", maxConcurrent: "-2", rate: "61", windowOn: true, days: [], start: "9", end: "9", timeZone: "", pauseAtFailureRate: "150" }),
    );
    expect("errors" in got && Object.keys(got.errors).sort()).toEqual([
      "maxConcurrent",
      "pauseAtFailureRate",
      "rate",
      "waves",
      "window.days",
      "window.end",
      "window.start",
      "window.timeZone",
    ]);
    expect(buildRequest({ kind: "every" }, form({ rate: "3601", rateUnit: "hour" }))).toEqual({ errors: { rate: "at most 3,600" } });
    expect(buildRequest({ kind: "every" }, form({ windowOn: true, start: "10:00", end: "10:00" }))).toEqual({
      errors: { "window.end": "equals the start: the window would never close" },
    });
  });

  it("places the server's errors beside the field they name", () => {
    expect(fieldKey("candidateIds[3]")).toBe("candidates");
    expect(fieldKey("filter.status")).toBe("candidates");
    expect(fieldKey("waves[1]")).toBe("waves");
    expect(fieldKey("startsPerHour")).toBe("rate");
    expect(fieldKey("window.days[0]")).toBe("window.days");
    expect(fieldKey("window.timeZone")).toBe("window.timeZone");
    expect(fieldKey("inputs.reviewer")).toBe("inputs.reviewer");
    expect(fieldKey(undefined)).toBe("");
    expect(withoutField('maxConcurrent: -1 is negative; 0 means no limit', "maxConcurrent")).toBe("-1 is negative; 0 means no limit");
    expect(withoutField('field "window.start": does not match', "window.start")).toBe("does not match");
    expect(withoutField("candidate a is missing required input(s)", "inputs")).toBe("candidate a is missing required input(s)");
  });

  it("rolls out the not-started rows picked, or the filter when every matching one is selected", () => {
    const rows = [
      { id: "a", status: "not_started" },
      { id: "b", status: "running" },
    ];
    expect(sourceFor(rows, {})).toEqual({ kind: "ids", ids: ["a"] });
    expect(sourceFor(null, { q: "pay" })).toEqual({ kind: "filter", filter: { status: "not_started", q: "pay" } });
    expect(sourceFor(null, { status: "not_started" })).toEqual({ kind: "every" });
    expect(sourceFor(null, { status: "running" })).toBeNull();
    expect(sourceFor(null, { attention: true })).toBeNull();
  });
});

describe("the estimate", () => {
  const preview = (total: number, lastStartBy?: string) => ({ total, candidateIds: [], waves: [total], lastStartBy });

  it("says how long the starts take at least, and that waves and concurrency only make it longer", () => {
    const text = estimateText(preview(181, "2026-12-01T15:00:00Z"), { startsPerMinute: 1 }, now);
    expect(text).toBe(
      `At 1 start a minute, the last of the 181 starts is no earlier than ${when("2026-12-01T15:00:00Z")}, about 3 h from now. Waves and the max concurrent runs can only make it longer: they wait for runs to finish.`,
    );
    const windowed = estimateText(preview(40, "2026-12-03T08:20:00Z"), { startsPerHour: 20, window: { start: "09:00", end: "17:00", timeZone: "Europe/Berlin" } }, now);
    expect(windowed).toMatch(/^At 20 starts an hour and within its window, the last of the 40 starts is no earlier than .*, about 44 h 20 min from now\./);
  });

  it("says the starts can begin at once, or go as fast as allowed without a rate or a window", () => {
    expect(estimateText(preview(1, "2026-12-01T12:00:00Z"), { window: { start: "00:00", end: "23:59", timeZone: "UTC" } }, now)).toMatch(
      /^Within its window, the start can happen right away\. Waves/,
    );
    expect(estimateText(preview(4), { maxConcurrent: 2 }, now)).toBe(
      "No start rate and no window: nothing holds the 4 starts back but the waves and the max concurrent runs, so how long it takes depends on how long its runs take.",
    );
  });

  it.each([
    [20_000, "under a minute"],
    [25 * 60_000, "about 25 min"],
    [200 * 60_000, "about 3 h 20 min"],
    [120 * 60_000, "about 2 h"],
    [52 * 3_600_000, "about 2 days 4 h"],
  ])("roughly(%d) = %s", (ms, want) => expect(roughly(ms)).toBe(want));
});

describe("the plan and what a rollout waits for", () => {
  const base: Rollout = {
    id: "ro-1",
    migrationId: "m",
    status: "running",
    total: 10,
    started: 3,
    running: 2,
    completed: 1,
    failed: 0,
    waves: [
      { size: 1, started: 1, completed: 1, failed: 0 },
      { size: 9, started: 2, completed: 0, failed: 0 },
    ],
    wave: 1,
    maxConcurrent: 2,
    createdAt: "2026-12-01T11:00:00Z",
    updatedAt: "2026-12-01T11:59:00Z",
  };

  it("names the days and hours of a window", () => {
    expect(daysText(["mon", "tue", "wed", "thu", "fri"])).toBe("Mon–Fri");
    expect(daysText(["sat", "sun"])).toBe("Sat, Sun");
    expect(daysText(["fri", "mon", "wed"])).toBe("Mon, Wed, Fri");
    expect(daysText(undefined)).toBe("every day");
    expect(windowText({ days: ["mon", "tue", "wed", "thu", "fri"], start: "09:00", end: "17:00", timeZone: "Europe/Berlin" })).toBe("Mon–Fri 09:00–17:00 (Europe/Berlin)");
    expect(windowText({ start: "22:00", end: "06:00", timeZone: "UTC" })).toBe("every day 22:00–06:00 (UTC, past midnight)");
  });

  it("lists the plan's limits for people", () => {
    const lines = Object.fromEntries(planLines({ ...base, pauseAfterFailures: 1, pauseAtFailureRate: 0.2, inputs: { reviewer: "ana" } }, [1, 9]));
    expect(lines).toEqual({
      Waves: "1, then 9",
      "At once": "at most 2 runs open; a run with a failed step frees its slot",
      "Start rate": "no limit",
      Window: "any time",
      "Pauses itself": "after 1 failed run, or once 20% of its finished runs have failed (from 5 finished runs on)",
      Inputs: "reviewer = ana",
    });
    expect(Object.fromEntries(planLines({}, [4]))).toMatchObject({ Waves: "one wave of 4", "At once": "no limit", "Pauses itself": "never (only when an operator pauses it)" });
  });

  it("says why it paused, whether a threshold or an operator paused it", () => {
    expect(pausedText("1 run failed (pauseAfterFailures 1)")).toBe("Paused: 1 run failed (pauseAfterFailures 1)");
    expect(pausedText("paused by operator:token:tok_otto: CI is red")).toBe("Paused by operator:token:tok_otto: CI is red");
  });

  it("says what it waits for: a slot, a wave, an approval, the window, the rate, a resume, its runs", () => {
    expect(waitText({ ...base, waitingFor: "slot" }, now)).toBe("Waiting for a free slot: 2 of at most 2 runs are open.");
    expect(waitText({ ...base, waitingFor: "wave" }, now)).toBe("Waiting for the runs of wave 1 to complete before it starts wave 2.");
    expect(waitText({ ...base, status: "waiting_for_approval", waitingFor: "approval" }, now)).toBe("Waiting for an operator to approve wave 2 of 2.");
    expect(
      waitText({ ...base, status: "waiting_for_window", waitingFor: "window", until: "2026-12-01T14:00:00Z", window: { start: "15:00", end: "17:00", timeZone: "Europe/Berlin" } }, now),
    ).toBe(`Outside its window (every day 15:00–17:00 (Europe/Berlin)): it opens ${when("2026-12-01T14:00:00Z")} (in about 2 h).`);
    expect(waitText({ ...base, waitingFor: "rate", startsPerMinute: 2, until: "2026-12-01T12:00:20Z" }, now)).toBe("Pacing its starts at 2 starts a minute: the next start is in 20 s.");
    expect(waitText({ ...base, status: "paused", waitingFor: "resume" }, now)).toBe("It starts nothing until it is resumed; its open runs go on.");
    expect(waitText({ ...base, status: "paused", waitingFor: "resume", failed: 1 }, now)).toBe(
      "It starts nothing until it is resumed; its open runs go on. 1 run has a failed step: retry it (Retry failed) or cancel it, then resume.",
    );
    expect(waitText({ ...base, waitingFor: "runs", failed: 1 }, now)).toBe("Every candidate is started; waiting for its 3 open runs to finish (1 with a failed step: retry or cancel them).");
    expect(waitText({ ...base, status: "completed", completed: 9, skipped: 1 }, now)).toBe("Done: 9 candidates completed, 1 skipped (started by someone else).");
  });
});
