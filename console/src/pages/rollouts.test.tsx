import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { Candidate, Migration, Rollout } from "../api/client";
import { fakeDrover, renderAt, stepDef, type Call } from "../test/fake";

const migration: Migration = {
  id: "bump",
  name: "Bump Go",
  description: "Moves modules to Go 1.26.",
  migratorUrl: "http://migrator",
  createdAt: "2026-12-01T10:00:00Z",
  candidates: [],
  requiredInputs: [{ name: "reviewer", label: "Reviewer" }],
  steps: [stepDef("branch"), stepDef("review", { manual: true })],
  counts: { not_started: 3, running: 1, completed: 0, attention: 0 },
};

const candidates: Candidate[] = [
  { id: "billing", kind: "go-module", status: "running", run: { status: "running", startedAt: "2026-12-01T10:01:00Z", stepName: "review", stepStatus: "pending" } },
  { id: "search", kind: "go-module", status: "not_started" },
  { id: "checkout", kind: "go-module", status: "not_started" },
];

const paused: Rollout = {
  id: "ro-1a2b",
  migrationId: "bump",
  status: "paused",
  pausedReason: "1 run failed (pauseAfterFailures 1)",
  waitingFor: "resume",
  wave: 0,
  total: 3,
  started: 1,
  running: 0,
  completed: 0,
  failed: 1,
  skipped: 0,
  cancelled: 0,
  waves: [
    { size: 1, started: 1, completed: 0, failed: 1 },
    { size: 2, started: 0, completed: 0, failed: 0 },
  ],
  members: [
    { id: "billing", wave: 0, status: "failed" },
    { id: "search", wave: 1, status: "waiting" },
    { id: "checkout", wave: 1, status: "waiting" },
  ],
  maxConcurrent: 2,
  pauseAfterFailures: 1,
  inputs: { reviewer: "ana" },
  createdBy: "operator:token:tok_otto",
  createdAt: "2026-12-01T11:00:00Z",
  updatedAt: "2026-12-01T11:05:00Z",
};

type Reply = { status?: number; body?: unknown } | undefined;

/** drover answers for the migration, its candidates and its rollouts; extra answers first. */
function drover(rollout: () => Rollout, extra?: (c: Call) => Reply) {
  return fakeDrover((call) => {
    const x = extra?.(call);
    if (x) return x;
    if (call.path === "/readyz") return { body: { status: "ready", checks: { store: "ok", temporal: "ok" } } };
    if (call.path === "/migrations/bump") return { body: migration };
    if (call.path === "/migrations/bump/progress") return { body: { total: 3, points: [] } };
    if (call.path === "/migrations/bump/candidates") return { body: candidates, headers: { "X-Total-Count": String(candidates.length) } } as never;
    if (call.path === "/migrations/bump/rollouts" && call.method === "GET") {
      const { members: _, ...r } = rollout();
      return { body: [{ ...r, id: "ro-old", status: "completed", waitingFor: undefined }, r] };
    }
    if (call.path === `/migrations/bump/rollouts/${rollout().id}` && call.method === "GET") return { body: rollout() };
    if (call.method === "POST" && call.path.startsWith("/migrations/bump/rollouts/")) return { status: 202, body: { status: "REQUESTED" } };
    return undefined;
  });
}

const posts = (calls: Call[]) => calls.filter((c) => c.method === "POST").map((c) => [c.path, c.body]);

