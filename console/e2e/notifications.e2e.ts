import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, Page } from "playwright-core";
import { clearArtifacts, launch, shoot, stepItem } from "./browser";
import { git, startDrover, waitFor, type Drover } from "./drover";

// An admin adds a webhook from the console, tries it, and reads its delivery log; then a real
// run of the demo notifies it when its review step waits for a person. The receiver is a plain
// HTTP server on loopback (drover dev may call loopback).
const M = "bump-go-version";
type Received = { headers: IncomingHttpHeaders; body: string };
let drover: Drover;
let browser: Browser;
let page: Page;
let receiver: Server;
let receiverUrl = "";
const received: Received[] = [];

beforeAll(async () => {
  clearArtifacts(/^(notifications-|failed-notifications-)/);
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((ok) => receiver.listen(0, "127.0.0.1", ok));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  drover = await startDrover();
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
});

afterEach(async (ctx) => {
  if (ctx.task.result?.state === "fail" && page) await shoot(page, `failed-notifications-${ctx.task.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60)}`);
});

afterAll(async () => {
  await browser?.close();
  await drover?.stop();
  receiver?.close();
});

/** verified says whether a delivery carries a valid Standard Webhooks signature by secret. */
function verified(r: Received, secret: string): boolean {
  const id = String(r.headers["webhook-id"]);
  const ts = String(r.headers["webhook-timestamp"]);
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const want = createHmac("sha256", key).update(`${id}.${ts}.${r.body}`).digest("base64");
  return String(r.headers["webhook-signature"]).split(" ").includes(`v1,${want}`);
}

const nextDelivery = (after: number, what: string) =>
  waitFor(what, async () => (received.length > after ? received[after] : undefined), 30_000);

describe("notifications in the console", () => {
  let secret = "";

  it("adds a webhook, shows its secret once, and logs a signed test delivery", async () => {
    await page.goto(`${drover.url}/ui/`);
    await page.getByRole("link", { name: "Notifications" }).click();
    await page.getByText("No webhook yet").waitFor();
    await page.getByRole("button", { name: "Add webhook" }).click();
    const form = page.getByRole("form", { name: "Add webhook" });
    await form.getByLabel("URL", { exact: true }).fill(receiverUrl);
    await form.getByLabel("Migration", { exact: true }).selectOption(M);
    await form.getByLabel("Waiting for a person").check();
    await form.getByRole("button", { name: "Add webhook" }).click();
    const box = page.locator('input[value^="whsec_"]');
    secret = await box.inputValue();
    expect(secret).toMatch(/^whsec_/);
    await shoot(page, "notifications-01-secret");
    await page.getByRole("button", { name: "Done, I have stored it" }).click();
    await expect(page.locator('input[value^="whsec_"]').count()).resolves.toBe(0);

    await page.getByRole("button", { name: "Send test" }).click();
    const test = await nextDelivery(0, "the test notification");
    expect(verified(test, secret)).toBe(true);
    expect(JSON.parse(test.body)).toMatchObject({ kind: "test", id: test.headers["webhook-id"] });
    const log = page.getByRole("table", { name: "Deliveries" });
    await log.getByText("Delivered").waitFor({ timeout: 15_000 });
    await shoot(page, "notifications-02-test-delivered");
  });

  it("is told when the demo's review step waits for a person, with a link to act on", async () => {
    const before = received.length;
    await page.goto(`${drover.url}/ui/migrations/${M}/candidates/billing`);
    await page.getByLabel("Reviewer").fill("ana");
    await page.getByRole("button", { name: "Start run" }).click();
    await stepItem(page, "pull-request", "pending").waitFor({ timeout: 30_000 });
    git(drover.dataDir, "billing", "merge", "--no-edit", "drover/bump-go");
    await stepItem(page, "review", "pending").waitFor({ timeout: 30_000 });
    const got = await nextDelivery(before, "the waiting notification");
    expect(verified(got, secret)).toBe(true);
    const note = JSON.parse(got.body);
    expect(note).toMatchObject({ kind: "step_waiting", migrationId: M, candidateId: "billing", stepName: "review" });
    expect(note.link).toBe(`${drover.url}/ui/migrations/${M}/candidates/billing`);

    await page.goto(`${drover.url}/ui/notifications`);
    await page.getByText("Delivery log").click();
    const log = page.getByRole("table", { name: "Deliveries" });
    await log.getByRole("link", { name: note.text }).waitFor({ timeout: 15_000 });
    await shoot(page, "notifications-03-waiting-logged");
  });
});
