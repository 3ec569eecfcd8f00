import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { CreatedWebhook, Migration, Webhook, WebhookDelivery } from "../api/client";
import { fakeDrover, renderAt, type Call } from "../test/fake";

const migration: Migration = {
  id: "bump",
  name: "Bump Go",
  description: "Moves modules to Go 1.26.",
  migratorUrl: "http://migrator",
  createdAt: "2026-12-01T10:00:00Z",
  candidates: [],
  steps: [],
  counts: { not_started: 7, running: 2, completed: 1 },
};

const slackToken = "T0001/B0002/s3cr3tT0ken";
const slackHook: Webhook = {
  id: "wh_slack",
  url: `https://hooks.slack.com/services/${slackToken}`,
  format: "slack",
  events: [],
  description: "#migrations",
  createdAt: "2026-12-01T09:00:00Z",
  createdBy: "ana",
};
const jsonHook: Webhook = {
  id: "wh_json",
  url: "https://receiver.example:8443/drover?key=k",
  format: "json",
  migrationId: "bump",
  events: ["rollout_paused", "step_failed"],
  createdAt: "2026-12-01T09:30:00Z",
  createdBy: "otto",
};

const me = (role: "viewer" | "operator" | "admin") => ({ actor: `operator:token:tok_${role}`, kind: "operator", name: role, role, via: "token", authRequired: true });

type Reply = { status?: number; body?: unknown } | undefined;

/**
 * notifyDrover answers as Drover with the given webhooks (which creating and deleting change) and
 * each webhook's deliveries as deliveries() says at each read; extra answers first.
 */
function notifyDrover(opts: { role?: "viewer" | "operator" | "admin"; hooks?: Webhook[]; deliveries?: (id: string) => WebhookDelivery[]; extra?: (c: Call) => Reply } = {}) {
  const hooks = [...(opts.hooks ?? [slackHook, jsonHook])];
  const fake = fakeDrover((c) => {
    const x = opts.extra?.(c);
    if (x) return x;
    if (c.path === "/readyz") return { body: { status: "ready", checks: { store: "ok", temporal: "ok" } } };
    if (c.path === "/auth/me") return { body: me(opts.role ?? "admin") };
    if (c.path === "/migrations") return { body: { migrations: [migration] } };
    if (c.path === "/admin/webhooks" && c.method === "GET") return { body: { webhooks: hooks } };
    if (c.path === "/admin/webhooks" && c.method === "POST") {
      const input = c.body as { url: string; format?: "json" | "slack"; migrationId?: string; events?: Webhook["events"]; description?: string };
      const w: Webhook = { id: "wh_new", url: input.url, format: input.format ?? "json", migrationId: input.migrationId, events: input.events ?? [], description: input.description, createdAt: new Date().toISOString(), createdBy: "admin" };
      hooks.push(w);
      return { status: 201, body: { ...w, secret: "whsec_only0nce" } satisfies CreatedWebhook };
    }
    const one = /^\/admin\/webhooks\/([^/]+)(\/deliveries|\/test)?$/.exec(c.path);
    if (one) {
      const [, id, what] = one;
      if (!hooks.some((w) => w.id === id)) return { status: 404, body: { error: `webhook ${id}: not found` } };
      if (what === "/deliveries") return { body: { deliveries: opts.deliveries?.(id) ?? [] } };
      if (what === "/test" && c.method === "POST") {
        return { status: 202, body: { id: "n_test", kind: "test", text: "Test notification from Drover", migrationId: "", at: new Date().toISOString() } };
      }
      if (!what && c.method === "DELETE") {
        hooks.splice(
          hooks.findIndex((w) => w.id === id),
          1,
        );
        return { status: 204 };
      }
    }
    return undefined;
  });
  return { ...fake, hooks };
}

const webhookCalls = (calls: Call[], path = "/admin/webhooks") => calls.filter((c) => c.path === path);
const row = (id: string) => {
  const el = document.querySelector<HTMLElement>(`[data-webhook="${id}"]`);
  if (!el) throw new Error(`no webhook ${id} listed`);
  return el;
};
/** findRow waits for a webhook to be listed. */
const findRow = (id: string) => waitFor(() => row(id));

