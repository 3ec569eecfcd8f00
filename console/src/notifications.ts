import type { Migration, NotificationKind, WebhookDelivery, WebhookDeliveryStatus, WebhookFormat, WebhookInput } from "./api/client";
import { duration } from "./format";

/** kindLabel names each kind of notification for people. */
export const kindLabel: Record<NotificationKind, string> = {
  step_failed: "Step failed",
  step_waiting: "Waiting for a person",
  step_silent: "Silent step",
  step_overdue: "Overdue step",
  rollout_paused: "Rollout paused",
  migration_finished: "Migration finished",
  test: "Test",
};

/** kindHelp says when Drover sends each kind (a checkbox's title). */
export const kindHelp: Record<NotificationKind, string> = {
  step_failed: "A step failed and waits for a retry or a cancel.",
  step_waiting: "A step waits for a person to mark it done.",
  step_silent: "The migrator accepted a dispatch and never called back.",
  step_overdue: "A pending step passed its timeout.",
  rollout_paused: "A rollout paused, by itself on failures or by an operator.",
  migration_finished: "Every candidate of the migration is completed.",
  test: "Sent on request, to try the webhook.",
};

/**
 * eventKinds are the kinds a webhook can be limited to, in the order the form shows them; a test
 * notification is sent on request whatever a webhook's events are.
 */
export const eventKinds: NotificationKind[] = ["step_failed", "step_waiting", "step_silent", "step_overdue", "rollout_paused", "migration_finished"];

const kindOrder: NotificationKind[] = [...eventKinds, "test"];

/** kindText is a kind's label; a kind this console does not know yet (a newer Drover) is shown as Drover names it. */
export function kindText(kind: string): string {
  return Object.hasOwn(kindLabel, kind) ? kindLabel[kind as NotificationKind] : kind;
}

/** eventsText says which kinds a webhook is sent: "All events" when it names none. */
export function eventsText(events: readonly string[] | undefined): string {
  if (!events || events.length === 0) return "All events";
  const rank = (k: string) => {
    const i = kindOrder.indexOf(k as NotificationKind);
    return i < 0 ? kindOrder.length : i;
  };
  return [...new Set(events)]
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
    .map(kindText)
    .join(", ");
}

/** migrationText names the migration a webhook is for: "All migrations" without one, its name when known, else its id. */
export function migrationText(migrationId: string | undefined, migrations: readonly Pick<Migration, "id" | "name">[] = []): string {
  if (!migrationId) return "All migrations";
  return migrations.find((m) => m.id === migrationId)?.name || migrationId;
}

/** formatLabel names a webhook's body format. */
export const formatLabel: Record<WebhookFormat, string> = {
  json: "JSON",
  slack: "Slack",
};

/**
 * shortUrl is a webhook's URL as the console shows it: its scheme and host, then "…" when a path
 * or query follows. A Slack incoming webhook's path is its token, so the rest never shows; nor do
 * a user and password before the host.
 */
export function shortUrl(url: string): string {
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    u = undefined;
  }
  if (u && u.host) {
    const more = (u.pathname !== "" && u.pathname !== "/") || u.search !== "" || u.hash !== "";
    return `${u.protocol}//${u.host}${more ? "/…" : ""}`;
  }
  // Not a URL the browser reads: at most what looks like a scheme and a host.
  const m = /^([a-z][a-z0-9+.-]*:\/\/)(?:[^@/?#]*@)?([^/?#@]+)/i.exec(url.trim());
  return m ? `${m[1]}${m[2]}/…` : "…";
}

/** looksLikeSlack says whether a URL is a Slack incoming webhook (which wants the slack format). */
export function looksLikeSlack(url: string): boolean {
  try {
    return new URL(url.trim()).hostname.toLowerCase() === "hooks.slack.com";
  } catch {
    return false;
  }
}

/** deliveryLabel names a delivery's status. */
export const deliveryLabel: Record<WebhookDeliveryStatus, string> = {
  delivered: "Delivered",
  retrying: "Retrying",
  failed: "Failed",
};

/** deliveryBadge is the badge class of a delivery's status, in the colours of the other badges: green, amber, red. */
export const deliveryBadge: Record<WebhookDeliveryStatus, string> = {
  delivered: "status-succeeded",
  retrying: "status-pending",
  failed: "status-failed",
};

/**
 * nextAttemptText says when a retrying delivery is tried again, e.g. "next attempt in 1m 30s",
 * "next attempt any moment now" once the time has come; "" without a time.
 */
export function nextAttemptText(nextAttemptAt: string | undefined, now: number = Date.now()): string {
  if (!nextAttemptAt) return "";
  const t = Date.parse(nextAttemptAt);
  if (Number.isNaN(t)) return "";
  if (t - now < 1000) return "next attempt any moment now";
  return `next attempt in ${duration(new Date(now).toISOString(), nextAttemptAt)}`;
}

/** lastAnswer is how the receiver answered a delivery's last attempt: "HTTP 500: …", "no answer: …", or "" before any attempt. */
export function lastAnswer(d: Pick<WebhookDelivery, "lastStatusCode" | "lastError">): string {
  const err = d.lastError?.trim();
  if (typeof d.lastStatusCode === "number") return err ? `HTTP ${d.lastStatusCode}: ${err}` : `HTTP ${d.lastStatusCode}`;
  return err ? `no answer: ${err}` : "";
}

/** WebhookForm is the "Add webhook" form as typed; migrationId "" is every migration, no events every kind. */
export type WebhookForm = {
  url: string;
  format: WebhookFormat;
  migrationId: string;
  events: NotificationKind[];
  description: string;
};

export function emptyWebhookForm(): WebhookForm {
  return { url: "", format: "json", migrationId: "", events: [], description: "" };
}

/** withEvent is the form's events with kind checked (on) or not, in the form's order. */
export function withEvent(events: readonly NotificationKind[], kind: NotificationKind, on: boolean): NotificationKind[] {
  const set = new Set(events);
  if (on) set.add(kind);
  else set.delete(kind);
  return eventKinds.filter((k) => set.has(k));
}

/**
 * buildWebhookInput is the request body of a filled-in form, or what is wrong with it. Only an
 * empty or non-http(s) URL is refused here; Drover checks the rest (which hosts it may call, the
 * migration) and answers why.
 */
export function buildWebhookInput(form: WebhookForm): { input: WebhookInput } | { error: string } {
  const url = form.url.trim();
  if (url === "") return { error: "Enter the URL Drover should POST to." };
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { error: "The URL must be an absolute address starting with http:// or https://." };
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return { error: "The URL must be an absolute address starting with http:// or https://." };
  const input: WebhookInput = { url, format: form.format };
  const migrationId = form.migrationId.trim();
  if (migrationId) input.migrationId = migrationId;
  const events = eventKinds.filter((k) => form.events.includes(k));
  if (events.length > 0) input.events = events;
  const description = form.description.trim();
  if (description) input.description = description;
  return { input };
}
