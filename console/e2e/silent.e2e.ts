import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { launch, shoot } from "./browser";
import { startDrover, waitFor, type Drover } from "./drover";

// A migrator that accepts every dispatch (202) and never calls back: after drover dev's
// --callback-timeout (2 s here) the step is "silent". The console lists the candidate under Needs
// attention with how long it has waited; the operator retries the step, which sends a new dispatch
// with a new dispatchId; the test then answers as the migrator would and the run completes.
const M = "silent-demo";
const C = "svc-a";
let drover: Drover;
let migrator: Server;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

type Dispatch = { stepName: string; callbackId: string; dispatchId?: string; candidate: { id: string } };
/** What the migrator was sent, in order. */
const dispatches: Dispatch[] = [];
const dryRuns: unknown[] = [];
const cancels: unknown[] = [];

function body(req: IncomingMessage): Promise<unknown> {
  return new Promise((ok, fail) => {
    let s = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => (s += chunk));
    req.on("end", () => {
      try {
        ok(s ? JSON.parse(s) : undefined);
      } catch (err) {
        fail(err);
      }
    });
    req.on("error", fail);
  });
}

/** startMigrator serves the silent migrator on a free loopback port. */
async function startMigrator(): Promise<string> {
  migrator = createServer(async (req, res) => {
    const reply = (status: number, json?: unknown) => {
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(json === undefined ? "" : JSON.stringify(json));
    };
    try {
      const b = await body(req);
      if (req.method === "POST" && req.url === "/dispatch-step") {
        dispatches.push(b as Dispatch);
        return reply(202, { status: "ACCEPTED" });
      }
      if (req.method === "POST" && req.url === "/dry-run") {
        dryRuns.push(b);
        return reply(200, { steps: [] });
      }
      if (req.method === "POST" && req.url === "/cancel-run") {
        cancels.push(b);
        return reply(404, { error: "no such run" });
      }
      reply(404, { error: "not found" });
    } catch (err) {
      reply(400, { error: String(err) });
    }
  });
  await new Promise<void>((ok) => migrator.listen(0, "127.0.0.1", ok));
  return `http://127.0.0.1:${(migrator.address() as AddressInfo).port}`;
}

