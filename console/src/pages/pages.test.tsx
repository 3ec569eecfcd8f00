import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { AuditEntry, Candidate, HistoryEvent, Migration, RunCancellation, RunSteps } from "../api/client";
import { fakeDrover, renderAt, stepDef, stepState, type Call } from "../test/fake";

const migration: Migration = {
  id: "bump",
  name: "Bump Go",
  description: "Moves modules to Go 1.26.",
  migratorUrl: "http://migrator",
  createdAt: "2026-12-01T10:00:00Z",
  candidates: [],
  requiredInputs: [{ name: "reviewer", label: "Reviewer" }],
  steps: [stepDef("branch"), stepDef("review", { manual: true, description: "A person checks." }), stepDef("cleanup")],
  counts: { not_started: 7, running: 2, completed: 1, attention: 1 },
};

const candidates: Candidate[] = [
  { id: "billing", kind: "go-module", status: "running", metadata: { reviewer: "ana" }, run: { status: "running", startedAt: "2026-12-01T10:01:00Z", stepName: "review", stepStatus: "failed", attention: "failed" } },
  { id: "search", kind: "go-module", status: "not_started", metadata: { owner: "search-team" } },
];

function drover(run: RunSteps | null, extra?: (c: Call) => { status?: number; body?: unknown } | undefined) {
  return fakeDrover((call) => {
    const x = extra?.(call);
    if (x) return x;
    if (call.path === "/readyz") return { body: { status: "ready", checks: { store: "ok", temporal: "ok" } } };
    if (call.path === "/migrations") return { body: { migrations: [migration] } };
    if (call.path === "/migrations/bump") return { body: migration };
    if (call.path === "/migrations/bump/progress") return { body: { total: 10, points: [] } };
    if (call.path === "/migrations/bump/rollouts" && call.method === "GET") return { body: [] };
    if (call.path === "/migrations/bump/candidates") {
      const q = call.query.get("q") ?? "";
      const attention = call.query.get("attention") === "true";
      const hits = candidates.filter((c) => c.id.includes(q) && (!attention || c.run?.attention));
      return { body: hits, headers: { "X-Total-Count": String(hits.length) } } as never;
    }
    const one = /^\/migrations\/bump\/candidates\/([^/]+)$/.exec(call.path);
    if (one) {
      const c = candidates.find((x) => x.id === one[1]);
      return c ? { body: c } : { status: 404, body: { error: `candidate "${one[1]}" of migration "bump": not found` } };
    }
    if (call.path.endsWith("/steps")) return run ? { body: run } : { status: 404, body: { error: "candidate billing has no run" } };
    return undefined;
  });
}

/**
 * cancelledRoutes answers for search as a candidate set back to not started by a cancelled run,
 * with the run's notice to its migrator as cancellation() says at each poll.
 */
function cancelledRoutes(cancellation: () => RunCancellation | undefined) {
  const startedAt = "2026-12-01T10:01:00Z";
  const finishedAt = "2026-12-01T10:03:00Z";
  return (c: Call) => {
    if (c.path === "/migrations/bump/candidates/search") return { body: { ...candidates[1], run: { status: "cancelled", startedAt, finishedAt } } };
    if (c.path === "/migrations/bump/candidates/search/steps") {
      const run: RunSteps = { status: "cancelled", runId: "bump__search", startedAt, finishedAt, steps: [stepState(candidates[1], "branch", "succeeded")] };
      const x = cancellation();
      return { body: x ? { ...run, cancellation: x } : run };
    }
    return undefined;
  };
}

const failedRun: RunSteps = {
  status: "running",
  runId: "bump__billing",
  startedAt: "2026-12-01T10:01:00Z",
  steps: [
    stepState(candidates[0], "branch", "succeeded", { metadata: { commit: "abc123", prUrl: "https://git.example/pr/7" } }),
    stepState(candidates[0], "review", "failed", { lastError: "build is red", dispatchId: "d2" }),
  ],
};

describe("migrations page", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("lists each migration with its progress and finds it by search", async () => {
    const { api } = drover(null);
    renderAt("/", api);
    expect(await screen.findByRole("link", { name: "Bump Go" })).toBeInTheDocument();
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-label", "1 of 10 completed, 2 running, 7 not started");
    expect(screen.getByText("1 needs attention")).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText("Search migrations"), "kafka");
    expect(screen.queryByRole("link", { name: "Bump Go" })).not.toBeInTheDocument();
    expect(screen.getByText(/No migration matches/)).toBeInTheDocument();
  });

  it("shows each migration's projected completion from GET /insights", async () => {
    const at = new Date(Date.now() + 9 * 86_400_000 - 60_000).toISOString();
    const asked: string[] = [];
    vi.stubGlobal("fetch", async (input: RequestInfo | URL) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      asked.push(url.pathname + url.search);
      const body = { since: "2026-12-01T00:00:00Z", generatedAt: "2026-12-03T00:00:00Z", total: 10, remaining: 9, completed: 1, days: [], recentFailures: [],
        migrations: [{ migrationId: "bump", name: "Bump Go", total: 10, remaining: 9, completed: 1, failed: 0, completedPerDay: 1, projectedCompletion: at }] };
      return new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } });
    });
    const { api } = drover(null);
    renderAt("/", api);
    expect(await screen.findByText(/done in ~9 days .* at 1(\.0)?\/day/)).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Projection" })).toHaveAttribute("href", "/migrations/bump/insights");
    expect(asked).toContain("/insights?days=7");
  });

  it("says what is wrong when Drover answers with an error", async () => {
    const { api } = drover(null, (c) => (c.path === "/migrations" ? { status: 503, body: { error: "store: redis: connection refused" } } : undefined));
    renderAt("/", api);
    expect(await screen.findByText(/cannot reach its store or Temporal: store: redis: connection refused/)).toBeInTheDocument();
    expect(screen.getByText(/connection refused/).closest("[role=alert]")).not.toBeNull();
  });
});

