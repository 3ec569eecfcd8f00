import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page, Request } from "playwright-core";
import { clearArtifacts, launch, markStep, shoot, stepItem } from "./browser";
import { git, startDemo, waitFor, type Drover } from "./drover";

// The console follows runs through Drover's event stream alone: polling is switched off
// (localStorage drover.poll = "off"), so every change on the page came from a live event.
const M = "bump-go-version";
let drover: Drover;
let browser: Browser;
let page: Page;
const requests: { path: string; at: number }[] = [];
const pageErrors: string[] = [];

const step = (name: string, status?: string) => stepItem(page, name, status);

beforeAll(async () => {
  clearArtifacts(/^(live-|failed-live-)/);
  drover = await startDemo();
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.addInitScript(() => localStorage.setItem("drover.poll", "off"));
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("request", (r: Request) => requests.push({ path: new URL(r.url()).pathname, at: Date.now() }));
});

afterEach(async (ctx) => {
  if (ctx.task.result?.state === "fail" && page) await shoot(page, `failed-live-${ctx.task.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60)}`);
});

afterAll(async () => {
  await browser?.close();
  await drover?.stop();
});

describe("live updates in the console", () => {
  it("follows a run from start to completion with polling off", async () => {
    await page.goto(`${drover.url}/ui/migrations/${M}/candidates/billing`);
    await page.getByRole("heading", { level: 1, name: /^billing/ }).waitFor();
    await waitFor("the event stream", async () => (requests.some((r) => r.path === "/events") ? true : undefined));
    await page.getByLabel("Reviewer").fill("ana");
    await page.getByRole("button", { name: "Start run" }).click();
    await step("branch", "succeeded").waitFor({ timeout: 30_000 });
    await step("pull-request", "pending").waitFor({ timeout: 30_000 });
    // A change made outside Drover's API (the migrator sees the merge) reaches the page too.
    git(drover.dataDir, "billing", "merge", "--no-edit", "drover/bump-go");
    await step("pull-request", "merged").waitFor({ timeout: 30_000 });
    await markStep(page, "review", "Mark done");
    await step("cleanup", "succeeded").waitFor({ timeout: 30_000 });
    await page.locator("h1 .badge", { hasText: "Completed" }).waitFor({ timeout: 30_000 });
    await shoot(page, "live-01-run-completed");

    // Nothing polls: once the run's last events have been read (the end of the run comes as
    // a few events, each refetched in its own batch), the page asks the API nothing more.
    const reads = () => requests.filter((r) => r.path.startsWith("/migrations"));
    await waitFor("the run's last events to be read", async () =>
      Date.now() - (reads().at(-1)?.at ?? 0) > 1500 ? true : undefined);
    const quietFrom = Date.now();
    await new Promise((r) => setTimeout(r, 4000));
    const asked = reads().filter((r) => r.at >= quietFrom).map((r) => r.path);
    expect(asked).toEqual([]);
  });

  it("updates the migration's counts when a run starts elsewhere", async () => {
    await page.goto(`${drover.url}/ui/migrations/${M}`);
    await page.getByText("1 completed").first().waitFor();
    const res = await fetch(`${drover.url}/migrations/${M}/candidates/search/start`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ inputs: { reviewer: "bo" } }),
    });
    expect(res.status).toBe(202);
    await page.getByText("1 running").first().waitFor({ timeout: 30_000 });
    await shoot(page, "live-02-counts");
    expect(pageErrors).toEqual([]);
  });
});
