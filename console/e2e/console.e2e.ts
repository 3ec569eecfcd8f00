import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { clearArtifacts, launch, markStep, shoot, stepItem } from "./browser";
import { git, startDrover, waitFor, type Drover } from "./drover";

// One real `drover dev` with its demo migration (bump-go-version over five git repositories;
// four are candidates: billing, checkout, inventory, search), driven like an operator would.
const M = "bump-go-version";
let drover: Drover;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];
let bulkRollout = "";

async function api<T>(path: string): Promise<T> {
  const res = await fetch(drover.url + path);
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const step = (name: string, status?: string) => stepItem(page, name, status);

async function openCandidate(id: string) {
  await page.goto(`${drover.url}/ui/migrations/${M}/candidates/${id}`);
  await page.getByRole("heading", { level: 1, name: new RegExp(`^${id}`) }).waitFor();
}

async function startFromPreview(id: string, reviewer: string) {
  await openCandidate(id);
  await page.getByLabel("Reviewer").fill(reviewer);
  await page.getByRole("button", { name: "Start run" }).click();
  await step("branch", "succeeded").waitFor({ timeout: 30_000 });
}


beforeAll(async () => {
  clearArtifacts(/^(\d\d-|failed-console-)/);
  drover = await startDrover();
  await waitFor("the demo migration's candidates", async () => {
    const cs = await api<{ id: string }[]>(`/migrations/${M}/candidates`);
    return cs.length === 4 ? cs : undefined;
  }, 60_000);
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("pageerror", (e) => pageErrors.push(e.message));
});

afterEach(async (ctx) => {
  if (ctx.task.result?.state === "fail" && page) await shoot(page, `failed-console-${ctx.task.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60)}`);
});

afterAll(async () => {
  await browser?.close();
  await drover?.stop();
});

describe("the console against drover dev", () => {
  it("opens at / and shows the demo migration with its progress", async () => {
    await page.goto(drover.url + "/");
    expect(new URL(page.url()).pathname).toBe("/ui/");
    await page.getByRole("link", { name: "Move Go modules to Go 1.26" }).waitFor();
    expect(await page.getByRole("progressbar").first().getAttribute("aria-label")).toBe("0 of 4 completed, 0 running, 4 not started");
    await shoot(page, "01-migrations");
  });

  it("filters the candidates by text and by status", async () => {
    await page.getByRole("link", { name: "Move Go modules to Go 1.26" }).click();
    await page.getByRole("link", { name: "billing", exact: true }).waitFor();
    expect(await page.locator("table.candidates tbody tr").count()).toBe(4);
    await page.getByLabel("Filter candidates").fill("inv");
    await waitFor("the text filter", async () => ((await page.locator("table.candidates tbody tr").count()) === 1 ? true : undefined));
    await page.getByRole("link", { name: "inventory", exact: true }).waitFor();
    expect(new URL(page.url()).searchParams.get("q")).toBe("inv");
    await page.getByLabel("Filter candidates").fill("");
    await page.getByRole("tab", { name: /Completed/ }).click();
    await page.getByText("No candidate matches this filter.").waitFor();
    await page.getByRole("tab", { name: /^All/ }).click();
    await page.getByRole("link", { name: "search", exact: true }).waitFor();
    // "How it works" shows the announced phases (not only the overview strings) with their steps;
    // review, of type manual-review, is marked as done by a person.
    const overview = page.getByTestId("overview");
    expect(await overview.locator("ol.phases > li > strong").allTextContents()).toEqual(["Change", "Finish"]);
    expect(await overview.locator("li[data-step]").evaluateAll((els) => els.map((e) => e.getAttribute("data-step")))).toEqual(["branch", "pull-request", "review", "cleanup"]);
    expect(await overview.locator('li[data-step="review"] .badge.manual').textContent()).toBe("a person");
    expect(await overview.locator('li[data-step="branch"] .badge.manual').count()).toBe(0);
    await shoot(page, "02-migration");
  });

  it("previews a candidate: the dry run's go.mod diff, unified and split", async () => {
    await page.getByRole("link", { name: "billing", exact: true }).click();
    const files = page.getByRole("region", { name: "Files" });
    const base = files.locator('.file-group[data-group="base"]');
    await base.waitFor();
    expect(await base.textContent()).toContain("billing");
    expect(await base.locator(".file-list li").allTextContents()).toEqual(["go.mod"]);
    // The demo's file URL is a file: URL: shown as its path, never as a link.
    expect(await base.locator("a").count()).toBe(0);
    await page.getByLabel("Reviewer").fill("ana");
    await page.getByRole("button", { name: "Preview changes" }).click();
    const dry = page.getByTestId("dry-run");
    await dry.waitFor();
    expect(await dry.locator("tr.l-del .code").first().textContent()).toBe("go 1.21");
    expect(await dry.locator("tr.l-add .code").first().textContent()).toBe("go 1.26");
    await shoot(page, "03-preview-unified");
    await dry.getByRole("tab", { name: "Split" }).click();
    await dry.locator("table.diff-table.split").first().waitFor();
    await shoot(page, "04-preview-split");
    // A dry run changes nothing.
    expect(git(drover.dataDir, "billing", "branch", "--list", "drover/*").trim()).toBe("");
  });

  it("starts the run and follows it live: pending, merged, a person's review, completed", async () => {
    await page.getByRole("button", { name: "Start run" }).click();
    await step("pull-request", "pending").waitFor({ timeout: 30_000 });
    expect(await step("pull-request").textContent()).toContain("Merge it: git -C");
    await shoot(page, "05-run-pending");
    // The operator merges the branch outside Drover; the page follows without a reload.
    git(drover.dataDir, "billing", "merge", "--no-edit", "drover/bump-go");
    await step("pull-request", "merged").waitFor({ timeout: 30_000 });
    await step("review", "pending").waitFor({ timeout: 30_000 });
    expect(await step("review").locator(".badge.manual").textContent()).toBe("a person");
    expect(await step("review").getByRole("button", { name: "Mark done" }).getAttribute("class")).toContain("primary");
    await markStep(page, "review", "Mark done");
    await step("cleanup", "succeeded").waitFor({ timeout: 30_000 });
    await page.locator("h1 .badge", { hasText: "Completed" }).waitFor({ timeout: 30_000 });
    expect(git(drover.dataDir, "billing", "show", "main:go.mod")).toContain("go 1.26");
    await shoot(page, "06-run-completed");
  });

  it("fails a step, shows it as needing attention, and retries it", async () => {
    await startFromPreview("checkout", "bo");
    await step("pull-request", "pending").waitFor({ timeout: 30_000 });
    git(drover.dataDir, "checkout", "merge", "--no-edit", "drover/bump-go");
    await step("review", "pending").waitFor({ timeout: 30_000 });
    await markStep(page, "review", "Mark failed", "the build is red on main");
    await step("review", "failed").waitFor({ timeout: 30_000 });
    expect(await step("review").locator(".error-note").textContent()).toContain("the build is red on main");

    await page.goto(`${drover.url}/ui/migrations/${M}?show=attention`);
    await page.getByRole("link", { name: "checkout", exact: true }).waitFor();
    expect(await page.locator("table.candidates tbody tr").count()).toBe(1);
    expect(await page.getByRole("tab", { name: /Needs attention/ }).textContent()).toContain("1");
    await shoot(page, "07-needs-attention");

    await page.getByRole("link", { name: "checkout", exact: true }).click();
    await step("review", "failed").getByRole("button", { name: "Retry review" }).click();
    await step("review", "pending").waitFor({ timeout: 30_000 });
    await shoot(page, "08-retried");
  });

  it("cancels a run after confirming", async () => {
    await startFromPreview("inventory", "cy");
    await step("pull-request", "pending").waitFor({ timeout: 30_000 });
    await page.getByRole("button", { name: "Cancel run…" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Cancel the run" }).click();
    await page.locator("h2 .badge", { hasText: "Cancelled" }).waitFor({ timeout: 30_000 });
    await page.locator("h1 .badge", { hasText: "Not started" }).waitFor({ timeout: 30_000 });
    const run = await api<{ status: string }>(`/migrations/${M}/candidates/inventory/steps`);
    expect(run.status).toBe("cancelled");
    await shoot(page, "09-cancelled");
  });

  it("bulk-starts the candidates that have not started, as a rollout on the server", async () => {
    await page.goto(`${drover.url}/ui/migrations/${M}?show=not_started`);
    await page.getByRole("link", { name: "inventory", exact: true }).waitFor();
    await page.getByLabel("Select this page").check();
    await page.getByRole("button", { name: "Start…" }).click();
    const dialog = page.getByRole("dialog", { name: "New rollout" });
    await dialog.getByText("Rolls out the 2 selected candidates").waitFor();
    await dialog.getByLabel("Reviewer").fill("dee");
    await dialog.getByRole("button", { name: "Preview" }).click();
    await dialog.getByRole("heading", { name: "2 candidates in 1 wave" }).waitFor();
    await shoot(page, "10-bulk-confirm");
    await dialog.getByRole("button", { name: "Start rollout of 2 candidates" }).click();
    await page.waitForURL(`**/ui/migrations/${M}/rollouts/ro-*`);
    bulkRollout = new URL(page.url()).pathname.split("/").pop()!;
    const m = await waitFor("two more running candidates", async () => {
      const m = await api<{ counts: { running: number } }>(`/migrations/${M}`);
      return m.counts.running === 3 ? m : undefined;
    });
    expect(m.counts.running).toBe(3);
    await page.goto(`${drover.url}/ui/migrations/${M}`);
    await page.getByText("1 completed").first().waitFor();
    await page.locator(`[data-testid="rollouts"] li[data-rollout="${bulkRollout}"]`).waitFor();
    await shoot(page, "11-bulk-started");
  });

  it("jumps to a candidate from the command palette", async () => {
    await page.keyboard.press("Control+k");
    await page.getByPlaceholder("Jump to a migration or candidate…").fill("sear");
    const item = page.locator("[cmdk-item]", { hasText: "search" }).first();
    await item.waitFor();
    await shoot(page, "12-palette");
    await page.keyboard.press("Enter");
    await page.waitForURL(`**/ui/migrations/${M}/candidates/search`);
    await page.getByRole("heading", { level: 1, name: /^search/ }).waitFor();
  });

  it("keeps deep links on reload and reads well in the dark theme", async () => {
    await page.reload();
    await page.getByRole("heading", { level: 1, name: /^search/ }).waitFor();
    await page.getByRole("button", { name: /Switch to the dark theme/ }).click();
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe("dark");
    expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe("rgb(15, 20, 27)");
    await shoot(page, "13-run-dark");
    await page.goto(`${drover.url}/ui/migrations/${M}`);
    await page.getByRole("link", { name: "search", exact: true }).waitFor();
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe("dark");
    await shoot(page, "14-migration-dark");
    await page.getByRole("button", { name: /Switch to the light theme/ }).click();
  });

  it("pages through a 10,000-candidate migration and filters it on the server", async () => {
    const candidates = Array.from({ length: 10_000 }, (_, i) => ({
      id: `svc-${String(i).padStart(5, "0")}`,
      kind: "service",
      metadata: { team: `team-${i % 40}` },
    }));
    const res = await fetch(`${drover.url}/registry/announce`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        id: "big",
        name: "A big one",
        description: "Ten thousand services.",
        migratorUrl: "http://127.0.0.1:9",
        steps: [{ name: "edit", migratorApp: "big" }],
        candidates,
      }),
    });
    expect(res.status).toBe(200);
    await page.goto(`${drover.url}/ui/migrations/big`);
    await page.getByText("1–50 of 10,000").waitFor();
    expect(await page.locator("table.candidates tbody tr").count()).toBe(50);
    await page.getByRole("button", { name: "Next →" }).click();
    await page.getByText("51–100 of 10,000").waitFor();
    await page.getByRole("link", { name: "svc-00050", exact: true }).waitFor();
    await page.getByLabel("Filter candidates").fill("team-7");
    await page.getByText("1–50 of 250").waitFor();
    await page.getByLabel("Filter candidates").fill("svc-09999");
    await page.getByText("1–1 of 1").waitFor();
    await page.getByLabel("Filter candidates").fill("");
    await page.getByText("1–50 of 10,000").waitFor();
    await shoot(page, "15-ten-thousand");
  });

  it("fits a small laptop screen without sideways scrolling", async () => {
    await page.setViewportSize({ width: 1024, height: 700 });
    try {
      for (const [path, name] of [
        ["/ui/", "16-laptop-migrations"],
        [`/ui/migrations/${M}`, "17-laptop-migration"],
        [`/ui/migrations/${M}/candidates/checkout`, "18-laptop-run"],
        [`/ui/migrations/${M}/rollouts/${bulkRollout}`, "19-laptop-rollout"],
      ]) {
        await page.goto(drover.url + path);
        await page.getByRole("heading", { level: 1 }).waitFor();
        await page.waitForLoadState("networkidle");
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        expect(overflow, `${path} scrolls sideways by ${overflow}px`).toBeLessThanOrEqual(0);
        await shoot(page, name);
      }
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
  });

  it("raised no script error on any page", () => {
    expect(pageErrors).toEqual([]);
  });
});