describe("notifications page", () => {
  it("lists the webhooks with their URLs shortened, their migration and events, and links to it from the header", async () => {
    const { api } = notifyDrover();
    renderAt("/notifications", api);
    expect(await screen.findByText("https://hooks.slack.com/…")).toBeInTheDocument();
    // The Slack token is never on the page.
    expect(document.body.textContent).not.toContain(slackToken);
    expect(document.body.innerHTML).not.toContain(slackToken);

    const slack = within(row("wh_slack"));
    expect(slack.getByText("Slack")).toHaveClass("badge");
    expect(slack.getByText("All migrations")).toBeInTheDocument();
    expect(slack.getByText("All events")).toBeInTheDocument();
    expect(slack.getByText("#migrations")).toBeInTheDocument();
    expect(slack.getByText(/by ana/)).toBeInTheDocument();

    const json = within(row("wh_json"));
    expect(json.getByText("https://receiver.example:8443/…")).toBeInTheDocument();
    expect(json.getByText("JSON")).toBeInTheDocument();
    await waitFor(() => expect(json.getByRole("link", { name: "Bump Go" })).toHaveAttribute("href", "/migrations/bump"));
    expect(json.getByText("Step failed, Rollout paused")).toBeInTheDocument();
    expect(json.getByText(/by otto/)).toBeInTheDocument();

    expect(within(document.querySelector("header.top")!).getByRole("link", { name: "Notifications" })).toHaveAttribute("href", "/notifications");
  });

  it("says there is no webhook yet", async () => {
    const { api } = notifyDrover({ hooks: [] });
    renderAt("/notifications", api);
    expect(await screen.findByRole("heading", { name: "No webhook yet" })).toBeInTheDocument();
  });

  it("adds a webhook with what the form says, and shows its secret once", async () => {
    const user = userEvent.setup();
    const { api, calls } = notifyDrover({ hooks: [] });
    renderAt("/notifications", api);
    await user.click(await screen.findByRole("button", { name: "Add webhook" }));
    const form = within(screen.getByRole("form", { name: "Add webhook" }));
    await user.type(form.getByLabelText("URL"), "https://hooks.slack.com/services/T9/B9/abc");
    expect(form.getByText(/looks like a Slack incoming webhook/)).toBeInTheDocument();
    await user.selectOptions(form.getByLabelText("Format"), "slack");
    await waitFor(() => expect(form.getByRole("option", { name: "Bump Go (bump)" })).toBeInTheDocument());
    expect(form.getByLabelText("Migration")).toHaveValue("");
    await user.selectOptions(form.getByLabelText("Migration"), "bump");
    await user.click(form.getByLabelText("Step failed"));
    await user.click(form.getByLabelText("Migration finished"));
    await user.type(form.getByLabelText("Description"), "#go-team");
    await user.click(form.getByRole("button", { name: "Add webhook" }));

    const box = within(await screen.findByTestId("webhook-secret"));
    expect(box.getByLabelText("Signing secret")).toHaveValue("whsec_only0nce");
    expect(box.getByText(/shown only this once/)).toBeInTheDocument();
    expect(box.getByText("webhook-signature")).toBeInTheDocument();
    const posts = calls.filter((c) => c.method === "POST");
    expect(posts.map((c) => [c.path, c.body])).toEqual([
      ["/admin/webhooks", { url: "https://hooks.slack.com/services/T9/B9/abc", format: "slack", migrationId: "bump", events: ["step_failed", "migration_finished"], description: "#go-team" }],
    ]);
    // The form is done; the new webhook is listed, shortened.
    expect(screen.queryByRole("form", { name: "Add webhook" })).not.toBeInTheDocument();
    expect(await within(await findRow("wh_new")).findByText("Step failed, Migration finished")).toBeInTheDocument();
    expect(within(row("wh_new")).getByText("https://hooks.slack.com/…")).toBeInTheDocument();

    await user.click(box.getByRole("button", { name: "Copy" }));
    expect(await navigator.clipboard.readText()).toBe("whsec_only0nce");
    expect(box.getByRole("button", { name: "Copied" })).toBeInTheDocument();

    await user.click(box.getByRole("button", { name: "Done, I have stored it" }));
    expect(screen.queryByTestId("webhook-secret")).not.toBeInTheDocument();
    expect(screen.queryByDisplayValue("whsec_only0nce")).not.toBeInTheDocument();
    expect(document.body.innerHTML).not.toContain("whsec_only0nce");
    expect(row("wh_new")).toBeInTheDocument();
  });

  it("shows Drover's refusal by the form, and checks the URL before sending", async () => {
    const { api, calls } = notifyDrover({
      extra: (c) => (c.path === "/admin/webhooks" && c.method === "POST" ? { status: 400, body: { error: "url: 10.0.0.7 is a private address; Drover may not call it" } } : undefined),
    });
    renderAt("/notifications", api);
    await userEvent.click(await screen.findByRole("button", { name: "Add webhook" }));
    const formEl = screen.getByRole("form", { name: "Add webhook" });
    const form = within(formEl);

    await userEvent.click(form.getByRole("button", { name: "Add webhook" }));
    expect(form.getByText("Enter the URL Drover should POST to.")).toBeInTheDocument();
    expect(form.getByLabelText("URL")).toHaveAttribute("aria-invalid", "true");
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(0);

    await userEvent.type(form.getByLabelText("URL"), "http://10.0.0.7/hook");
    await userEvent.click(form.getByRole("button", { name: "Add webhook" }));
    const refusal = await form.findByText("url: 10.0.0.7 is a private address; Drover may not call it");
    expect(refusal.closest("[role=alert]")).not.toBeNull();
    expect(formEl).toContainElement(refusal);
    expect(screen.queryByTestId("webhook-secret")).not.toBeInTheDocument();
    expect(form.getByLabelText("URL")).toHaveValue("http://10.0.0.7/hook");
  });

  it("shows an unknown migration's 404 by the form", async () => {
    const { api } = notifyDrover({
      extra: (c) => (c.path === "/admin/webhooks" && c.method === "POST" ? { status: 404, body: { error: 'migration "gone": not found' } } : undefined),
    });
    renderAt("/notifications", api);
    await userEvent.click(await screen.findByRole("button", { name: "Add webhook" }));
    const form = within(screen.getByRole("form", { name: "Add webhook" }));
    await userEvent.type(form.getByLabelText("URL"), "https://example.com/hook");
    await userEvent.click(form.getByRole("button", { name: "Add webhook" }));
    expect(await form.findByText('migration "gone": not found')).toBeInTheDocument();
  });
});

