import { useEffect, useMemo, useState } from "react";
import { keepPreviousData, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useParams, useSearchParams } from "react-router";
import { useApi } from "../api/context";
import type { Candidate, CandidateQuery, CandidateStatus, Migration, OverviewPhase, StepDefinition } from "../api/client";
import { ErrorNote } from "../components/ErrorNote";
import { ProgressBar } from "../components/ProgressBar";
import { ProgressChart } from "../components/ProgressChart";
import { useCurrentTheme } from "../components/Layout";
import { CancelRunsDialog } from "./CancelRunsDialog";
import { RolloutDialog } from "./RolloutDialog";
import { Rollouts, useRollouts } from "./Rollouts";
import { useDebounced } from "../hooks";
import { plural, when } from "../format";
import { CandidateTable, Pager } from "./CandidateTable";
import { isManual } from "../steps";
import { useCan } from "../me";
import { Activity } from "./Activity";
import { rolloutEnded, sourceFor, type RolloutSource } from "../rollout";
import { usePoll } from "../live";

const PAGE = 50;
type Tab = "all" | "attention" | CandidateStatus;
const tabs: { id: Tab; label: string }[] = [
  { id: "all", label: "All" },
  { id: "attention", label: "Needs attention" },
  { id: "not_started", label: "Not started" },
  { id: "running", label: "Running" },
  { id: "completed", label: "Completed" },
];