describe("creating a rollout", () => {
  it("rolls out the selected candidates: the preview shows their number, waves, limits and estimate; Start creates it and opens its page", async () => {
    const created = { ...paused, id: "ro-new", status: "running", pausedReason: undefined, waitingFor: "slot" } as Rollout;
    let made = false;
    const { api, calls } = drover(
      () => (made ? created : paused),
      (c) => {
        if (c.method !== "POST" || c.path !== "/migrations/bump/rollouts") return undefined;
        const body = c.body as { preview: boolean };
        if (body.preview) return { body: { total: 1, candidateIds: ["search"], waves: [1], lastStartBy: new Date(Date.now() + 3_600_000).toISOString() } };
        made = true;
        return { status: 201, body: created };
      },
    );
    const { router } = renderAt("/migrations/bump", api);
    await screen.findByRole("link", { name: "search" });
    await userEvent.click(screen.getByLabelText("Select billing"));
    await userEvent.click(screen.getByLabelText("Select search"));
    await userEvent.click(screen.getByRole("button", { name: "Start…" }));
    const dialog = screen.getByRole("dialog", { name: "New rollout" });
    expect(dialog).toHaveTextContent("Rolls out the selected candidate of Bump Go, on the server");
    expect(dialog).toHaveTextContent("1 other selected candidate is running or completed and is left out.");
    expect(within(dialog).getByRole("button", { name: "Start rollout" })).toBeDisabled();

    await userEvent.type(within(dialog).getByLabelText("Wave sizes"), "1");
    await userEvent.type(within(dialog).getByLabelText("Max concurrent runs"), "2");
    await userEvent.type(within(dialog).getByLabelText("Start rate"), "1");
    await userEvent.selectOptions(within(dialog).getByLabelText("Rate per"), "hour");
    await userEvent.type(within(dialog).getByLabelText("After this many failures"), "1");
    await userEvent.type(within(dialog).getByLabelText("Reviewer"), "lee");
    await userEvent.click(within(dialog).getByRole("button", { name: "Preview" }));

    const preview = await within(dialog).findByRole("region", { name: "Preview" });
    expect(preview).toHaveTextContent("1 candidate in 1 wave");
    expect(preview).toHaveTextContent("In start order: search");
    expect(preview).toHaveTextContent("at most 2 runs open");
    expect(preview).toHaveTextContent("1 start an hour");
    expect(preview).toHaveTextContent("after 1 failed run");
    expect(preview).toHaveTextContent(/At 1 start an hour, the start is no earlier than .*, about 1 h from now\. Waves and the max concurrent runs can only make it longer/);
    expect(posts(calls)).toEqual([
      ["/migrations/bump/rollouts", { candidateIds: ["search"], waves: [1], maxConcurrent: 2, startsPerHour: 1, pauseAfterFailures: 1, inputs: { reviewer: "lee" }, preview: true }],
    ]);

    // A changed form needs a new preview before it can start.
    await userEvent.type(within(dialog).getByLabelText("Max concurrent runs"), "0");
    expect(within(dialog).queryByRole("region", { name: "Preview" })).not.toBeInTheDocument();
    expect(within(dialog).getByRole("button", { name: "Start rollout" })).toBeDisabled();
    await userEvent.clear(within(dialog).getByLabelText("Max concurrent runs"));
    await userEvent.type(within(dialog).getByLabelText("Max concurrent runs"), "2");
    await userEvent.click(within(dialog).getByRole("button", { name: "Preview" }));
    await userEvent.click(await within(dialog).findByRole("button", { name: "Start rollout of 1 candidate" }));

    await waitFor(() => expect(router.state.location.pathname).toBe("/migrations/bump/rollouts/ro-new"));
    expect(await screen.findByRole("heading", { level: 1, name: /Rollout ro-new/ })).toBeInTheDocument();
    const sent = posts(calls);
    expect(sent[sent.length - 1]).toEqual([
      "/migrations/bump/rollouts",
      { candidateIds: ["search"], waves: [1], maxConcurrent: 2, startsPerHour: 1, pauseAfterFailures: 1, inputs: { reviewer: "lee" }, preview: false },
    ]);
    // Nothing was started one candidate at a time from the browser.
    expect(calls.some((c) => c.path.endsWith("/start"))).toBe(false);
  });

  it("rolls out every not-started candidate from the Rollouts panel, within a window in the browser's time zone", async () => {
    const { api, calls } = drover(
      () => paused,
      (c) => (c.method === "POST" && c.path === "/migrations/bump/rollouts" ? { body: { total: 2, candidateIds: ["search", "checkout"], waves: [2], lastStartBy: new Date(Date.now() + 86_400_000).toISOString() } } : undefined),
    );
    renderAt("/migrations/bump", api);
    await userEvent.click(await screen.findByRole("button", { name: "New rollout…" }));
    const dialog = screen.getByRole("dialog", { name: "New rollout" });
    expect(dialog).toHaveTextContent("Rolls out every not-started candidate of Bump Go");
    await userEvent.click(within(dialog).getByLabelText("Only start within a time window"));
    expect(within(dialog).getByLabelText("Time zone")).toHaveValue(Intl.DateTimeFormat().resolvedOptions().timeZone);
    await userEvent.click(within(dialog).getByLabelText("Fri"));
    await userEvent.clear(within(dialog).getByLabelText("Time zone"));
    await userEvent.type(within(dialog).getByLabelText("Time zone"), "Europe/Berlin");
    await userEvent.click(within(dialog).getByRole("button", { name: "Preview" }));
    const preview = await within(dialog).findByRole("region", { name: "Preview" });
    expect(preview).toHaveTextContent("2 candidates in 1 wave");
    expect(preview).toHaveTextContent("Mon–Thu 09:00–17:00 (Europe/Berlin)");
    expect(preview).toHaveTextContent(/Within its window, the last of the 2 starts is no earlier than .*, about 24 h from now\./);
    expect(posts(calls)).toEqual([["/migrations/bump/rollouts", { window: { start: "09:00", end: "17:00", timeZone: "Europe/Berlin", days: ["mon", "tue", "wed", "thu"] }, preview: true }]]);
  });

  it("shows the server's refusal next to the field it names, and the form's own checks before asking", async () => {
    let reply = { error: 'window.timeZone: "Mars/Olympus" is not a known time zone (IANA names such as Europe/Berlin)', field: "window.timeZone" };
    const { api, calls } = drover(
      () => paused,
      (c) => (c.method === "POST" && c.path === "/migrations/bump/rollouts" ? { status: 400, body: reply } : undefined),
    );
    renderAt("/migrations/bump", api);
    await userEvent.click(await screen.findByRole("button", { name: "New rollout…" }));
    const dialog = screen.getByRole("dialog", { name: "New rollout" });
    await userEvent.type(within(dialog).getByLabelText("Wave sizes"), "1, x");
    await userEvent.click(within(dialog).getByRole("button", { name: "Preview" }));
    expect(within(dialog).getByLabelText("Wave sizes")).toHaveAttribute("aria-invalid", "true");
    expect(within(dialog).getByText("“x” is not a wave size: give whole numbers such as 1, 5, 25")).toBeInTheDocument();
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(0);

    await userEvent.clear(within(dialog).getByLabelText("Wave sizes"));
    await userEvent.click(within(dialog).getByLabelText("Only start within a time window"));
    await userEvent.clear(within(dialog).getByLabelText("Time zone"));
    await userEvent.type(within(dialog).getByLabelText("Time zone"), "Mars/Olympus");
    await userEvent.click(within(dialog).getByRole("button", { name: "Preview" }));
    const tz = within(dialog).getByLabelText("Time zone");
    await waitFor(() => expect(tz).toHaveAttribute("aria-invalid", "true"));
    expect(tz).toHaveAccessibleDescription('"Mars/Olympus" is not a known time zone (IANA names such as Europe/Berlin)');

    reply = { error: "candidate search is missing required input(s): reviewer (Reviewer); give them in inputs, or leave the candidate out", field: "inputs" };
    await userEvent.clear(tz);
    await userEvent.type(tz, "UTC");
    await userEvent.click(within(dialog).getByRole("button", { name: "Preview" }));
    expect(await within(dialog).findByText(/candidate search is missing required input\(s\): reviewer/)).toHaveAttribute("data-field", "inputs");
    expect(within(dialog).getByLabelText("Time zone")).toHaveAttribute("aria-invalid", "false");
    expect(within(dialog).getByRole("button", { name: "Start rollout" })).toBeDisabled();
  });

  it("says so when none of the selected candidates can start", async () => {
    const { api } = drover(() => paused);
    renderAt("/migrations/bump", api);
    await userEvent.click(await screen.findByLabelText("Select billing"));
    await userEvent.click(screen.getByRole("button", { name: "Start…" }));
    const dialog = screen.getByRole("dialog", { name: "Nothing to start" });
    expect(dialog).toHaveTextContent("None of the selected candidates is not started");
  });
});