describe("a webhook's delivery log", () => {
  const at = (s: number) => new Date(Date.now() + s * 1000).toISOString();
  const delivery = (id: string, extra: Partial<WebhookDelivery>): WebhookDelivery => ({
    id,
    webhookId: "wh_json",
    kind: "step_failed",
    text: "something",
    status: "delivered",
    attempts: 1,
    createdAt: at(-600),
    updatedAt: at(-600),
    ...extra,
  });
  const log = () => [
    delivery("n3", { kind: "step_silent", text: "Step deploy of search went silent", migrationId: "bump", candidateId: "search", status: "retrying", attempts: 3, lastStatusCode: 503, lastError: "service unavailable", nextAttemptAt: at(95) }),
    delivery("n2", { kind: "rollout_paused", text: "Rollout r1 of Bump Go paused", migrationId: "bump", rolloutId: "r1", status: "failed", attempts: 8, lastError: "dial tcp: connection refused" }),
    delivery("n1", { text: "Step review of billing in Bump Go failed: tests fail", migrationId: "bump", candidateId: "billing", lastStatusCode: 200, deliveredAt: at(-599) }),
  ];
  const deliveryCalls = (calls: Call[]) => webhookCalls(calls, "/admin/webhooks/wh_json/deliveries");

  it("shows each delivery's kind, status, attempts and last answer, with links, once opened", async () => {
    const { api, calls } = notifyDrover({ deliveries: (id) => (id === "wh_json" ? log() : []) });
    renderAt("/notifications", api);
    await screen.findByText("https://receiver.example:8443/…");
    expect(deliveryCalls(calls)).toHaveLength(0);
    await userEvent.click(within(row("wh_json")).getByText("Delivery log"));
    const table = within(await within(row("wh_json")).findByRole("table", { name: "Deliveries" }));
    expect(Object.fromEntries(deliveryCalls(calls)[0].query)).toEqual({ limit: "50" });

    const tr = (id: string) => within(document.querySelector<HTMLElement>(`tr[data-delivery="${id}"]`)!);
    expect(tr("n1").getByText("Delivered")).toHaveClass("badge", "status-succeeded");
    expect(tr("n1").getByText("Step failed")).toBeInTheDocument();
    expect(tr("n1").getByRole("link", { name: "Step review of billing in Bump Go failed: tests fail" })).toHaveAttribute("href", "/migrations/bump/candidates/billing");
    expect(tr("n1").getByText("HTTP 200")).toBeInTheDocument();

    expect(tr("n3").getByText("Retrying")).toHaveClass("badge", "status-pending");
    expect(tr("n3").getByText(/^next attempt in 1m 3\ds$/)).toBeInTheDocument();
    expect(tr("n3").getByText("Silent step")).toBeInTheDocument();
    expect(tr("n3").getByText("HTTP 503: service unavailable")).toBeInTheDocument();
    expect(tr("n3").getByRole("link", { name: "Step deploy of search went silent" })).toHaveAttribute("href", "/migrations/bump/candidates/search");
    expect(tr("n3").getByText("3")).toBeInTheDocument();

    expect(tr("n2").getByText("Failed")).toHaveClass("badge", "status-failed");
    expect(tr("n2").getByText("no answer: dial tcp: connection refused")).toBeInTheDocument();
    expect(tr("n2").getByText("8")).toBeInTheDocument();
    expect(tr("n2").getByRole("link", { name: "Rollout r1 of Bump Go paused" })).toHaveAttribute("href", "/migrations/bump/rollouts/r1");

    expect(table.getAllByRole("row")).toHaveLength(4); // the header and three deliveries, newest first
    expect(table.getAllByRole("row").slice(1).map((r) => r.getAttribute("data-delivery"))).toEqual(["n3", "n2", "n1"]);
    // The other webhook's log was not asked for.
    expect(webhookCalls(calls, "/admin/webhooks/wh_slack/deliveries")).toHaveLength(0);
  });

  it("reads the log again every 5 s while it is open", async () => {
    let status: WebhookDelivery["status"] = "retrying";
    const { api, calls } = notifyDrover({ deliveries: () => [delivery("n1", { status, nextAttemptAt: status === "retrying" ? at(4) : undefined })] });
    renderAt("/notifications", api);
    await userEvent.click(await within(await findRow("wh_json")).findByText("Delivery log"));
    expect(await screen.findByText("Retrying")).toBeInTheDocument();
    status = "delivered";
    await waitFor(() => expect(screen.getByText("Delivered")).toBeInTheDocument(), { timeout: 6500 });
    expect(deliveryCalls(calls).length).toBe(2);
  }, 12_000);

  it("sends a test notification and shows its delivery", async () => {
    let sent = false;
    const { api, calls } = notifyDrover({
      deliveries: () => (sent ? [delivery("n_test", { webhookId: "wh_slack", kind: "test", text: "Test notification from Drover", status: "delivered", lastStatusCode: 200 })] : []),
      extra: (c) => {
        if (c.path === "/admin/webhooks/wh_slack/test") sent = true;
        return undefined;
      },
    });
    renderAt("/notifications", api);
    const slack = within(await findRow("wh_slack"));
    await userEvent.click(slack.getByRole("button", { name: "Send test" }));
    expect(await slack.findByText("Test notification from Drover")).toBeInTheDocument();
    expect(slack.getByText("Test")).toBeInTheDocument();
    expect(slack.getByText("Delivered")).toHaveClass("status-succeeded");
    expect(calls.filter((c) => c.method === "POST").map((c) => c.path)).toEqual(["/admin/webhooks/wh_slack/test"]);
    expect(await screen.findByText(/Test notification sent to https:\/\/hooks\.slack\.com\/…/)).toBeInTheDocument();
  });

  it("reads an open log again after a test", async () => {
    const { api, calls } = notifyDrover({ deliveries: () => [] });
    renderAt("/notifications", api);
    const json = within(await findRow("wh_json"));
    await userEvent.click(json.getByText("Delivery log"));
    expect(await json.findByText(/Nothing sent yet/)).toBeInTheDocument();
    expect(deliveryCalls(calls)).toHaveLength(1);
    await userEvent.click(json.getByRole("button", { name: "Send test" }));
    await waitFor(() => expect(deliveryCalls(calls)).toHaveLength(2));
  });
});

