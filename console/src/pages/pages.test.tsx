import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { Candidate, Migration, RunSteps } from "../api/client";
import { fakeDrover, renderAt, type Call } from "../test/fake";

const migration: Migration = {
  id: "bump",
  name: "Bump Go",
  description: "Moves modules to Go 1.26.",
  migratorUrl: "http://migrator",
  createdAt: "2026-12-01T10:00:00Z",
  candidates: [],
  requiredInputs: [{ name: "reviewer", label: "Reviewer" }],
  steps: [{ name: "branch" }, { name: "review", manual: true, description: "A person checks." }, { name: "cleanup" }],
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

const failedRun: RunSteps = {
  status: "running",
  runId: "bump__billing",
  startedAt: "2026-12-01T10:01:00Z",
  steps: [
    { stepName: "branch", candidate: "billing", status: "succeeded", metadata: { commit: "abc123", prUrl: "https://git.example/pr/7" } },
    { stepName: "review", candidate: "billing", status: "failed", lastError: "build is red", dispatchId: "d2" },
  ],
};

describe("migrations page", () => {
  it("lists each migration with its progress and finds it by search", async () => {
    const { api } = drover(null);
    renderAt("/", api);
    expect(await screen.findByRole("link", { name: "Bump Go" })).toBeInTheDocument();
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-label", "1 of 10 completed, 2 running, 7 not started");
    expect(screen.getByText("1 need attention")).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText("Search migrations"), "kafka");
    expect(screen.queryByRole("link", { name: "Bump Go" })).not.toBeInTheDocument();
    expect(screen.getByText(/No migration matches/)).toBeInTheDocument();
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

  it("confirms a bulk start with the count and starts each selected candidate", async () => {
    const { api, calls } = drover(null, (c) => (c.method === "POST" ? { status: 202, body: { status: "STARTED", runId: "x" } } : undefined));
    renderAt("/migrations/bump", api);
    await screen.findByRole("link", { name: "billing" });
    await userEvent.click(screen.getByLabelText("Select this page"));
    await userEvent.click(screen.getByRole("button", { name: "Start…" }));
    const dialog = screen.getByRole("dialog");
    expect(await within(dialog).findByRole("heading", { name: "Start 1 candidate?" })).toBeInTheDocument();
    expect(within(dialog).getByText("1 other selected candidate is already running or completed and is skipped.")).toBeInTheDocument();
    await userEvent.type(within(dialog).getByLabelText(/Reviewer/), "lee");
    await userEvent.click(within(dialog).getByRole("button", { name: "Start 1 candidate" }));
    expect(await within(dialog).findByText("Started 1 of 1.")).toBeInTheDocument();
    const starts = calls.filter((c) => c.method === "POST");
    expect(starts.map((c) => [c.path, c.body])).toEqual([["/migrations/bump/candidates/search/start", { inputs: { reviewer: "lee" } }]]);
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
      if (c.path.endsWith("/search/steps") && started) return { body: { ...failedRun, runId: "bump__search", steps: [{ stepName: "branch", candidate: "search", status: "in_progress" }] } };
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
    const pending: RunSteps = { ...failedRun, steps: [failedRun.steps[0], { stepName: "review", candidate: "billing", status: "pending", dispatchId: "d3", metadata: { instructions: "check the build" } }] };
    const { api, calls } = drover(pending, (c) => (c.path.startsWith("/event/") ? { status: 202, body: { status: "ACCEPTED" } } : undefined));
    renderAt("/migrations/bump/candidates/billing", api);
    await userEvent.click(await screen.findByRole("button", { name: "Mark done" }));
    await userEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Mark done" }));
    await waitFor(() => expect(calls.find((c) => c.path === "/event/bump__billing")).toBeDefined());
    expect(calls.find((c) => c.path === "/event/bump__billing")?.body).toMatchObject({ stepName: "review", status: "succeeded", dispatchId: "d3" });
  });

  it("refuses to mark a step failed without a reason", async () => {
    const pending: RunSteps = { ...failedRun, steps: [{ stepName: "branch", candidate: "billing", status: "pending", dispatchId: "d1" }] };
    const { api } = drover(pending);
    renderAt("/migrations/bump/candidates/billing", api);
    await userEvent.click(await screen.findByRole("button", { name: "Mark failed" }));
    expect(within(screen.getByRole("dialog")).getByRole("button", { name: "Mark failed" })).toBeDisabled();
  });

  it("edits a running candidate's inputs", async () => {
    const pending: RunSteps = { ...failedRun, steps: [{ stepName: "branch", candidate: "billing", status: "in_progress" }] };
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
