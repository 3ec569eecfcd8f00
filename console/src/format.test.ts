import { describe, expect, it } from "vitest";
import { ago, duration, httpUrl, plural } from "./format";

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