describe("migration page", () => {
  it("filters candidates on the server and shows who needs attention", async () => {
    const { api, calls } = drover(null);
    renderAt("/migrations/bump", api);
    expect(await screen.findByRole("link", { name: "billing" })).toBeInTheDocument();
    expect(screen.getByText("Step failed", { exact: false })).toBeInTheDocument();
    await userEvent.click(screen.getByRole("tab", { name: /Needs attention/ }));
    await waitFor(() => expect(calls.some((c) => c.path === "/migrations/bump/candidates" && c.query.get("attention") === "true")).toBe(true));
    await userEvent.click(screen.getByRole("tab", { name: /All/ }));
    await userEvent.type(screen.getByLabelText("Filter candidates"), "sea");
    await waitFor(() => expect(screen.queryByRole("link", { name: "billing" })).not.toBeInTheDocument());
    expect(calls.some((c) => c.query.get("q") === "sea")).toBe(true);
  });

  it("cancels the selected runs on the server, in one request", async () => {
    const { api, calls } = drover(null, (c) => (c.method === "POST" ? { status: 202, body: { status: "CANCEL_REQUESTED", requested: 1 } } : undefined));
    renderAt("/migrations/bump", api);
    await screen.findByRole("link", { name: "billing" });
    await userEvent.click(screen.getByLabelText("Select this page"));
    await userEvent.click(screen.getByRole("button", { name: "Cancel runs…" }));
    const dialog = screen.getByRole("dialog");
    expect(await within(dialog).findByRole("heading", { name: "Cancel 1 run?" })).toBeInTheDocument();
    expect(within(dialog).getByText("1 other selected candidate is not running and is left as it is.")).toBeInTheDocument();
    await userEvent.click(within(dialog).getByRole("button", { name: "Cancel 1 run" }));
    expect(await within(dialog).findByText(/Drover is cancelling 1 run on the server/)).toHaveTextContent("You can leave this page: nothing stops.");
    const posts = calls.filter((c) => c.method === "POST");
    expect(posts.map((c) => [c.path, c.body])).toEqual([["/migrations/bump/cancel-runs", { candidateIds: ["billing"] }]]);
    await userEvent.click(within(dialog).getByRole("button", { name: "Close" }));
    await waitFor(() => expect(screen.queryByText(/selected/)).not.toBeInTheDocument());
  });
});

describe("moving between pages", () => {
  it("starts each migration's page afresh: no selection carries over", async () => {
    const { api } = drover(null, (c) =>
      c.path === "/migrations/other" ? { body: { ...migration, id: "other", name: "Other" } } : c.path === "/migrations/other/candidates" ? { body: [] } : undefined,
    );
    const { router } = renderAt("/migrations/bump", api);
    await screen.findByRole("link", { name: "billing" });
    await userEvent.click(screen.getByLabelText("Select billing"));
    expect(screen.getByText("1 candidate selected")).toBeInTheDocument();
    await router.navigate("/migrations/other");
    expect(await screen.findByText("This migration has no candidates yet.")).toBeInTheDocument();
    expect(screen.queryByText(/selected/)).not.toBeInTheDocument();
  });
});

describe("live updates", () => {
  const stepCalls = (calls: Call[]) => calls.filter((c) => c.path.endsWith("/steps")).length;
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it("polls a running run and stops once it has ended", async () => {
    const running = drover(failedRun);
    renderAt("/migrations/bump/candidates/billing", running.api);
    await screen.findByText("build is red");
    await pause(3300);
    expect(stepCalls(running.calls)).toBeGreaterThanOrEqual(3);
  });

  it("follows a run started from the page, even before the candidate's status catches up", async () => {
    let started = false;
    const { api, calls } = drover(null, (c) => {
      if (c.path.endsWith("/start")) {
        started = true;
        return { status: 202, body: { status: "STARTED", runId: "bump__search" } };
      }
      if (c.path.endsWith("/search/steps") && started) return { body: { ...failedRun, runId: "bump__search", steps: [stepState(candidates[1], "branch", "in_progress")] } };
      return undefined;
    });
    renderAt("/migrations/bump/candidates/search", api);
    await userEvent.type(await screen.findByLabelText("Reviewer"), "ana");
    await userEvent.click(screen.getByRole("button", { name: "Start run" }));
    expect(await screen.findByText("In progress")).toBeInTheDocument();
    const before = stepCalls(calls);
    await pause(3300);
    expect(stepCalls(calls) - before).toBeGreaterThanOrEqual(2);
  });

  it("does not poll an ended run", async () => {
    candidates[1] = { ...candidates[1], status: "completed", run: { status: "completed", startedAt: "2026-12-01T10:01:00Z", finishedAt: "2026-12-01T10:05:00Z" } };
    try {
      const done = drover({ ...failedRun, status: "completed", runId: "bump__search", steps: [] });
      renderAt("/migrations/bump/candidates/search", done.api);
      await screen.findByText("Run");
      await pause(3300);
      expect(stepCalls(done.calls)).toBe(1);
    } finally {
      candidates[1] = { id: "search", kind: "go-module", status: "not_started", metadata: { owner: "search-team" } };
    }
  });

  it("follows a cancelled run while its migrator is being told, and stops once it has answered", async () => {
    let status: RunCancellation["status"] = "notifying";
    const { api, calls } = drover(null, cancelledRoutes(() => ({ status, updatedAt: new Date(Date.now() - 120_000).toISOString() })));
    renderAt("/migrations/bump/candidates/search", api);
    expect(await screen.findByTestId("cancellation")).toHaveTextContent("Telling the migrator…");
    await pause(3300);
    expect(stepCalls(calls)).toBeGreaterThanOrEqual(2);
    status = "done";
    await waitFor(() => expect(screen.getByTestId("cancellation")).toHaveTextContent("Migrator told: cleaned up"), { timeout: 4000 });
    const after = stepCalls(calls);
    await pause(3300);
    expect(stepCalls(calls)).toBe(after);
  }, 15_000);

  it("does not ask for the steps of a candidate that never ran", async () => {
    const { api, calls } = drover(null);
    renderAt("/migrations/bump/candidates/search", api);
    await screen.findByRole("button", { name: "Preview changes" });
    await pause(200);
    expect(stepCalls(calls)).toBe(0);
  });
});

