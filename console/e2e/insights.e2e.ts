import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { clearArtifacts, launch, markStep, shoot, stepItem } from "./browser";
import { git, startDemo, type Drover } from "./drover";

// Two real runs of the demo, one completed and one whose review a person fails, read back in
// the candidate page's History panel and on the migration's Insights page.
const M = "bump-go-version";
let drover: Drover;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

const step = (name: string, status?: string) => stepItem(page, name, status);

beforeAll(async () => {
  clearArtifacts(/^(insights-|failed-insights-)/);
  drover = await startDemo();
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.on("pageerror", (e) => pageErrors.push(e.message));
});

afterEach(async (ctx) => {
  if (ctx.task.result?.state === "fail" && page) await shoot(page, `failed-insights-${ctx.task.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60)}`);
});

afterAll(async () => {
  await browser?.close();
  await drover?.stop();
});

/** run starts candidate from its page and takes it to its review, which a person then answers. */
async function run(candidate: string, reviewer: string, verb: "Mark done" | "Mark failed", reason?: string) {
  await page.goto(`${drover.url}/ui/migrations/${M}/candidates/${candidate}`);
  await page.getByLabel("Reviewer").fill(reviewer);
  await page.getByRole("button", { name: "Start run" }).click();
  await step("pull-request", "pending").waitFor({ timeout: 30_000 });
  git(drover.dataDir, candidate, "merge", "--no-edit", "drover/bump-go");
  await step("review", "pending").waitFor({ timeout: 30_000 });
  await markStep(page, "review", verb, reason);
}

describe("history and insights in the console", () => {
  it("shows a completed run's every event in the candidate's History", async () => {
    await run("billing", "ana", "Mark done");
    await page.locator("h1 .badge", { hasText: "Completed" }).waitFor({ timeout: 30_000 });
    const history = page.getByTestId("history");
    await history.getByRole("heading", { name: "History" }).click();
    const latest = history.locator(".history-run").first();
    await latest.locator('li[data-kind="run_finished"]').waitFor({ timeout: 15_000 });
    expect(await latest.getAttribute("data-status")).toBe("completed");
    const kinds = await latest.locator("li[data-kind]").evaluateAll((els) => els.map((e) => `${e.getAttribute("data-kind")} ${e.getAttribute("data-step") ?? ""}`.trim()));
    for (const want of ["run_started", "dispatched branch", "succeeded branch", "pending pull-request", "merged pull-request", "succeeded review", "succeeded cleanup", "run_finished"]) {
      expect(kinds, want).toContain(want);
    }
    await shoot(page, "insights-01-history");
  });

  it("shows remaining, per-step figures and the failure on the Insights page", async () => {
    await run("search", "bo", "Mark failed", "the build is red on main");
    await step("review", "failed").waitFor({ timeout: 30_000 });

    await page.goto(`${drover.url}/ui/migrations/${M}`);
    await page.getByRole("link", { name: "Insights" }).click();
    await page.getByRole("heading", { name: "3 of 4 remaining" }).waitFor({ timeout: 15_000 });
    const steps = page.getByRole("table", { name: "Steps" });
    const review = steps.locator("tr", { has: page.locator("code", { hasText: /^review$/ }) });
    // Two tries of review reached an outcome: billing's succeeded, search's failed.
    expect(await review.locator("td").nth(1).textContent()).toBe("2");
    expect(await review.locator("td").nth(2).textContent()).toBe("50%");
    await page.getByText("the build is red on main").first().waitFor();
    await page.getByTestId("burndown-chart").locator("canvas").first().waitFor();
    await shoot(page, "insights-02-page");
    expect(pageErrors).toEqual([]);
  });
});