describe("deleting a webhook", () => {
  it("asks first, then deletes it", async () => {
    const { api, calls } = notifyDrover();
    renderAt("/notifications", api);
    const json = within(await findRow("wh_json"));
    await userEvent.click(json.getByRole("button", { name: "Delete…" }));
    let dialog = within(screen.getByRole("dialog", { name: "Delete this webhook?" }));
    expect(dialog.getByText("https://receiver.example:8443/…")).toBeInTheDocument();
    await userEvent.click(dialog.getByRole("button", { name: "Keep as is" }));
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(calls.filter((c) => c.method === "DELETE")).toHaveLength(0);

    await userEvent.click(json.getByRole("button", { name: "Delete…" }));
    dialog = within(screen.getByRole("dialog", { name: "Delete this webhook?" }));
    await userEvent.click(dialog.getByRole("button", { name: "Delete webhook" }));
    await waitFor(() => expect(document.querySelector('[data-webhook="wh_json"]')).toBeNull());
    expect(calls.filter((c) => c.method === "DELETE").map((c) => c.path)).toEqual(["/admin/webhooks/wh_json"]);
    expect(row("wh_slack")).toBeInTheDocument();
  });
});

describe("notifications for someone who is not an admin", () => {
  it("tells a viewer that only admins manage notifications, and asks Drover for nothing", async () => {
    const { api, calls } = notifyDrover({ role: "viewer" });
    renderAt("/notifications", api);
    expect(await screen.findByRole("heading", { name: "Only admins can manage notifications" })).toBeInTheDocument();
    expect(screen.getByTestId("admins-only")).toHaveTextContent("You are signed in with the viewer role.");
    expect(screen.queryByRole("button", { name: "Add webhook" })).not.toBeInTheDocument();
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
    expect(calls.some((c) => c.path.startsWith("/admin/"))).toBe(false);
    expect(within(document.querySelector("header.top")!).queryByRole("link", { name: "Notifications" })).not.toBeInTheDocument();
  });

  it("tells an operator too", async () => {
    const { api } = notifyDrover({ role: "operator" });
    renderAt("/notifications", api);
    expect(await screen.findByRole("heading", { name: "Only admins can manage notifications" })).toBeInTheDocument();
    expect(within(document.querySelector("header.top")!).queryByRole("link", { name: "Notifications" })).not.toBeInTheDocument();
  });

  it("says the same, not an error, when Drover refuses the list", async () => {
    const { api } = notifyDrover({
      extra: (c) =>
        c.path === "/auth/me" ? { status: 503, body: { error: "store down" } } : c.path === "/admin/webhooks" ? { status: 403, body: { error: "listWebhooks needs the admin role" } } : undefined,
    });
    renderAt("/notifications", api);
    expect(await screen.findByRole("heading", { name: "Only admins can manage notifications" })).toBeInTheDocument();
    expect(screen.getByText("Drover answered: listWebhooks needs the admin role")).toBeInTheDocument();
    expect(screen.queryByText(/Your role may not do this/)).not.toBeInTheDocument();
  });
});