/** MigrationPage shows one migration: progress, phases, the chart and the candidates to act on. */
export function MigrationPage() {
  const { migrationId = "" } = useParams();
  const api = useApi();
  const qc = useQueryClient();
  const theme = useCurrentTheme();
  const [params, setParams] = useSearchParams();
  const tab = (params.get("show") as Tab) || "all";
  const page = Math.max(0, Number(params.get("page") ?? 0) || 0);
  const [text, setText] = useState(params.get("q") ?? "");
  const q = useDebounced(text.trim(), 250);
  const [selected, setSelected] = useState<Map<string, Candidate>>(new Map());
  const [allMatching, setAllMatching] = useState(false);
  const [cancelling, setCancelling] = useState(false);
  const [rollout, setRollout] = useState<{ source: RolloutSource | null; leftOut: number } | null>(null);
  const can = useCan("operator");

  const setParam = (k: string, v: string | null) =>
    setParams(
      (p) => {
        const n = new URLSearchParams(p);
        if (v === null || v === "") n.delete(k);
        else n.set(k, v);
        if (k !== "page") n.delete("page");
        return n;
      },
      { replace: true },
    );
  useEffect(() => {
    if ((params.get("q") ?? "") !== q) setParam("q", q);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [q]);

  // An active rollout starts runs at any moment: the page follows it as it follows running candidates.
  const rollingOut = useRollouts(migrationId).data?.some((r) => !rolloutEnded(r.status)) ?? false;
  const poll = usePoll();
  const migration = useQuery({
    queryKey: ["migration", migrationId],
    queryFn: () => api.getMigration(migrationId),
    refetchInterval: (query) => poll((query.state.data?.counts?.running ?? 0) > 0 || rollingOut ? 2500 : false),
  });
  const running = (migration.data?.counts?.running ?? 0) > 0 || rollingOut;
  const filter: CandidateQuery = {
    status: tab === "all" || tab === "attention" ? undefined : tab,
    attention: tab === "attention" ? true : undefined,
    q: q || undefined,
  };
  const candidates = useQuery({
    queryKey: ["candidates", migrationId, filter, page],
    queryFn: () => api.listCandidates(migrationId, { ...filter, offset: page * PAGE, limit: PAGE }),
    placeholderData: keepPreviousData,
    refetchInterval: poll(running ? 2500 : false),
    enabled: migration.isSuccess,
  });
  const progress = useQuery({
    queryKey: ["progress", migrationId],
    queryFn: () => api.getProgress(migrationId, 80),
    refetchInterval: poll(running ? 5000 : false),
    enabled: migration.isSuccess,
  });

  // A list that shrank under the page (runs completed while watching Running) shows its last page.
  const lastPage = Math.max(0, Math.ceil((candidates.data?.total ?? 0) / PAGE) - 1);
  useEffect(() => {
    if (candidates.isSuccess && page > lastPage) setParam("page", lastPage === 0 ? null : String(lastPage));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [candidates.isSuccess, page, lastPage]);

  // A new filter starts a new selection.
  useEffect(() => {
    setSelected(new Map());
    setAllMatching(false);
  }, [tab, q]);

  if (migration.error) {
    return (
      <section className="page">
        <p>
          <Link to="/">← Migrations</Link>
        </p>
        <ErrorNote error={migration.error} onRetry={() => migration.refetch()} />
      </section>
    );
  }
  if (!migration.data) return <section className="page muted">Loading…</section>;
  const m = migration.data;
  const items = candidates.data?.items ?? [];
  const total = candidates.data?.total ?? 0;
  const pageSelected = allMatching || (items.length > 0 && items.every((c) => selected.has(c.id)));
  const selectionCount = allMatching ? total : selected.size;

  const toggle = (c: Candidate) =>
    setSelected((s) => {
      const n = new Map(s);
      if (n.has(c.id)) n.delete(c.id);
      else n.set(c.id, c);
      setAllMatching(false);
      return n;
    });
  const togglePage = () =>
    setSelected((s) => {
      const n = new Map(s);
      for (const c of items) {
        if (pageSelected) n.delete(c.id);
        else n.set(c.id, c);
      }
      setAllMatching(false);
      return n;
    });
  // Starting many candidates is a rollout on the server: of the rows picked, or of every one matching the filter.
  const startSelection = () => {
    const rows = allMatching ? null : [...selected.values()];
    const source = sourceFor(rows, filter);
    const picked = source?.kind === "ids" ? source.ids.length : 0;
    setRollout({ source, leftOut: rows ? rows.length - picked : 0 });
  };
  const refresh = () => {
    void qc.invalidateQueries({ queryKey: ["migration", migrationId] });
    void qc.invalidateQueries({ queryKey: ["candidates", migrationId] });
    void qc.invalidateQueries({ queryKey: ["progress", migrationId] });
    void qc.invalidateQueries({ queryKey: ["migrations"] });
    void qc.invalidateQueries({ queryKey: ["audit", migrationId] });
    void qc.invalidateQueries({ queryKey: ["rollouts", migrationId] });
  };

  return (
    <section className="page">
      <p className="crumbs">
        <Link to="/">Migrations</Link> / <span>{m.name}</span>
      </p>
      <div className="page-head">
        <div>
          <h1>{m.name}</h1>
          <p className="desc">{m.description}</p>
          <p className="muted small">
            <code>{m.id}</code> · migrator <code>{m.migratorUrl}</code> · announced {when(m.createdAt)} ·{" "}
            <Link to={`/migrations/${encodeURIComponent(m.id)}/insights`}>Insights</Link>
          </p>
        </div>
      </div>
      <ProgressBar counts={m.counts} />

      <div className="two-col">
        <Overview m={m} />
        <div className="panel">
          <h2>Progress over time</h2>
          <ErrorNote error={progress.error} />
          {progress.data && <ProgressChart progress={progress.data} theme={theme} />}
        </div>
      </div>

      <Rollouts migrationId={m.id} canStart={(m.counts?.not_started ?? 0) > 0} onNew={() => setRollout({ source: { kind: "every" }, leftOut: 0 })} />

      <div className="panel">
        <div className="table-head">
          <h2>Candidates</h2>
          <div className="tabs" role="tablist" aria-label="Show candidates">
            {tabs.map((t) => {
              const n = t.id === "all" ? undefined : t.id === "attention" ? m.counts?.attention ?? 0 : m.counts?.[t.id];
              return (
                <button key={t.id} role="tab" aria-selected={tab === t.id} className={tab === t.id ? "tab on" : "tab"} onClick={() => setParam("show", t.id === "all" ? null : t.id)}>
                  {t.label}
                  {n !== undefined && <span className={t.id === "attention" && n > 0 ? "count warn" : "count"}>{n.toLocaleString()}</span>}
                </button>
              );
            })}
          </div>
          <input type="search" className="filter" placeholder="Filter by id, kind or metadata" aria-label="Filter candidates" value={text} onChange={(e) => setText(e.target.value)} />
        </div>

        {selectionCount > 0 && (
          <div className="bulkbar" role="region" aria-label="Selection">
            <strong>{plural(selectionCount, "candidate")} selected</strong>
            {pageSelected && !allMatching && total > items.length && (
              <button type="button" className="link" onClick={() => setAllMatching(true)}>
                Select all {total.toLocaleString()} matching
              </button>
            )}
            <span className="spacer" />
            {!can.ok && <span className="role-note">{can.why}</span>}
            <button type="button" className="primary" disabled={!can.ok} title={can.why} onClick={startSelection}>
              Start…
            </button>
            <button type="button" className="danger" disabled={!can.ok} title={can.why} onClick={() => setCancelling(true)}>
              Cancel runs…
            </button>
            <button type="button" onClick={() => (setSelected(new Map()), setAllMatching(false))}>
              Clear
            </button>
          </div>
        )}

        <ErrorNote error={candidates.error} onRetry={() => candidates.refetch()} />
        <CandidateTable
          migrationId={m.id}
          items={items}
          isSelected={(c) => allMatching || selected.has(c.id)}
          lockedSelection={allMatching}
          pageSelected={pageSelected}
          onToggle={toggle}
          onTogglePage={togglePage}
          empty={candidates.isSuccess && items.length === 0 ? (q || tab !== "all" ? "No candidate matches this filter." : "This migration has no candidates yet.") : null}
        />
        <Pager page={page} size={PAGE} total={total} go={(p) => setParam("page", p === 0 ? null : String(p))} />
      </div>

      <Activity key={m.id} migrationId={m.id} />

      {cancelling && (
        <CancelRunsDialog
          migration={m}
          selected={allMatching ? null : [...selected.values()]}
          filter={filter}
          selectedCount={selectionCount}
          onClose={(didSomething) => {
            setCancelling(false);
            if (didSomething) {
              setSelected(new Map());
              setAllMatching(false);
              refresh();
            }
          }}
        />
      )}
      {rollout && (
        <RolloutDialog
          migration={m}
          source={rollout.source}
          leftOut={rollout.leftOut}
          onClose={(created) => {
            setRollout(null);
            if (created) refresh();
          }}
        />
      )}
    </section>
  );
}

/**
 * Overview is "How it works": the announced `phases` (each with its steps) when there are any,
 * else the `overview` strings (one per phase) with the steps listed beneath, else the steps.
 */
function Overview({ m }: { m: Migration }) {
  const defs = useMemo(() => new Map(m.steps.map((s) => [s.name, s])), [m.steps]);
  const allSteps = m.steps.map((s) => s.name);
  let body;
  if (m.phases?.length) {
    body = <Phases phases={m.phases} defs={defs} />;
  } else if (m.overview?.length) {
    body = (
      <>
        <ol className="phases overview">
          {m.overview.map((p, i) => (
            <li key={i}>{p}</li>
          ))}
        </ol>
        <div className="overview-steps">
          <strong>Steps</strong>
          <StepList names={allSteps} defs={defs} />
        </div>
      </>
    );
  } else {
    body = <Phases phases={[{ name: "Steps", steps: allSteps }]} defs={defs} />;
  }
  return (
    <div className="panel" data-testid="overview">
      <h2>How it works</h2>
      {body}
      {m.requiredInputs?.length ? (
        <p className="muted small">
          Each run needs: {m.requiredInputs.map((i) => i.label).join(", ")}.
        </p>
      ) : null}
    </div>
  );
}

function Phases({ phases, defs }: { phases: OverviewPhase[]; defs: Map<string, StepDefinition> }) {
  return (
    <ol className="phases">
      {phases.map((p, i) => (
        <li key={i}>
          <strong>{p.name}</strong>
          {p.description && <span className="muted"> — {p.description}</span>}
          <StepList names={p.steps ?? []} defs={defs} />
        </li>
      ))}
    </ol>
  );
}

function StepList({ names, defs }: { names: string[]; defs: Map<string, StepDefinition> }) {
  if (names.length === 0) return null;
  return (
    <ol className="steps">
      {names.map((s, i) => {
        const def = defs.get(s);
        return (
          <li key={i} data-step={s}>
            <code>{s}</code>
            {isManual(def) && <span className="badge manual">a person</span>}
            {def?.description && <span className="muted"> {def.description}</span>}
          </li>
        );
      })}
    </ol>
  );
}