describe("candidate page", () => {
  it("shows the failed step's error, links in metadata, and retries the step", async () => {
    const { api, calls } = drover(failedRun, (c) => (c.path.endsWith("/retry-step") ? { status: 202, body: { status: "RETRYING", runId: "x" } } : undefined));
    renderAt("/migrations/bump/candidates/billing", api);
    expect(await screen.findByText("build is red")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "https://git.example/pr/7" })).toHaveAttribute("href", "https://git.example/pr/7");
    expect(screen.getByText("Upcoming")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Retry review" }));
    await waitFor(() => expect(calls.find((c) => c.path.endsWith("/retry-step"))?.body).toEqual({ stepName: "review" }));
    expect(await screen.findByText("Retrying review.")).toBeInTheDocument();
  });

  it("marks a pending manual step done with the dispatch id it answers", async () => {
    const pending: RunSteps = { ...failedRun, steps: [failedRun.steps[0], stepState(candidates[0], "review", "pending", { dispatchId: "d3", metadata: { instructions: "check the build" } })] };
    const { api, calls } = drover(pending, (c) => (c.path.endsWith("/complete") ? { status: 202, body: { status: "ACCEPTED" } } : undefined));
    renderAt("/migrations/bump/candidates/billing", api);
    await userEvent.click(await screen.findByRole("button", { name: "Mark done" }));
    await userEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Mark done" }));
    await waitFor(() => expect(calls.find((c) => c.path === "/migrations/bump/candidates/billing/steps/review/complete")).toBeDefined());
    expect(calls.find((c) => c.path === "/migrations/bump/candidates/billing/steps/review/complete")?.body).toMatchObject({ status: "succeeded", dispatchId: "d3" });
  });

  it("refuses to mark a step failed without a reason", async () => {
    const pending: RunSteps = { ...failedRun, steps: [stepState(candidates[0], "branch", "pending", { dispatchId: "d1" })] };
    const { api } = drover(pending);
    renderAt("/migrations/bump/candidates/billing", api);
    await userEvent.click(await screen.findByRole("button", { name: "Mark failed" }));
    expect(within(screen.getByRole("dialog")).getByRole("button", { name: "Mark failed" })).toBeDisabled();
  });

  it("edits a running candidate's inputs", async () => {
    const pending: RunSteps = { ...failedRun, steps: [stepState(candidates[0], "branch", "in_progress")] };
    const { api, calls } = drover(pending, (c) => (c.method === "PATCH" ? { body: { inputs: { reviewer: "zed" } } } : undefined));
    renderAt("/migrations/bump/candidates/billing", api);
    await userEvent.click(await screen.findByRole("button", { name: "Edit inputs" }));
    const field = screen.getByLabelText("Reviewer");
    expect(field).toHaveValue("ana");
    await userEvent.clear(field);
    await userEvent.type(field, "zed");
    await userEvent.click(screen.getByRole("button", { name: "Save inputs" }));
    await waitFor(() => expect(calls.find((c) => c.method === "PATCH")?.body).toEqual({ inputs: { reviewer: "zed" } }));
    expect(calls.find((c) => c.method === "PATCH")?.path).toBe("/migrations/bump/candidates/billing/inputs");
  });

  it("says so when the candidate does not exist", async () => {
    const { api } = drover(null);
    renderAt("/migrations/bump/candidates/nope", api);
    expect(await screen.findByText(/candidate "nope" of migration "bump": not found/)).toBeInTheDocument();
  });

  it("asks for missing inputs before starting, and shows the server's refusal", async () => {
    const { api, calls } = drover(null, (c) =>
      c.path.endsWith("/start") ? { status: 409, body: { error: "candidate search is already running" } } : undefined,
    );
    renderAt("/migrations/bump/candidates/search", api);
    await userEvent.click(await screen.findByRole("button", { name: "Start run" }));
    expect(screen.getByRole("alert")).toHaveTextContent("Fill in Reviewer to start.");
    expect(calls.some((c) => c.path.endsWith("/start"))).toBe(false);
    await userEvent.type(screen.getByLabelText("Reviewer"), "ana");
    await userEvent.click(screen.getByRole("button", { name: "Start run" }));
    expect(await screen.findByText("candidate search is already running")).toBeInTheDocument();
  });

  it("renders the dry run per step: diffs, skipped steps and errors", async () => {
    const { api } = drover(null, (c) =>
      c.path.endsWith("/dry-run")
        ? {
            body: {
              steps: [
                { stepName: "branch", skipped: false, files: [{ path: "go.mod", repo: "search", status: "modified", before: "go 1.22\n", after: "go 1.26\n" }] },
                { stepName: "review", skipped: true },
                { stepName: "cleanup", skipped: false, error: "cannot read the repository" },
              ],
            },
          }
        : undefined,
    );
    renderAt("/migrations/bump/candidates/search", api);
    await userEvent.click(await screen.findByRole("button", { name: "Preview changes" }));
    const dry = await screen.findByTestId("dry-run");
    expect(within(dry).getByText("Dry run: 1 file would change")).toBeInTheDocument();
    expect(within(dry).getByText("Skipped")).toBeInTheDocument();
    expect(within(dry).getByText("cannot read the repository")).toBeInTheDocument();
    expect(dry.querySelector("tr.l-add .code")?.textContent).toBe("go 1.26");
    await userEvent.click(within(dry).getByRole("tab", { name: "Split" }));
    expect(dry.querySelector("table.diff-table.split")).not.toBeNull();
  });
});

describe("candidate page, a cancelled run", () => {
  const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();
  const show = async (cancellation: RunCancellation) => {
    const { api } = drover(null, cancelledRoutes(() => cancellation));
    renderAt("/migrations/bump/candidates/search", api);
    expect(await screen.findByText(/This run was cancelled/)).toBeInTheDocument();
    return screen.getByTestId("cancellation");
  };

  it("says the migrator cleaned up, and when", async () => {
    const note = await show({ status: "done", updatedAt: minutesAgo(2) });
    expect(note).toHaveTextContent(/^Migrator told: cleaned up · 2 min ago$/);
    expect(note).toHaveAttribute("data-status", "done");
    expect(note).not.toHaveClass("warn-note");
  });

  it("says the migrator is being told, and since when", async () => {
    const note = await show({ status: "notifying", updatedAt: minutesAgo(3) });
    expect(note).toHaveTextContent(/^Telling the migrator… · since 3 min ago$/);
  });

  it("says the migrator does not clean up cancelled runs", async () => {
    const note = await show({ status: "not_supported", updatedAt: minutesAgo(5) });
    expect(note).toHaveTextContent("The migrator does not clean up cancelled runs");
    expect(note).toHaveTextContent("5 min ago");
    expect(note).not.toHaveClass("warn-note");
  });

  it("warns, with the error, when the migrator could not be told", async () => {
    const note = await show({ status: "failed", error: "migrator answered 500: boom", updatedAt: minutesAgo(60) });
    expect(note).toHaveClass("warn-note");
    expect(note).toHaveTextContent(/^Could not tell the migrator: migrator answered 500: boom; close its pull requests by hand\. · 1 h ago$/);
  });

  it("shows nothing about the migrator for a run cancelled before Drover sent notices", async () => {
    const { api } = drover(null, cancelledRoutes(() => undefined));
    renderAt("/migrations/bump/candidates/search", api);
    expect(await screen.findByText(/This run was cancelled/)).toBeInTheDocument();
    expect(screen.queryByTestId("cancellation")).not.toBeInTheDocument();
  });
});

