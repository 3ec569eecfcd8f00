import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { execFileSync } from "node:child_process";
import { clearArtifacts, launch, markStep, shoot } from "./browser";
import { startDrover, waitFor, type Drover } from "./drover";

// The "done when", in headless Chromium against a real `drover dev`: roll the demo
// migration (billing, checkout, inventory, search) out from the console as a canary of 1, then
// the rest at most 2 at a time, pausing after 1 failure; fail the canary's review and watch the
// rollout pause itself and say why; retry the failure, finish the review and resume; then leave
// the page and see the rollout carry on to the end on the server, never with more than 2 runs
// open. drover dev's rollouts look at their runs every 5 s: the test waits on conditions.
const M = "bump-go-version";
let drover: Drover;
let browser: Browser;
let page: Page;
let rolloutId = "";
const pageErrors: string[] = [];

type Step = { stepName: string; status: string; dispatchId?: string; metadata?: Record<string, string> };
type Rollout = {
  id: string;
  status: string;
  pausedReason?: string;
  waitingFor?: string;
  running: number;
  completed: number;
  failed: number;
  waves: { size: number }[];
  members: { id: string; wave: number; status: string }[];
  maxConcurrent?: number;
  pauseAfterFailures?: number;
};

async function api<T>(path: string): Promise<T> {
  const res = await fetch(drover.url + path);
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function post(path: string, json: unknown): Promise<void> {
  const res = await fetch(drover.url + path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(json) });
  if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
}

const rollout = () => api<Rollout>(`/migrations/${M}/rollouts/${rolloutId}`);

/** stepOf waits until the candidate's run has step in status, and returns it. */
function stepOf(candidate: string, name: string, status: string, timeoutMs = 30_000): Promise<Step> {
  return waitFor(
    `${candidate}'s ${name} to be ${status}`,
    async () => {
      const run = await api<{ steps: Step[] }>(`/migrations/${M}/candidates/${candidate}/steps`);
      return run.steps.find((s) => s.stepName === name && s.status === status);
    },
    timeoutMs,
  );
}

/** merge does what the pull-request step's instructions say: `git -C <dir> merge <branch>`. */
async function merge(candidate: string): Promise<void> {
  const pr = await stepOf(candidate, "pull-request", "pending");
  const m = /git -C (\S+) merge (\S+)/.exec(pr.metadata?.instructions ?? "");
  if (!m) throw new Error(`${candidate}'s pull-request step has no merge instructions: ${JSON.stringify(pr.metadata)}`);
  execFileSync("git", ["-C", m[1], "merge", "--no-edit", m[2]], { encoding: "utf8" });
}

/** finish merges a candidate's branch and marks its review done through the API, as its reviewer would. */
async function finish(candidate: string): Promise<void> {
  await merge(candidate);
  const review = await stepOf(candidate, "review", "pending");
  await post(`/migrations/${M}/candidates/${candidate}/steps/review/complete`, { status: "succeeded", dispatchId: review.dispatchId });
}



async function openPage(path: string): Promise<Page> {
  const p = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  p.on("pageerror", (e) => pageErrors.push(e.message));
  // A render error caught by the router's error page is logged, not thrown.
  p.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) pageErrors.push(m.text());
  });
  await p.goto(drover.url + path);
  return p;
}

// How many runs are open at once, sampled from the candidates' status (the ground truth) and
// from the rollout's own count, from the rollout's start to its end.
const peak = { candidates: 0, rollout: 0, samples: 0 };
let sampler: ReturnType<typeof setInterval> | undefined;
function sample() {
  let busy = false;
  sampler = setInterval(async () => {
    if (busy || !rolloutId) return;
    busy = true;
    try {
      const [running, r] = await Promise.all([api<unknown[]>(`/migrations/${M}/candidates?status=running`), rollout()]);
      peak.candidates = Math.max(peak.candidates, running.length);
      peak.rollout = Math.max(peak.rollout, r.running);
      peak.samples++;
    } catch {
      /* drover is stopping */
    } finally {
      busy = false;
    }
  }, 200);
}

beforeAll(async () => {
  clearArtifacts(/^(rollout-|failed-rollout-)/);
  drover = await startDrover();
  await waitFor("the demo migration's candidates", async () => {
    const cs = await api<{ id: string }[]>(`/migrations/${M}/candidates`);
    return cs.length === 4 ? cs : undefined;
  }, 60_000);
  browser = await launch();
  page = await openPage(`/ui/migrations/${M}`);
});

afterEach(async (ctx) => {
  if (ctx.task.result?.state === "fail" && page && !page.isClosed()) await shoot(page, `failed-rollout-${ctx.task.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 50)}`);
});

