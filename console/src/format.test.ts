import { describe, expect, it } from "vitest";
import { ago, attentionHelp, attentionLabel, duration, httpUrl, plural, timeAttention, waitedFor } from "./format";

describe("format", () => {
  const now = Date.parse("2026-12-01T12:00:00Z");
  it.each([
    ["2026-12-01T12:00:00Z", "just now"],
    ["2026-12-01T11:59:30Z", "30s ago"],
    ["2026-12-01T11:50:00Z", "10 min ago"],
    ["2026-12-01T09:00:00Z", "3 h ago"],
    ["2026-11-25T12:00:00Z", "6 days ago"],
    ["not a time", ""],
  ])("ago(%s) = %s", (iso, want) => expect(ago(iso, now)).toBe(want));

  it("formats durations and counts", () => {
    expect(duration("2026-12-01T11:58:55Z", "2026-12-01T12:00:00Z")).toBe("1m 05s");
    expect(duration("2026-12-01T10:00:00Z", undefined, now)).toBe("2h 00m");
    expect(duration("2026-12-01T12:00:01Z", "2026-12-01T12:00:00Z")).toBe("");
    expect(plural(1, "candidate")).toBe("1 candidate");
    expect(plural(2000, "candidate")).toBe("2,000 candidates");
  });

  it("names and explains silent and overdue attention with the time waited", () => {
    expect(attentionLabel.silent).toBe("Silent");
    expect(attentionLabel.overdue).toBe("Overdue");
    expect(timeAttention("silent")).toBe(true);
    expect(timeAttention("overdue")).toBe(true);
    expect(timeAttention("retrying")).toBe(false);
    expect(timeAttention(undefined)).toBe(false);
    expect(attentionHelp("silent", "2026-12-01T11:47:55Z", now)).toBe(
      "The migrator accepted the dispatch and has not called back for 12m 05s: retry it or mark it failed.",
    );
    expect(attentionHelp("silent", undefined, now)).toBe("The migrator accepted the dispatch and has not called back within the step's timeout: retry it or mark it failed.");
    expect(attentionHelp("overdue", "2026-12-01T10:30:00Z", now)).toBe("The step has been pending for 1h 30m, longer than its timeout: retry it or mark it done or failed.");
    expect(attentionHelp("overdue", undefined, now)).toBe("The step has been pending longer than its timeout: retry it or mark it done or failed.");
    expect(attentionHelp("failed")).toBe("A step failed: retry it or cancel the run.");
  });

  it.each([
    ["silent", "2026-12-01T11:47:55Z", "for 12m 05s"],
    ["overdue", "2026-12-01T09:00:00Z", "for 3h 00m"],
    ["overdue", "2026-12-01T12:00:30Z", ""],
    ["silent", undefined, ""],
    ["silent", "not a time", ""],
    ["failed", "2026-12-01T11:00:00Z", ""],
    [undefined, "2026-12-01T11:00:00Z", ""],
  ])("waitedFor(%s, %s) = %j", (attention, since, want) => expect(waitedFor(attention, since, now)).toBe(want));

  it.each([
    ["https://git.example/a/b.yaml", "https://git.example/a/b.yaml"],
    ["http://git.example/x", "http://git.example/x"],
    ["HTTPS://Git.Example/x", "https://git.example/x"],
    ["javascript:alert(1)", undefined],
    [" JavaScript:alert(1)", undefined],
    ["data:text/html,<b>x</b>", undefined],
    ["file:///tmp/go.mod", undefined],
    ["/relative/path", undefined],
    ["", undefined],
  ])("httpUrl(%j) = %j", (url, want) => expect(httpUrl(url)).toBe(want));
});