describe("how it works", () => {
  const overviewPanel = async () => {
    await screen.findByRole("heading", { name: "How it works" });
    return screen.getByTestId("overview");
  };
  const withMigration = (m: Partial<Migration>) => drover(null, (c) => (c.path === "/migrations/bump" ? { body: { ...migration, ...m } } : undefined));

  it("shows the overview strings, one per phase, with the steps beneath", async () => {
    const { api } = withMigration({ overview: ["Change go.mod on a branch and merge it", "A person checks the build, then the branch goes"] });
    renderAt("/migrations/bump", api);
    const panel = await overviewPanel();
    const phases = panel.querySelector("ol.phases")!;
    expect([...phases.children].map((li) => li.textContent)).toEqual([
      "Change go.mod on a branch and merge it",
      "A person checks the build, then the branch goes",
    ]);
    const steps = panel.querySelector(".overview-steps")!;
    expect(within(steps as HTMLElement).getByText("Steps")).toBeInTheDocument();
    expect([...steps.querySelectorAll("li[data-step]")].map((li) => li.getAttribute("data-step"))).toEqual(["branch", "review", "cleanup"]);
    expect(steps.querySelector('li[data-step="review"] .badge.manual')).toHaveTextContent("a person");
    expect(steps.querySelector('li[data-step="branch"] .badge.manual')).toBeNull();
  });

  it("shows the phases, when announced, instead of the overview strings", async () => {
    const { api } = withMigration({
      overview: ["Change", "Finish"],
      phases: [
        { name: "Change", description: "Commit the edit on a branch.", steps: ["branch"] },
        { name: "Finish", description: "A person checks; the branch is removed.", steps: ["review", "cleanup"] },
      ],
    });
    renderAt("/migrations/bump", api);
    const panel = await overviewPanel();
    const phases = [...panel.querySelectorAll("ol.phases > li")] as HTMLElement[];
    expect(phases).toHaveLength(2);
    expect(within(phases[0]).getByText("Change")).toBeInTheDocument();
    expect(within(phases[0]).getByText(/Commit the edit on a branch/)).toBeInTheDocument();
    expect([...phases[0].querySelectorAll("li[data-step]")].map((li) => li.getAttribute("data-step"))).toEqual(["branch"]);
    expect([...phases[1].querySelectorAll("li[data-step]")].map((li) => li.getAttribute("data-step"))).toEqual(["review", "cleanup"]);
    expect(phases[1].querySelector('li[data-step="review"] .badge.manual')).toHaveTextContent("a person");
    expect(panel.querySelector(".overview-steps")).toBeNull();
  });

  it("lists the steps when there is no overview", async () => {
    const { api } = withMigration({ overview: undefined, phases: undefined });
    renderAt("/migrations/bump", api);
    const panel = await overviewPanel();
    const phases = [...panel.querySelectorAll("ol.phases > li")] as HTMLElement[];
    expect(phases).toHaveLength(1);
    expect(within(phases[0]).getByText("Steps")).toBeInTheDocument();
    expect([...phases[0].querySelectorAll("li[data-step]")].map((li) => li.getAttribute("data-step"))).toEqual(["branch", "review", "cleanup"]);
  });

  it("marks a step of type manual-review as done by a person", async () => {
    const { api } = withMigration({ steps: [stepDef("branch"), stepDef("approve", { type: "manual-review", config: { team: "platform" } })] });
    renderAt("/migrations/bump", api);
    const panel = await overviewPanel();
    expect(panel.querySelector('li[data-step="approve"] .badge.manual')).toHaveTextContent("a person");
    expect(panel.querySelector('li[data-step="branch"] .badge.manual')).toBeNull();
  });
});

describe("candidate page, wire shapes", () => {
  it("shows a pending manual-review step as waiting for a person, with Mark done emphasised", async () => {
    const steps = [stepDef("branch"), stepDef("approve", { type: "manual-review", description: "Platform approves." }), stepDef("deploy", { type: "rollout" })];
    const run: RunSteps = {
      ...failedRun,
      steps: [stepState(candidates[0], "branch", "succeeded"), stepState(candidates[0], "approve", "pending", { dispatchId: "d9" })],
    };
    const { api, calls } = drover(run, (c) =>
      c.path === "/migrations/bump" ? { body: { ...migration, steps } } : c.path.endsWith("/complete") ? { status: 202, body: { status: "ACCEPTED" } } : undefined,
    );
    renderAt("/migrations/bump/candidates/billing", api);
    const done = await screen.findByRole("button", { name: "Mark done" });
    const approve = document.querySelector('li[data-step="approve"]') as HTMLElement;
    expect(approve).toHaveAttribute("data-status", "pending");
    expect(within(approve).getByText("a person")).toHaveClass("badge", "manual");
    expect(done).toHaveClass("primary");
    expect(within(approve).getByRole("button", { name: "Mark failed" })).toHaveClass("danger");
    expect(within(approve).queryByText(/reports this step by itself/)).not.toBeInTheDocument();
    // Steps of other types are the migrator's to report.
    expect(within(document.querySelector('li[data-step="deploy"]') as HTMLElement).queryByText("a person")).not.toBeInTheDocument();
    await userEvent.click(done);
    await userEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Mark done" }));
    await waitFor(() => expect(calls.find((c) => c.path === "/migrations/bump/candidates/billing/steps/approve/complete")?.body).toMatchObject({ status: "succeeded", dispatchId: "d9" }));
  });

  it("keeps a non-manual pending step's Mark done plain, with a note that the migrator reports it", async () => {
    const run: RunSteps = { ...failedRun, steps: [stepState(candidates[0], "branch", "pending", { dispatchId: "d1" })] };
    const { api } = drover(run);
    renderAt("/migrations/bump/candidates/billing", api);
    const done = await screen.findByRole("button", { name: "Mark done" });
    expect(done).not.toHaveClass("primary");
    expect(screen.getByText(/reports this step by itself/)).toBeInTheDocument();
  });

  it("lists the file groups by name and repository, each file a safe link to its URL", async () => {
    const withFiles: Candidate = {
      ...candidates[1],
      files: [
        {
          name: "prod",
          repo: "git.example/search-deploy",
          files: [
            { path: "k8s/prod/deployment.yaml", url: "https://git.example/search-deploy/blob/main/k8s/prod/deployment.yaml" },
            { path: "evil.yaml", url: "javascript:alert(document.cookie)" },
          ],
        },
        { name: "staging", repo: "git.example/search-deploy", files: [{ path: "k8s/staging/deployment.yaml", url: "http://git.example/s.yaml" }] },
        { name: "base", repo: "search", files: [{ path: "go.mod", url: "file:///var/drover/demo/search/go.mod" }] },
      ],
    };
    const { api } = drover(null, (c) => (c.path === "/migrations/bump/candidates/search" ? { body: withFiles } : undefined));
    renderAt("/migrations/bump/candidates/search", api);
    const files = await screen.findByRole("region", { name: "Files" });
    const groups = [...files.querySelectorAll(".file-group")] as HTMLElement[];
    expect(groups.map((g) => g.getAttribute("data-group"))).toEqual(["prod", "staging", "base"]);
    expect(within(groups[0]).getByText("prod")).toBeInTheDocument();
    expect(within(groups[0]).getByText("git.example/search-deploy")).toBeInTheDocument();
    expect(within(groups[2]).getByText("search")).toBeInTheDocument();

    const prod = within(groups[0]).getByRole("link", { name: "k8s/prod/deployment.yaml" });
    expect(prod).toHaveAttribute("href", "https://git.example/search-deploy/blob/main/k8s/prod/deployment.yaml");
    expect(prod).toHaveAttribute("target", "_blank");
    expect(prod.getAttribute("rel")?.split(" ").sort()).toEqual(["noopener", "noreferrer"]);
    expect(within(groups[1]).getByRole("link", { name: "k8s/staging/deployment.yaml" })).toHaveAttribute("href", "http://git.example/s.yaml");

    // Only http(s) URLs become links: a javascript: or file: URL is shown as its path, as text.
    expect(within(groups[0]).getByText("evil.yaml").closest("a")).toBeNull();
    expect(within(groups[2]).getByText("go.mod").closest("a")).toBeNull();
    expect(screen.queryByRole("link", { name: "evil.yaml" })).not.toBeInTheDocument();
    expect(document.querySelector('a[href^="javascript"], a[href^="file"]')).toBeNull();
  });
});