afterAll(async () => {
  if (sampler) clearInterval(sampler);
  await browser?.close();
  await drover?.stop();
});

describe("a rollout of the demo migration, from the console", () => {
  it("previews and starts a canary of 1, then the rest at most 2 at a time, pausing after 1 failure", async () => {
    const panel = page.getByTestId("rollouts");
    await panel.getByText("No rollout yet.").waitFor();
    await panel.getByRole("button", { name: "New rollout…" }).click();
    const dialog = page.getByRole("dialog", { name: "New rollout" });
    await dialog.getByLabel("Wave sizes").fill("1");
    await dialog.getByLabel("Max concurrent runs").fill("2");
    await dialog.getByLabel("After this many failures").fill("1");
    await dialog.getByLabel("Reviewer").fill("ana");
    expect(await dialog.getByRole("button", { name: "Start rollout" }).isDisabled()).toBe(true);
    const preview = dialog.getByRole("region", { name: "Preview" });
    // At a rate, the estimate comes from the server's lastStartBy: 4 starts a minute apart.
    await dialog.getByLabel("Start rate").fill("1");
    await dialog.getByRole("button", { name: "Preview" }).click();
    await preview.waitFor();
    expect(await preview.locator(".estimate").textContent()).toMatch(
      /^At 1 start a minute, the last of the 4 starts is no earlier than .+, about 3 min from now\. Waves and the max concurrent runs can only make it longer/,
    );
    // A changed form is previewed again before it can start.
    await dialog.getByLabel("Start rate").fill("");
    await preview.waitFor({ state: "detached" });
    expect(await dialog.getByRole("button", { name: "Start rollout" }).isDisabled()).toBe(true);
    await dialog.getByRole("button", { name: "Preview" }).click();
    await preview.waitFor();
    expect(await preview.locator("h3").textContent()).toBe("4 candidates in 2 waves");
    const text = await preview.textContent();
    expect(text).toContain("In start order: billing, checkout, inventory, search");
    expect(text).toContain("1, then 3");
    expect(text).toContain("at most 2 runs open");
    expect(text).toContain("after 1 failed run");
    expect(text).toContain("No start rate and no window: nothing holds the 4 starts back but the waves and the max concurrent runs");
    await shoot(page, "rollout-01-preview");

    await dialog.getByRole("button", { name: "Start rollout of 4 candidates" }).click();
    await page.waitForURL(`**/ui/migrations/${M}/rollouts/ro-*`);
    rolloutId = new URL(page.url()).pathname.split("/").pop()!;
    sample();
    await page.getByRole("heading", { level: 1, name: new RegExp(`Rollout ${rolloutId}`) }).waitFor();
    const r = await rollout();
    expect(r.waves.map((w) => w.size)).toEqual([1, 3]);
    expect([r.maxConcurrent, r.pauseAfterFailures]).toEqual([2, 1]);
    expect(r.members.map((m) => `${m.id}:${m.wave}`)).toEqual(["billing:0", "checkout:1", "inventory:1", "search:1"]);
    // The canary runs alone; the rest wait for its wave.
    await page.getByTestId("waiting-for").filter({ hasText: "Waiting for the runs of wave 1 to complete before it starts wave 2." }).waitFor({ timeout: 30_000 });
  });

  it("is paused and resumed by an operator, with the reason shown", async () => {
    await page.getByRole("button", { name: "Pause…" }).click();
    const dialog = page.getByRole("dialog", { name: "Pause the rollout?" });
    await dialog.getByLabel("Reason (optional)").fill("checking CI first");
    await dialog.getByRole("button", { name: "Pause rollout" }).click();
    const reason = page.getByTestId("paused-reason");
    await reason.waitFor({ timeout: 30_000 });
    expect(await reason.textContent()).toBe("Paused by anonymous: checking CI first");
    await page.getByRole("button", { name: "Resume" }).click();
    await page.getByTestId("waiting-for").filter({ hasText: "Waiting for the runs of wave 1" }).waitFor({ timeout: 30_000 });
    expect(await page.locator("h1 .badge").textContent()).toBe("Running");
  });

  it("pauses by itself when the canary's review fails, and says why", async () => {
    await merge("billing");
    await stepOf("billing", "review", "pending");
    // The canary's review is failed by a person, on its candidate page (linked from the rollout's).
    await page.locator('tr[data-member="billing"]').getByRole("link", { name: "billing" }).click();
    await page.getByRole("heading", { level: 1, name: /^billing/ }).waitFor();
    await markStep(page, "review", "Mark failed", "the build is red on main");
    await page.goBack();
    const reason = page.getByTestId("paused-reason");
    await reason.waitFor({ timeout: 30_000 });
    expect(await reason.textContent()).toBe("Paused: 1 run failed (pauseAfterFailures 1)");
    expect(await page.getByTestId("waiting-for").textContent()).toBe(
      "It starts nothing until it is resumed; its open runs go on. 1 run has a failed step: retry it (Retry failed) or cancel it, then resume.",
    );
    await page.locator('tr[data-member="billing"][data-status="failed"]').waitFor({ timeout: 10_000 });
    expect(await page.locator("h1 .badge").textContent()).toBe("Paused");
    const r = await rollout();
    expect(r.members.filter((m) => m.status === "waiting").map((m) => m.id)).toEqual(["checkout", "inventory", "search"]);
    await shoot(page, "rollout-02-paused");
  });

  it("retries the failure from the rollout page; the review is then done", async () => {
    const failed = (await api<{ steps: Step[] }>(`/migrations/${M}/candidates/billing/steps`)).steps.find((s) => s.stepName === "review");
    await page.getByRole("button", { name: "Retry failed" }).click();
    expect(await page.getByTestId("retry-result").locator("span").first().textContent()).toBe("Retried 1 step.");
    const again = await stepOf("billing", "review", "pending");
    expect(again.dispatchId).not.toBe(failed?.dispatchId);
    await page.locator('tr[data-member="billing"]').getByRole("link", { name: "billing" }).click();
    await markStep(page, "review", "Mark done");
    await page.locator("h1 .badge", { hasText: "Completed" }).waitFor({ timeout: 30_000 });
    await page.goBack();
    await page.locator('tr[data-member="billing"][data-status="completed"]').waitFor({ timeout: 30_000 });
    // Still paused: nothing more has started.
    expect((await rollout()).status).toBe("paused");
    expect((await api<unknown[]>(`/migrations/${M}/candidates?status=running`)).length).toBe(0);
  });

  it("resumes: the rest start, at most 2 at a time", async () => {
    await page.getByRole("button", { name: "Resume" }).click();
    await page.getByTestId("waiting-for").filter({ hasText: "Waiting for a free slot: 2 of at most 2 runs are open." }).waitFor({ timeout: 30_000 });
    expect(await page.getByTestId("paused-reason").count()).toBe(0);
    const r = await rollout();
    expect(r.members.map((m) => `${m.id}:${m.status}`)).toEqual(["billing:completed", "checkout:running", "inventory:running", "search:waiting"]);
    await shoot(page, "rollout-03-resumed");
    // The migration page shows it as an active rollout, linked to its page.
    await page.getByRole("link", { name: "Move Go modules to Go 1.26" }).first().click();
    const row = page.locator(`[data-testid="rollouts"] li[data-rollout="${rolloutId}"]`);
    await row.filter({ hasText: "1 of 4 completed, 2 running, 0 failed" }).filter({ hasText: "Waiting for a free slot" }).waitFor();
    expect(await row.getByRole("link", { name: rolloutId }).getAttribute("href")).toBe(`/ui/migrations/${M}/rollouts/${rolloutId}`);
    await shoot(page, "rollout-04-migration");
  });

  it("goes on on the server once the page is closed, to the end, never with more than 2 runs open", async () => {
    await page.close();
    await Promise.all([finish("checkout"), finish("inventory")]);
    // The last one is started by the rollout alone: nobody has the console open.
    await waitFor("the rollout to start search", async () => ((await rollout()).members.find((m) => m.id === "search")?.status === "running" ? true : undefined), 30_000);
    await finish("search");
    const done = await waitFor("the rollout to complete", async () => {
      const r = await rollout();
      return r.status === "completed" ? r : undefined;
    }, 60_000);
    expect(done.completed).toBe(4);
    clearInterval(sampler);
    expect(peak.samples).toBeGreaterThan(20);
    expect(peak.candidates).toBe(2);
    expect(peak.rollout).toBeLessThanOrEqual(2);

    page = await openPage(`/ui/migrations/${M}/rollouts/${rolloutId}`);
    await page.getByTestId("waiting-for").filter({ hasText: "Done: 4 candidates completed." }).waitFor();
    expect(await page.locator("h1 .badge").textContent()).toBe("Completed");
    expect(await page.locator("li.wave [role=progressbar]").evaluateAll((els) => els.map((e) => e.getAttribute("aria-label")))).toEqual([
      "Wave 1: 1 of 1 completed, 0 failed, 1 started",
      "Wave 2: 3 of 3 completed, 0 failed, 3 started",
    ]);
    await shoot(page, "rollout-05-completed");
  }, 150_000);

  it("raised no script error on any page", () => {
    expect(pageErrors).toEqual([]);
  });
});