describe("the migration page's rollouts", () => {
  it("shows the active rollouts with their progress and why they wait, linking to their page; ended ones folded", async () => {
    const { api } = drover(() => paused);
    renderAt("/migrations/bump", api);
    const panel = await screen.findByTestId("rollouts");
    const active = await within(panel).findByRole("link", { name: "ro-1a2b" });
    expect(active).toHaveAttribute("href", "/migrations/bump/rollouts/ro-1a2b");
    expect(within(panel).getByText("1 active")).toBeInTheDocument();
    const row = active.closest("li")!;
    expect(row).toHaveTextContent("Paused");
    expect(row).toHaveTextContent("Paused: 1 run failed (pauseAfterFailures 1)");
    expect(within(row as HTMLElement).getByRole("progressbar")).toHaveAccessibleName("ro-1a2b: 0 of 3 completed, 0 running, 1 failed");
    expect(within(panel).getByText("1 ended rollout")).toBeInTheDocument();
  });

  it("follows the candidates while a rollout is active, though none runs yet", async () => {
    const waiting: Rollout = { ...paused, status: "waiting_for_window", waitingFor: "window", failed: 0, started: 0 };
    const idle = { ...migration, counts: { not_started: 3, running: 0, completed: 0, attention: 0 } };
    const { api, calls } = drover(
      () => waiting,
      (c) => (c.path === "/migrations/bump" ? { body: idle } : undefined),
    );
    renderAt("/migrations/bump", api);
    await screen.findByRole("link", { name: "ro-1a2b" });
    const lists = () => calls.filter((c) => c.path === "/migrations/bump/candidates").length;
    const before = lists();
    await new Promise((r) => setTimeout(r, 2700));
    expect(lists()).toBeGreaterThan(before);
  });
});