describe("silent and overdue steps", () => {
  const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();
  const timedSteps = [stepDef("branch", { timeout: "30m", redeliver: 2 }), stepDef("review", { manual: true, timeout: "1h" }), stepDef("cleanup")];
  const silentRun = (): RunSteps => ({
    ...failedRun,
    steps: [
      stepState(candidates[0], "branch", "in_progress", {
        dispatchId: "d4",
        attempts: 2,
        acknowledgedAt: minutesAgo(42),
        timedOutAt: minutesAgo(12),
        redeliveries: 2,
      }),
    ],
  });
  const overdueRun = (): RunSteps => ({
    ...failedRun,
    steps: [
      stepState(candidates[0], "branch", "succeeded"),
      stepState(candidates[0], "review", "pending", { dispatchId: "d5", acknowledgedAt: minutesAgo(65), timedOutAt: minutesAgo(5) }),
    ],
  });
  const withSteps = (run: RunSteps, extra?: (c: Call) => { status?: number; body?: unknown } | undefined) =>
    drover(run, (c) => extra?.(c) ?? (c.path === "/migrations/bump" ? { body: { ...migration, steps: timedSteps } } : undefined));

  it("lists a silent candidate with how long it has waited, and an overdue one", async () => {
    const rows: Candidate[] = [
      { ...candidates[0], run: { status: "running", startedAt: "2026-12-01T10:01:00Z", stepName: "branch", stepStatus: "in_progress", attention: "silent", waitingSince: minutesAgo(12) } },
      { ...candidates[1], id: "orders", status: "running", run: { status: "running", startedAt: "2026-12-01T10:01:00Z", stepName: "review", stepStatus: "pending", attention: "overdue", waitingSince: minutesAgo(90) } },
      { ...candidates[1], id: "ledger", status: "running", run: { status: "running", startedAt: "2026-12-01T10:01:00Z", stepName: "review", stepStatus: "failed", attention: "failed" } },
    ];
    const { api } = drover(null, (c) => (c.path === "/migrations/bump/candidates" ? ({ body: rows, headers: { "X-Total-Count": "3" } } as never) : undefined));
    renderAt("/migrations/bump?show=attention", api);
    const silent = (await screen.findByRole("link", { name: "billing" })).closest("tr") as HTMLElement;
    const badge = within(silent).getByText(/Silent/);
    expect(badge).toHaveClass("badge", "attention", "attention-silent");
    expect(badge.getAttribute("title")).toMatch(/^Needs attention: The migrator accepted the dispatch and has not called back for 12m \d\ds: retry it or mark it failed\.$/);
    expect(silent.querySelector(".waited")?.textContent).toMatch(/^for 12m \d\ds$/);
    const overdue = screen.getByRole("link", { name: "orders" }).closest("tr") as HTMLElement;
    expect(within(overdue).getByText(/Overdue/)).toHaveClass("attention-overdue");
    expect(overdue.querySelector(".waited")).toHaveTextContent(/^for 1h 30m$/);
    // Other attention has no time waited.
    expect((screen.getByRole("link", { name: "ledger" }).closest("tr") as HTMLElement).querySelector(".waited")).toBeNull();
  });

  it("offers a silent step's retry and Mark failed, says since when it heard nothing, and its redeliveries and timeout", async () => {
    const { api, calls } = withSteps(silentRun(), (c) => (c.path.endsWith("/retry-step") ? { status: 202, body: { status: "RETRYING", runId: "x" } } : undefined));
    renderAt("/migrations/bump/candidates/billing", api);
    const retry = await screen.findByRole("button", { name: "Retry branch" });
    const branch = document.querySelector('li[data-step="branch"]') as HTMLElement;
    expect(within(branch).getByText("Silent", { exact: false })).toHaveClass("attention-silent");
    expect(within(branch).getByText("timeout 30m")).toHaveClass("badge", "timeout");
    expect(within(branch).getByText(/No callback since/)).toHaveTextContent(
      "No callback since the migrator accepted the dispatch 42 min ago, though it was delivered again 2 times. Retry it for a new dispatch, or mark it failed.",
    );
    // Accepted, so not "not accepted yet", whatever its attempts.
    expect(within(branch).queryByText(/has not accepted this step yet/)).not.toBeInTheDocument();
    expect(within(branch).getByRole("button", { name: "Mark failed" })).toHaveClass("danger");
    expect(within(branch).queryByRole("button", { name: "Mark done" })).not.toBeInTheDocument();
    expect(within(document.querySelector('li[data-step="cleanup"]') as HTMLElement).queryByText(/timeout/)).not.toBeInTheDocument();
    expect(retry).toHaveClass("primary");
    await userEvent.click(retry);
    await waitFor(() => expect(calls.find((c) => c.path.endsWith("/retry-step"))?.body).toEqual({ stepName: "branch" }));
    expect(await screen.findByText("Retrying branch.")).toBeInTheDocument();
    // Until the run shows the new try, the step is still silent: the button stays off.
    expect(screen.getByRole("button", { name: "Retrying…" })).toBeDisabled();
  });

  it("marks a silent step failed with the dispatch it answers", async () => {
    const { api, calls } = withSteps(silentRun(), (c) => (c.path.endsWith("/complete") ? { status: 202, body: { status: "ACCEPTED" } } : undefined));
    renderAt("/migrations/bump/candidates/billing", api);
    await userEvent.click(await screen.findByRole("button", { name: "Mark failed" }));
    const dialog = screen.getByRole("dialog");
    await userEvent.type(within(dialog).getByLabelText(/Reason/), "migrator lost it");
    await userEvent.click(within(dialog).getByRole("button", { name: "Mark failed" }));
    await waitFor(() =>
      expect(calls.find((c) => c.path === "/migrations/bump/candidates/billing/steps/branch/complete")?.body).toMatchObject({ status: "failed", dispatchId: "d4" }),
    );
  });

  it("offers an overdue step's retry beside Mark done and Mark failed, with how long it has been pending", async () => {
    const { api, calls } = withSteps(overdueRun(), (c) => (c.path.endsWith("/retry-step") ? { status: 202, body: { status: "RETRYING", runId: "x" } } : undefined));
    renderAt("/migrations/bump/candidates/billing", api);
    const retry = await screen.findByRole("button", { name: "Retry review" });
    const review = document.querySelector('li[data-step="review"]') as HTMLElement;
    expect(review).toHaveAttribute("data-status", "pending");
    expect(within(review).getByText("Overdue", { exact: false })).toHaveClass("attention-overdue");
    expect(within(review).getByText("timeout 1h")).toBeInTheDocument();
    expect(within(review).getByText(/longer than its timeout/)).toHaveTextContent(
      /^Pending for 1h 05m, longer than its timeout of 1h\. Retry it for a new dispatch, or mark it done or failed\.$/,
    );
    // A manual step's Mark done stays the emphasised action.
    expect(within(review).getByRole("button", { name: "Mark done" })).toHaveClass("primary");
    expect(retry).not.toHaveClass("primary");
    expect(within(review).getByRole("button", { name: "Mark failed" })).toBeEnabled();
    expect(within(document.querySelector('li[data-step="branch"]') as HTMLElement).queryByRole("button")).not.toBeInTheDocument();
    await userEvent.click(retry);
    await waitFor(() => expect(calls.find((c) => c.path.endsWith("/retry-step"))?.body).toEqual({ stepName: "review" }));
  });

  it("offers no retry for a pending step within its timeout", async () => {
    const run: RunSteps = { ...failedRun, steps: [stepState(candidates[0], "branch", "succeeded"), stepState(candidates[0], "review", "pending", { dispatchId: "d5", acknowledgedAt: minutesAgo(5) })] };
    const { api } = withSteps(run);
    renderAt("/migrations/bump/candidates/billing", api);
    await screen.findByRole("button", { name: "Mark done" });
    expect(screen.queryByRole("button", { name: /^Retry/ })).not.toBeInTheDocument();
    expect(screen.queryByText(/Overdue/)).not.toBeInTheDocument();
  });

  it("disables a viewer's retry of a silent step", async () => {
    const { api } = withSteps(silentRun(), (c) => (c.path === "/auth/me" ? { body: me("viewer") } : undefined));
    renderAt("/migrations/bump/candidates/billing", api);
    const retry = await screen.findByRole("button", { name: "Retry branch" });
    await waitFor(() => expect(retry).toBeDisabled());
    expect(retry).toHaveAttribute("title", "Needs the operator role; you are viewer");
    expect(screen.getByRole("button", { name: "Mark failed" })).toBeDisabled();
  });
});