async function post(path: string, json: unknown, want: number): Promise<unknown> {
  const res = await fetch(drover.url + path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(json) });
  const text = await res.text();
  if (res.status !== want) throw new Error(`POST ${path}: ${res.status} (want ${want}) ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** dispatchOf waits for a dispatch of step other than those already seen, and returns it. */
const dispatchOf = (step: string, seen: string[] = []) =>
  waitFor(`a new dispatch of ${step}`, async () => dispatches.find((d) => d.stepName === step && !seen.includes(d.dispatchId ?? "")), 30_000);

const step = (name: string, status?: string) => page.locator(`li[data-step="${name}"]${status ? `[data-status="${status}"]` : ""}`);

beforeAll(async () => {
  const migratorUrl = await startMigrator();
  drover = await startDrover(["--no-demo", "--callback-timeout", "2s"]);
  await post(
    "/registry/announce",
    {
      id: M,
      name: "Silent demo",
      description: "A migrator that accepts its dispatches and never calls back.",
      migratorUrl,
      candidates: [{ id: C, kind: "service" }],
      steps: [
        { name: "edit", migratorApp: "silent" },
        { name: "review", migratorApp: "silent" },
      ],
    },
    200,
  );
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("pageerror", (e) => pageErrors.push(e.message));
});

afterEach(async (ctx) => {
  if (ctx.task.result?.state === "fail" && page) await shoot(page, `failed-silent-${ctx.task.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60)}`);
});

afterAll(async () => {
  await browser?.close();
  await drover?.stop();
  if (migrator) {
    const closed = new Promise((ok) => migrator.close(ok));
    migrator.closeAllConnections();
    await closed;
  }
});

describe("a migrator that never calls back", () => {
  let first: Dispatch;
  let second: Dispatch;

  it("leaves the step silent: Needs attention says so, with how long it has waited", async () => {
    await post(`/migrations/${M}/candidates/${C}/start`, {}, 202);
    first = await dispatchOf("edit");
    expect(first.callbackId).toBe(`${M}__${C}`);
    expect(first.candidate.id).toBe(C);
    expect(first.dispatchId).toBeTruthy();

    await page.goto(`${drover.url}/ui/migrations/${M}`);
    await page.getByRole("heading", { level: 1, name: "Silent demo" }).waitFor();
    await page.getByRole("tab", { name: /Needs attention/ }).click();
    expect(new URL(page.url()).searchParams.get("show")).toBe("attention");
    // The tab's list and count follow the migration's polling: no reload.
    const row = page.locator("table.candidates tbody tr", { has: page.getByRole("link", { name: C, exact: true }) });
    await row.locator(".badge.attention-silent").waitFor({ timeout: 30_000 });
    expect((await row.locator(".badge.attention-silent").textContent())?.trim()).toBe("⚠ Silent");
    expect(await row.locator(".badge.attention-silent").getAttribute("title")).toMatch(
      /^Needs attention: The migrator accepted the dispatch and has not called back for \d+s: retry it or mark it failed\.$/,
    );
    expect(await row.locator(".waited").textContent()).toMatch(/^for \d+s$/);
    expect(await row.locator(".step-cell").textContent()).toContain("edit");
    expect(await page.locator("table.candidates tbody tr").count()).toBe(1);
    await waitFor("the Needs attention count", async () => ((await page.getByRole("tab", { name: /Needs attention/ }).textContent())?.includes("1") ? true : undefined));
    await shoot(page, "silent-needs-attention");
  });

  it("says on the candidate page that no callback came, and the retry sends a new dispatch", async () => {
    await page.getByRole("link", { name: C, exact: true }).click();
    await page.waitForURL(`**/ui/migrations/${M}/candidates/${C}`);
    await page.getByRole("heading", { level: 1, name: new RegExp(`^${C}`) }).waitFor();
    const edit = step("edit", "in_progress");
    await edit.waitFor({ timeout: 30_000 });
    await edit.locator(".badge.attention-silent").waitFor();
    const note = edit.locator(".warn-note");
    expect(await note.textContent()).toMatch(/^No callback since the migrator accepted the dispatch .+\. Retry it for a new dispatch, or mark it failed\.$/);
    expect(await edit.getByRole("button", { name: "Mark failed" }).isEnabled()).toBe(true);
    expect(await edit.getByRole("button", { name: "Mark done" }).count()).toBe(0);
    // review has not been reached.
    expect(await step("review").getAttribute("data-status")).toBe("upcoming");

    await shoot(page, "silent-candidate");

    await edit.getByRole("button", { name: "Retry edit" }).click();
    await page.getByText("Retrying edit.").waitFor();
    second = await dispatchOf("edit", [first.dispatchId!]);
    expect(second.dispatchId).toBeTruthy();
    expect(second.dispatchId).not.toBe(first.dispatchId);
    expect(second.callbackId).toBe(first.callbackId);
    // The page follows the new try: accepted and not silent (until its own callback timeout), with
    // no retry offered meanwhile.
    await page.locator('li[data-step="edit"][data-status="in_progress"]:not(:has(.badge.attention-silent))').waitFor({ timeout: 30_000 });
    expect(await step("edit").getByRole("button", { name: /^Retry/ }).count()).toBe(0);
    expect(await step("edit").locator(".warn-note").count()).toBe(0);
    await shoot(page, "silent-retried");
    // When the new try goes silent too, its retry is offered again (not stuck on "Retrying…").
    await step("edit").locator(".badge.attention-silent").waitFor({ timeout: 30_000 });
    const again = step("edit").getByRole("button", { name: "Retry edit" });
    await again.waitFor();
    expect(await again.isEnabled()).toBe(true);
    // One dispatch per try: the first and the retry's, nothing redelivered, nothing of review.
    expect(dispatches.filter((d) => d.stepName === "edit").map((d) => d.dispatchId)).toEqual([first.dispatchId, second.dispatchId]);
    expect(dispatches.some((d) => d.stepName === "review")).toBe(false);
  });

  it("completes once the migrator answers the new dispatch, and the review after it", async () => {
    await post(`/event/${M}__${C}`, { stepName: "edit", candidateId: C, status: "succeeded", dispatchId: second.dispatchId }, 202);
    const review = await dispatchOf("review");
    expect(review.dispatchId).toBeTruthy();
    await post(`/event/${M}__${C}`, { stepName: "review", candidateId: C, status: "succeeded", dispatchId: review.dispatchId }, 202);

    await step("review", "succeeded").waitFor({ timeout: 30_000 });
    await step("edit", "succeeded").waitFor();
    await page.locator("h2 .badge", { hasText: "Completed" }).waitFor({ timeout: 30_000 });
    await page.locator("h1 .badge", { hasText: "Completed" }).waitFor({ timeout: 30_000 });
    expect(await page.locator(".badge.attention").count()).toBe(0);
    expect(await page.locator(".warn-note").count()).toBe(0);
    const run = (await (await fetch(`${drover.url}/migrations/${M}/candidates/${C}/steps`)).json()) as { status: string };
    expect(run.status).toBe("completed");
    await shoot(page, "silent-completed-run");

    // Needs attention is empty again.
    await page.goto(`${drover.url}/ui/migrations/${M}?show=attention`);
    await page.getByText("No candidate matches this filter.").waitFor();
    expect(pageErrors).toEqual([]);
    await shoot(page, "silent-completed-attention");
  });
});