describe("the rollout page", () => {
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const gets = (calls: Call[]) => calls.filter((c) => c.method === "GET" && c.path === "/migrations/bump/rollouts/ro-1a2b").length;

  it("says why it paused and what it waits for, shows each wave's progress, the plan and the members; Retry failed shows its result", async () => {
    const { api, calls } = drover(
      () => paused,
      (c) =>
        c.path.endsWith("/retry-failed")
          ? { status: 202, body: { retried: 1, errors: [{ candidateId: "checkout", stepName: "review", error: "the run has ended" }] } }
          : undefined,
    );
    renderAt("/migrations/bump/rollouts/ro-1a2b", api);
    expect(await screen.findByRole("heading", { level: 1, name: /Rollout ro-1a2b/ })).toHaveTextContent("Paused");
    expect(screen.getByTestId("paused-reason")).toHaveTextContent("Paused: 1 run failed (pauseAfterFailures 1)");
    expect(screen.getByTestId("waiting-for")).toHaveTextContent("It starts nothing until it is resumed; its open runs go on. 1 run has a failed step: retry it (Retry failed)");
    const waves = [...document.querySelectorAll("li.wave")];
    expect(waves.map((w) => w.querySelector("[role=progressbar]")?.getAttribute("aria-label"))).toEqual([
      "Wave 1: 0 of 1 completed, 1 failed, 1 started",
      "Wave 2: 0 of 2 completed, 0 failed, 0 started",
    ]);
    expect(waves[0]).toHaveTextContent("(canary)");
    expect(waves[1]).toHaveTextContent("(the rest)");
    expect(screen.getByText("at most 2 runs open; a run with a failed step frees its slot")).toBeInTheDocument();
    expect(screen.getByText("reviewer = ana")).toBeInTheDocument();
    expect(screen.getAllByText(/operator:token:tok_otto/).length).toBeGreaterThan(0);
    expect(screen.getByRole("link", { name: "billing" })).toHaveAttribute("href", "/migrations/bump/candidates/billing");
    expect(document.querySelector('tr[data-member="billing"]')).toHaveTextContent("Failed");

    // Paused: Resume and Retry failed apply; Pause and Approve do not.
    expect(screen.queryByRole("button", { name: "Pause…" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /Approve/ })).not.toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Retry failed" }));
    const result = await screen.findByTestId("retry-result");
    expect(result).toHaveTextContent("Retried 1 step; 1 step could not be retried:");
    expect(result).toHaveTextContent("checkout review: the run has ended");
    await userEvent.click(screen.getByRole("button", { name: "Resume" }));
    await waitFor(() => expect(posts(calls)).toContainEqual(["/migrations/bump/rollouts/ro-1a2b/resume", undefined]));
    expect(posts(calls)[0]).toEqual(["/migrations/bump/rollouts/ro-1a2b/retry-failed", undefined]);
  });

  it("pauses with a reason, approves the next wave, and cancels with its open runs", async () => {
    let r: Rollout = { ...paused, status: "running", pausedReason: undefined, waitingFor: "slot", running: 2, failed: 0 };
    const { api, calls } = drover(() => r);
    renderAt("/migrations/bump/rollouts/ro-1a2b", api);
    expect(await screen.findByTestId("waiting-for")).toHaveTextContent("Waiting for a free slot: 2 of at most 2 runs are open.");
    expect(screen.queryByRole("button", { name: "Resume" })).not.toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Pause…" }));
    await userEvent.type(within(screen.getByRole("dialog")).getByLabelText("Reason (optional)"), "CI is red");
    await userEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Pause rollout" }));
    await waitFor(() => expect(posts(calls)).toEqual([["/migrations/bump/rollouts/ro-1a2b/pause", { reason: "CI is red" }]]));

    r = { ...r, status: "waiting_for_approval", waitingFor: "approval", wave: 1, approveWaves: true };
    await userEvent.click(await screen.findByRole("button", { name: "Approve wave 2" }, { timeout: 4000 }));
    await waitFor(() => expect(posts(calls)).toContainEqual(["/migrations/bump/rollouts/ro-1a2b/approve", undefined]));

    await userEvent.click(screen.getByRole("button", { name: "Cancel rollout…" }));
    const dialog = screen.getByRole("dialog", { name: "Cancel the rollout?" });
    expect(dialog).toHaveTextContent("It starts none of its 2 waiting candidates");
    await userEvent.click(within(dialog).getByLabelText(/Also cancel its 2 open runs/));
    await userEvent.click(within(dialog).getByRole("button", { name: "Cancel rollout and runs" }));
    await waitFor(() => expect(posts(calls)).toContainEqual(["/migrations/bump/rollouts/ro-1a2b/cancel", { cancelRuns: true }]));
  }, 10_000);

  it("refreshes while it has not ended, and stops once it has", async () => {
    let r: Rollout = { ...paused, status: "running", waitingFor: "runs" };
    const { api, calls } = drover(() => r);
    renderAt("/migrations/bump/rollouts/ro-1a2b", api);
    await screen.findByTestId("waiting-for");
    await pause(2300);
    expect(gets(calls)).toBeGreaterThanOrEqual(2);
    r = { ...paused, status: "completed", waitingFor: undefined, pausedReason: undefined, completed: 3, failed: 0 };
    await waitFor(() => expect(screen.getByTestId("waiting-for")).toHaveTextContent("Done: 3 candidates completed."), { timeout: 3000 });
    const after = gets(calls);
    await pause(2300);
    expect(gets(calls)).toBe(after);
    // An ended rollout offers no actions; its runs are all closed.
    expect(screen.queryByRole("button", { name: /Pause|Resume|Cancel rollout|Retry failed/ })).not.toBeInTheDocument();
  }, 10_000);

  it("disables a viewer's actions, saying why", async () => {
    const { api } = drover(
      () => paused,
      (c) => (c.path === "/auth/me" ? { body: { actor: "operator:token:tok_vera", kind: "operator", name: "vera", role: "viewer", via: "token", authRequired: true } } : undefined),
    );
    renderAt("/migrations/bump/rollouts/ro-1a2b", api);
    const resume = await screen.findByRole("button", { name: "Resume" });
    await waitFor(() => expect(resume).toBeDisabled());
    expect(resume).toHaveAttribute("title", "Needs the operator role; you are viewer");
    expect(screen.getByRole("button", { name: "Retry failed" })).toBeDisabled();
    expect(screen.getByRole("button", { name: "Cancel rollout…" })).toBeDisabled();
  });

  it("says so when the rollout does not exist", async () => {
    const { api } = drover(
      () => paused,
      (c) => (c.path === "/migrations/bump/rollouts/ro-nope" ? { status: 404, body: { error: "migration bump has no rollout ro-nope: rollout not found" } } : undefined),
    );
    renderAt("/migrations/bump/rollouts/ro-nope", api);
    expect(await screen.findByRole("alert")).toHaveTextContent("migration bump has no rollout ro-nope");
  });
});