const me = (role: "viewer" | "operator" | "admin", name = "otto") => ({ actor: `operator:token:tok_${name}`, kind: "operator", name, role, via: "token", authRequired: true });

describe("roles", () => {
  const as = (who: unknown, run: RunSteps | null = null) => drover(run, (c) => (c.path === "/auth/me" ? { body: who } : undefined));

  it("shows a viewer who they are and disables starting and previewing, saying why", async () => {
    const { api } = as(me("viewer", "vera"));
    renderAt("/migrations/bump/candidates/search", api);
    const start = await screen.findByRole("button", { name: "Start run" });
    await waitFor(() => expect(start).toBeDisabled());
    expect(start).toHaveAttribute("title", "Needs the operator role; you are viewer");
    expect(screen.getByRole("button", { name: "Preview changes" })).toBeDisabled();
    expect(screen.getByText("Needs the operator role; you are viewer", { selector: ".role-note" })).toBeInTheDocument();
    expect(document.querySelector(".top .who")).toHaveTextContent("vera · viewer");
  });

  it("lets an operator start and preview", async () => {
    const { api, calls } = as(me("operator"));
    renderAt("/migrations/bump/candidates/search", api);
    const start = await screen.findByRole("button", { name: "Start run" });
    await waitFor(() => expect(document.querySelector(".top .who")).toHaveTextContent("otto · operator"));
    expect(start).toBeEnabled();
    expect(start).not.toHaveAttribute("title");
    expect(screen.getByRole("button", { name: "Preview changes" })).toBeEnabled();
    expect(screen.queryByText(/Needs the operator role/)).not.toBeInTheDocument();
    expect(calls.filter((c) => c.path === "/auth/me")).toHaveLength(1);
  });

  it("disables a viewer's cancel, retry and input edits on a running run", async () => {
    const { api } = as(me("viewer"), failedRun);
    renderAt("/migrations/bump/candidates/billing", api);
    const retry = await screen.findByRole("button", { name: "Retry review" });
    await waitFor(() => expect(retry).toBeDisabled());
    expect(retry).toHaveAttribute("title", "Needs the operator role; you are viewer");
    expect(screen.getByRole("button", { name: "Cancel run…" })).toBeDisabled();
    expect(screen.getByRole("button", { name: "Edit inputs" })).toBeDisabled();
    expect(screen.getByText(/you can follow this run but not act on it/)).toBeInTheDocument();
  });

  it("disables a viewer's Mark done and Mark failed", async () => {
    const pending: RunSteps = { ...failedRun, steps: [stepState(candidates[0], "branch", "pending", { dispatchId: "d1" })] };
    const { api } = as(me("viewer"), pending);
    renderAt("/migrations/bump/candidates/billing", api);
    await waitFor(() => expect(screen.getByRole("button", { name: "Mark done" })).toBeDisabled());
    expect(screen.getByRole("button", { name: "Mark failed" })).toHaveAttribute("title", "Needs the operator role; you are viewer");
  });

  it("disables a viewer's bulk start and cancel; an admin may", async () => {
    const viewer = as(me("viewer"));
    renderAt("/migrations/bump", viewer.api);
    await screen.findByRole("link", { name: "billing" });
    await waitFor(() => expect(document.querySelector(".top .who")).toHaveTextContent("viewer"));
    await userEvent.click(screen.getByLabelText("Select this page"));
    expect(screen.getByRole("button", { name: "Start…" })).toBeDisabled();
    expect(screen.getByRole("button", { name: "Cancel runs…" })).toHaveAttribute("title", "Needs the operator role; you are viewer");
    cleanup();

    const admin = as(me("admin"));
    renderAt("/migrations/bump", admin.api);
    await screen.findByRole("link", { name: "billing" });
    await waitFor(() => expect(document.querySelector(".top .who")).toHaveTextContent("admin"));
    await userEvent.click(screen.getByLabelText("Select this page"));
    expect(screen.getByRole("button", { name: "Start…" })).toBeEnabled();
  });

  it("shows the actions when Drover runs without login (everyone is an admin)", async () => {
    const { api } = as({ actor: "anonymous", kind: "anonymous", name: "anonymous", role: "admin", via: "none", authRequired: false });
    renderAt("/migrations/bump/candidates/search", api);
    const start = await screen.findByRole("button", { name: "Start run" });
    await waitFor(() => expect(document.querySelector(".top .who")).toHaveTextContent("No login · admin"));
    expect(start).toBeEnabled();
  });
});

