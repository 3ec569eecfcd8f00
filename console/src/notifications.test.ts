import { describe, expect, it } from "vitest";
import {
  buildWebhookInput,
  deliveryBadge,
  deliveryLabel,
  emptyWebhookForm,
  eventKinds,
  eventsText,
  kindLabel,
  kindText,
  lastAnswer,
  looksLikeSlack,
  migrationText,
  nextAttemptText,
  shortUrl,
  withEvent,
  type WebhookForm,
} from "./notifications";

describe("notification kinds", () => {
  it("names every kind for people", () => {
    expect(kindLabel).toEqual({
      step_failed: "Step failed",
      step_waiting: "Waiting for a person",
      step_silent: "Silent step",
      step_overdue: "Overdue step",
      rollout_paused: "Rollout paused",
      migration_finished: "Migration finished",
      test: "Test",
    });
    expect(kindText("step_overdue")).toBe("Overdue step");
    // A kind of a newer Drover shows as it is named; an inherited property is no label.
    expect(kindText("run_exploded")).toBe("run_exploded");
    expect(kindText("toString")).toBe("toString");
  });

  it("offers every kind but test as an event to pick", () => {
    expect(eventKinds).not.toContain("test");
    expect(eventKinds).toHaveLength(6);
  });

  it("says all events when none are named, else the labels in the form's order", () => {
    expect(eventsText([])).toBe("All events");
    expect(eventsText(undefined)).toBe("All events");
    expect(eventsText(["migration_finished", "step_failed", "step_failed"])).toBe("Step failed, Migration finished");
    expect(eventsText(["new_kind", "step_waiting"])).toBe("Waiting for a person, new_kind");
  });

  it("names the migration, or all of them", () => {
    const ms = [{ id: "bump", name: "Bump Go" }];
    expect(migrationText(undefined, ms)).toBe("All migrations");
    expect(migrationText("", ms)).toBe("All migrations");
    expect(migrationText("bump", ms)).toBe("Bump Go");
    expect(migrationText("gone", ms)).toBe("gone");
  });
});

describe("shortUrl", () => {
  it.each([
    ["https://hooks.slack.com/services/T000/B000/XXXXSECRET", "https://hooks.slack.com/…"],
    ["http://receiver.internal:8080/hook?token=abc", "http://receiver.internal:8080/…"],
    ["https://example.com", "https://example.com"],
    ["https://example.com/", "https://example.com"],
    ["https://example.com/?k=v", "https://example.com/…"],
    ["https://user:pass@example.com/x", "https://example.com/…"],
    ["not a url", "…"],
  ])("shortUrl(%s) = %s", (url, want) => expect(shortUrl(url)).toBe(want));

  it("never shows a Slack token", () => {
    expect(shortUrl("https://hooks.slack.com/services/T1/B2/tok3n")).not.toContain("tok3n");
  });

  it("recognises a Slack incoming webhook", () => {
    expect(looksLikeSlack(" https://hooks.slack.com/services/T1/B2/x ")).toBe(true);
    expect(looksLikeSlack("https://example.com/hooks.slack.com")).toBe(false);
    expect(looksLikeSlack("")).toBe(false);
  });
});

describe("deliveries", () => {
  const now = Date.parse("2026-12-01T12:00:00Z");

  it("says when a retrying delivery is tried again", () => {
    expect(nextAttemptText("2026-12-01T12:00:45Z", now)).toBe("next attempt in 45s");
    expect(nextAttemptText("2026-12-01T12:01:30Z", now)).toBe("next attempt in 1m 30s");
    expect(nextAttemptText("2026-12-01T14:05:00Z", now)).toBe("next attempt in 2h 05m");
    expect(nextAttemptText("2026-12-01T11:59:00Z", now)).toBe("next attempt any moment now");
    expect(nextAttemptText(undefined, now)).toBe("");
    expect(nextAttemptText("soon", now)).toBe("");
  });

  it("says how the receiver answered the last attempt", () => {
    expect(lastAnswer({ lastStatusCode: 500, lastError: "internal error" })).toBe("HTTP 500: internal error");
    expect(lastAnswer({ lastStatusCode: 204 })).toBe("HTTP 204");
    expect(lastAnswer({ lastError: "dial tcp: connection refused" })).toBe("no answer: dial tcp: connection refused");
    expect(lastAnswer({})).toBe("");
  });

  it("colours statuses as the other badges: green, amber, red", () => {
    expect(deliveryBadge).toEqual({ delivered: "status-succeeded", retrying: "status-pending", failed: "status-failed" });
    expect(deliveryLabel.retrying).toBe("Retrying");
  });
});

describe("buildWebhookInput", () => {
  const form = (f: Partial<WebhookForm>): WebhookForm => ({ ...emptyWebhookForm(), ...f });

  it("sends only what was chosen: every migration and every event by leaving them out", () => {
    expect(buildWebhookInput(form({ url: "  https://example.com/hook " }))).toEqual({ input: { url: "https://example.com/hook", format: "json" } });
  });

  it("sends the migration, the events in a stable order, the format and the description", () => {
    const got = buildWebhookInput(
      form({ url: "https://hooks.slack.com/services/x", format: "slack", migrationId: "bump", events: ["rollout_paused", "step_failed"], description: "  #migrations  " }),
    );
    expect(got).toEqual({
      input: { url: "https://hooks.slack.com/services/x", format: "slack", migrationId: "bump", events: ["step_failed", "rollout_paused"], description: "#migrations" },
    });
  });

  it("refuses an empty URL or one that is not http(s)", () => {
    expect(buildWebhookInput(form({ url: "   " }))).toEqual({ error: "Enter the URL Drover should POST to." });
    expect(buildWebhookInput(form({ url: "hooks.slack.com/services/x" }))).toHaveProperty("error");
    expect(buildWebhookInput(form({ url: "javascript:alert(1)" }))).toHaveProperty("error");
    expect(buildWebhookInput(form({ url: "ftp://example.com/x" }))).toHaveProperty("error");
  });

  it("checks and unchecks events, keeping the form's order", () => {
    let ev = withEvent([], "migration_finished", true);
    ev = withEvent(ev, "step_failed", true);
    expect(ev).toEqual(["step_failed", "migration_finished"]);
    expect(withEvent(ev, "step_failed", false)).toEqual(["migration_finished"]);
    expect(withEvent(ev, "step_failed", true)).toEqual(["step_failed", "migration_finished"]);
  });
});