describe("logging in", () => {
  const anonymous = { actor: "anonymous", kind: "anonymous", name: "anonymous", via: "none", authRequired: true };

  it("says a caller is not logged in and links to the login", async () => {
    const { api } = drover(null, (c) => (c.path === "/auth/me" ? { body: { ...anonymous, loginUrl: "/auth/login" } } : c.path === "/migrations" ? { status: 401, body: { error: "authentication required" } } : undefined));
    renderAt("/", api);
    const main = screen.getByRole("main");
    expect(await within(main).findByRole("heading", { name: "You are not logged in" })).toBeInTheDocument();
    expect(within(main).getByRole("link", { name: "Log in" })).toHaveAttribute("href", "/auth/login?return=%2F");
    expect(within(main).queryByText(/authentication required/)).not.toBeInTheDocument();
  });

  it("explains that a token is needed when there is no login page", async () => {
    const { api } = drover(null, (c) => (c.path === "/auth/me" ? { body: anonymous } : undefined));
    renderAt("/migrations/bump", api);
    const main = screen.getByRole("main");
    expect(await within(main).findByRole("heading", { name: "You are not logged in" })).toBeInTheDocument();
    expect(within(main).getByText(/API tokens only/)).toBeInTheDocument();
    expect(within(main).queryByRole("link", { name: "Log in" })).not.toBeInTheDocument();
  });

  it("says the session is gone when a request answers 401", async () => {
    const { api } = drover(null, (c) => (c.path === "/migrations" ? { status: 401, body: { error: "authentication required: send Authorization: Bearer <token>, or log in to the console" } } : undefined));
    renderAt("/", api);
    expect(await screen.findByText(/^Not logged in or the session expired/)).toBeInTheDocument();
  });

  it("says the role may not when a request answers 403", async () => {
    const { api } = drover(null, (c) =>
      c.path.endsWith("/start") ? { status: 403, body: { error: "startRun needs the operator role; operator:token:tok_v is viewer" } } : undefined,
    );
    renderAt("/migrations/bump/candidates/search", api);
    await userEvent.type(await screen.findByLabelText("Reviewer"), "ana");
    await userEvent.click(screen.getByRole("button", { name: "Start run" }));
    expect(await screen.findByText("Your role may not do this: startRun needs the operator role; operator:token:tok_v is viewer")).toBeInTheDocument();
  });
});

describe("activity", () => {
  const entry = (id: string, extra: Partial<AuditEntry>): AuditEntry => ({
    id,
    at: "2026-12-01T10:02:00Z",
    actor: "operator:token:tok_ana",
    actorName: "ana",
    role: "operator",
    action: "startRun",
    method: "POST",
    path: "/migrations/bump/candidates/billing/start",
    migration: "bump",
    candidate: "billing",
    status: 202,
    outcome: "allowed",
    ...extra,
  });
  const first: AuditEntry[] = [
    entry("a3", { action: "completeStep", path: "/migrations/bump/candidates/billing/steps/review/complete" }),
    entry("a2", { actor: "anonymous", actorName: undefined, role: undefined, action: "cancelRun", path: "/migrations/bump/candidates/billing/cancel", status: 401, outcome: "refused", reason: "authentication required" }),
    entry("a1", { action: "retryStep", path: "/migrations/bump/candidates/billing/retry-step" }),
  ];
  const older: AuditEntry[] = [entry("a0", { actor: "migrator:mig_1", actorName: "bump-migrator", role: undefined, action: "announceMigration", path: "/registry/announce", candidate: undefined })];
  const withAudit = () =>
    drover(failedRun, (c) =>
      c.path === "/audit" ? { body: c.query.get("before") === "a1" ? { entries: older } : { entries: first, next: "a1" } } : undefined,
    );
  const rows = () => [...screen.getByTestId("activity").querySelectorAll("ol.activity > li")].map((li) =>
      [...li.children].map((el) => el.textContent?.replace(/\s+/g, " ").trim()).join(" "),
    );

  it("lists a migration's latest entries once opened, refusals with their reason, and pages with More", async () => {
    const { api, calls } = withAudit();
    renderAt("/migrations/bump", api);
    await screen.findByRole("link", { name: "billing" });
    expect(calls.some((c) => c.path === "/audit")).toBe(false);
    await userEvent.click(screen.getByText("Activity"));
    await waitFor(() => expect(rows()).toHaveLength(3));
    const audit = calls.find((c) => c.path === "/audit")!;
    expect(Object.fromEntries(audit.query)).toEqual({ migration: "bump", limit: "50" });
    const [marked, refused, retried] = rows();
    expect(marked).toMatch(/ana marked step review billing$/);
    expect(retried).toMatch(/ana retried step billing$/);
    expect(refused).toMatch(/anonymous Refused tried: cancelled billing authentication required$/);
    expect(screen.getByTestId("activity").querySelector('li[data-outcome="refused"]')).toHaveClass("refused");
    expect(within(screen.getByTestId("activity")).getAllByRole("link", { name: "billing" })[0]).toHaveAttribute("href", "/migrations/bump/candidates/billing");

    await userEvent.click(screen.getByRole("button", { name: "More" }));
    await waitFor(() => expect(rows()).toHaveLength(4));
    expect(rows()[3]).toMatch(/bump-migrator announced$/);
    expect(calls.filter((c) => c.path === "/audit").map((c) => c.query.get("before"))).toEqual([null, "a1"]);
    expect(screen.queryByRole("button", { name: "More" })).not.toBeInTheDocument();
  });

  it("on a candidate, lists who started, cancelled, retried or marked its steps", async () => {
    const { api, calls } = withAudit();
    renderAt("/migrations/bump/candidates/billing", api);
    await screen.findByText("build is red");
    await userEvent.click(screen.getByText("Activity"));
    await waitFor(() => expect(rows()).toHaveLength(3));
    expect(Object.fromEntries(calls.find((c) => c.path === "/audit")!.query)).toEqual({ migration: "bump", candidate: "billing", limit: "50" });
    expect(rows()[0]).toMatch(/ana marked step review$/);
    expect(within(screen.getByTestId("activity")).queryByRole("link", { name: "billing" })).not.toBeInTheDocument();
  });

  it("says when nothing is recorded, and shows the error when the log cannot be read", async () => {
    const empty = drover(null, (c) => (c.path === "/audit" ? { body: { entries: [] } } : undefined));
    renderAt("/migrations/bump", empty.api);
    await userEvent.click(await screen.findByText("Activity"));
    expect(await screen.findByText("Nothing recorded yet.")).toBeInTheDocument();
    cleanup();

    const refused = drover(null, (c) => (c.path === "/audit" ? { status: 403, body: { error: "listAudit needs the viewer role" } } : undefined));
    renderAt("/migrations/bump", refused.api);
    await userEvent.click(await screen.findByText("Activity"));
    expect(await screen.findByText("Your role may not do this: listAudit needs the viewer role")).toBeInTheDocument();
  });
});

describe("history", () => {
  const at = (s: number) => new Date(Date.UTC(2026, 11, 1, 10, 0, s)).toISOString();
  const e = (id: number, executionId: string, kind: HistoryEvent["kind"], extra: Partial<HistoryEvent> = {}): HistoryEvent => ({ id: String(id), at: at(id), kind, executionId, ...extra });
  // Newest first, as Drover answers: the running run, then (on the older page) a cancelled one.
  const newest: HistoryEvent[] = [
    e(9, "x2", "failed", { stepName: "review", try: 2, error: "build is red" }),
    e(8, "x2", "dispatched", { stepName: "review", try: 2 }),
    e(7, "x2", "pending", { stepName: "review", metadata: { prUrl: "https://git.example/pr/8" } }),
    e(6, "x2", "run_started"),
    e(5, "x1", "run_finished", { runStatus: "cancelled" }),
  ];
  const older: HistoryEvent[] = [
    e(4, "x1", "cancelled", { stepName: "branch" }),
    e(3, "x1", "dispatch_failed", { stepName: "branch", attempt: 1, error: "connection refused" }),
    e(2, "x1", "dispatched", { stepName: "branch" }),
    e(1, "x1", "run_started"),
  ];
  const withHistory = () =>
    drover(failedRun, (c) => {
      if (c.path.endsWith("/retry-step")) return { status: 202, body: { status: "RETRYING", runId: "x" } };
      if (c.path === "/migrations/bump/candidates/billing/history") return { body: c.query.get("before") === "5" ? { events: older } : { events: newest, next: "5" } };
      return undefined;
    });
  const runs = () => [...screen.getByTestId("history").querySelectorAll(".history-run")];
  const labels = (run: Element) => [...run.querySelectorAll("li .what")].map((w) => w.textContent);
  const historyCalls = (calls: Call[]) => calls.filter((c) => c.path.endsWith("/history"));

  it("shows each run's events once opened, errors and links, and loads older events", async () => {
    const { api, calls } = withHistory();
    renderAt("/migrations/bump/candidates/billing", api);
    await screen.findByText("Retry review");
    expect(historyCalls(calls)).toHaveLength(0);
    await userEvent.click(screen.getByText("History"));
    await waitFor(() => expect(runs()).toHaveLength(2));
    expect(Object.fromEntries(historyCalls(calls)[0].query)).toEqual({ limit: "200" });
    const [latest, earlier] = runs();
    expect(latest).toHaveAttribute("data-status", "running");
    expect(labels(latest)).toEqual(["run started", "review pending", "review dispatched (try 2)", "review failed (try 2): build is red"]);
    expect(latest.querySelector('li[data-kind="failed"]')).toHaveClass("error");
    expect(within(latest as HTMLElement).getByRole("link", { name: "https://git.example/pr/8" })).toHaveAttribute("href", "https://git.example/pr/8");
    // The older run's start is on the next page.
    expect(earlier).toHaveAttribute("data-status", "cancelled");
    expect(labels(earlier)).toEqual(["run cancelled"]);

    await userEvent.click(screen.getByRole("button", { name: "Load older" }));
    await waitFor(() => expect(labels(runs()[1])).toHaveLength(5));
    expect(labels(runs()[1])).toEqual([
      "run started",
      "branch dispatched",
      "branch dispatch attempt 1 did not reach the migrator: connection refused",
      "run cancelled during branch",
      "run cancelled",
    ]);
    expect(historyCalls(calls).map((c) => c.query.get("before"))).toEqual([null, "5"]);
    expect(screen.queryByRole("button", { name: "Load older" })).not.toBeInTheDocument();
  });

  it("is read again when the page refreshes the candidate", async () => {
    const { api, calls } = withHistory();
    renderAt("/migrations/bump/candidates/billing", api);
    await userEvent.click(await screen.findByText("History"));
    await waitFor(() => expect(runs()).toHaveLength(2));
    const before = historyCalls(calls).length;
    await userEvent.click(screen.getByRole("button", { name: "Retry review" }));
    await waitFor(() => expect(historyCalls(calls).length).toBeGreaterThan(before));
  });
});
