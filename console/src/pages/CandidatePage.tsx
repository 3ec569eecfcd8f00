import { useEffect, useMemo, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useParams } from "react-router";
import { ApiError, describe, type Candidate, type Migration, type RunCancellation, type RunSteps } from "../api/client";
import { useApi } from "../api/context";
import { StatusBadge } from "../components/Badges";
import { ErrorNote, MigrationPageError } from "../components/ErrorNote";
import { FileGroups } from "../components/FileGroups";
import { Linkified } from "../components/Linkified";
import { Confirm } from "../components/Modal";
import { useToast } from "../components/Toasts";
import { ago, duration, when } from "../format";
import { useNow } from "../hooks";
import { Preview } from "./Preview";
import { Timeline } from "./Timeline";
import { initialInputs } from "../inputs";
import { useCan } from "../me";
import { Activity } from "./Activity";
import { History, historyKey } from "./History";
import { usePoll } from "../live";

/** CandidatePage is one candidate: its run's timeline with the actions an operator needs, and the preview. */
export function CandidatePage() {
  const { migrationId = "", candidateId = "" } = useParams();
  const api = useApi();
  const qc = useQueryClient();
  const toast = useToast();
  const [confirmCancel, setConfirmCancel] = useState(false);
  const can = useCan("operator");

  const poll = usePoll();
  const migration = useQuery({ queryKey: ["migration", migrationId], queryFn: () => api.getMigration(migrationId) });
  // Until a start is seen in the run's state (its workflow records the run a moment after the
  // 202), the page keeps polling.
  const [awaitingRun, setAwaitingRun] = useState(false);
  const candidate = useQuery({
    queryKey: ["candidate", migrationId, candidateId],
    queryFn: () => api.getCandidate(migrationId, candidateId),
    enabled: migration.isSuccess,
    refetchInterval: (q) => poll(q.state.data?.status === "running" || awaitingRun ? 3000 : false),
  });
  const candidateRunning = candidate.data?.status === "running";
  // The history follows the candidate: each time the page's own polling (or an action) brings
  // the candidate again, the loaded pages of the history are read again too.
  const candidateAt = candidate.dataUpdatedAt;
  useEffect(() => {
    if (candidateAt) void qc.invalidateQueries({ queryKey: historyKey(migrationId, candidateId) });
  }, [candidateAt, qc, migrationId, candidateId]);
  // A candidate that never ran has no steps to ask for; once a run is seen, the page follows it.
  const [seenRun, setSeenRun] = useState(false);
  const hasRun = seenRun || Boolean(candidate.data?.run?.startedAt) || candidateRunning || awaitingRun;
  useEffect(() => {
    if (hasRun) setSeenRun(true);
  }, [hasRun]);
  const steps = useQuery({
    queryKey: ["steps", migrationId, candidateId],
    queryFn: async (): Promise<RunSteps | null> => {
      try {
        return await api.getSteps(migrationId, candidateId);
      } catch (err) {
        // Between the start's 202 and the workflow's first write the run is not recorded yet.
        if (err instanceof ApiError && err.status === 404 && /never run/i.test(err.message)) return null;
        throw err;
      }
    },
    enabled: candidate.isSuccess && hasRun,
    // Live while the run runs; polling stops once it has ended. A cancelled run's notice to its
    // migrator can take a while (Drover retries an unreachable migrator for up to an hour), so it
    // is followed more slowly until the migrator has answered.
    refetchInterval: (q) =>
      poll(q.state.data?.status === "running" || candidateRunning || awaitingRun ? 1500 : q.state.data?.cancellation?.status === "notifying" ? 3000 : false),
  });
  useEffect(() => {
    if (awaitingRun && steps.data?.status === "running") setAwaitingRun(false);
  }, [awaitingRun, steps.data?.status]);
  // When the run starts or ends, the candidate's status and the migration's counts change too.
  const runStatus = steps.data?.status;
  useEffect(() => {
    if (!runStatus) return;
    void qc.invalidateQueries({ queryKey: ["candidate", migrationId, candidateId] });
    void qc.invalidateQueries({ queryKey: ["migration", migrationId] });
  }, [runStatus, qc, migrationId, candidateId]);
  useEffect(() => {
    if (!awaitingRun) return;
    const t = setTimeout(() => setAwaitingRun(false), 30_000);
    return () => clearTimeout(t);
  }, [awaitingRun]);

  const refresh = () => {
    void qc.invalidateQueries({ queryKey: ["steps", migrationId, candidateId] });
    void qc.invalidateQueries({ queryKey: ["candidate", migrationId, candidateId] });
    void qc.invalidateQueries({ queryKey: ["migration", migrationId] });
    void qc.invalidateQueries({ queryKey: ["candidates", migrationId] });
    void qc.invalidateQueries({ queryKey: ["audit", migrationId] });
  };
  const cancel = useMutation({
    mutationFn: () => api.cancel(migrationId, candidateId),
    onSuccess: (how) => {
      setConfirmCancel(false);
      toast("ok", how === "done" ? `Cancelled the run of ${candidateId}.` : `Cancel requested for ${candidateId}; its clean-up is still running.`);
      refresh();
    },
    onError: (err) => {
      setConfirmCancel(false);
      toast("error", `Cancel failed: ${describe(err)}`);
      refresh();
    },
  });

  useEffect(() => {
    document.title = `${candidateId} · Drover`;
  }, [candidateId]);

  const m = migration.data;
  const c = candidate.data;
  const defs = useMemo(() => (c?.steps?.length ? c.steps : m?.steps ?? []), [c, m]);
  const error = migration.error ?? candidate.error;
  if (error) {
    return <MigrationPageError migrationId={migrationId} error={error} onRetry={() => (migration.refetch(), candidate.refetch())} />;
  }
  if (!m || !c) return <section className="page muted">Loading…</section>;
  const run = steps.data;
  const running = run?.status === "running";

  return (
    <section className="page">
      <p className="crumbs">
        <Link to="/">Migrations</Link> / <Link to={`/migrations/${m.id}`}>{m.name}</Link> / <span>{c.id}</span>
      </p>
      <div className="page-head">
        <div>
          <h1>
            {c.id} <StatusBadge status={c.status} />
          </h1>
          <p className="muted">
            {c.kind} in <Link to={`/migrations/${m.id}`}>{m.name}</Link>
          </p>
        </div>
        {running && (
          <button type="button" className="danger" disabled={!can.ok} title={can.why} onClick={() => setConfirmCancel(true)}>
            Cancel run…
          </button>
        )}
      </div>

      {Object.keys(c.metadata ?? {}).length > 0 && (
        <dl className="meta">
          {Object.entries(c.metadata ?? {}).map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>
                <Linkified text={v} />
              </dd>
            </div>
          ))}
        </dl>
      )}
      <FileGroups groups={c.files ?? []} />

      <ErrorNote error={steps.error} onRetry={() => steps.refetch()} />
      {run && (
        <div className="panel" id="run">
          <div className="table-head">
            <h2>
              Run <StatusBadge status={run.status} />
            </h2>
            <span className="muted small">
              started {when(run.startedAt)}
              {run.finishedAt ? `, ended ${when(run.finishedAt)}` : ""} · {duration(run.startedAt, run.finishedAt)}
              {running && <span className="live"> · live</span>}
            </span>
          </div>
          {running && !can.ok && <p className="role-note">{can.why}: you can follow this run but not act on it.</p>}
          {run.status === "cancelled" && <p className="muted">This run was cancelled; the candidate can be started again below.</p>}
          {run.cancellation && <Cancellation cancellation={run.cancellation} />}
          <Timeline migrationId={m.id} candidate={c} defs={defs} run={run} onChange={refresh} />
          {running && <Inputs migration={m} candidate={c} onChange={refresh} />}
        </div>
      )}

      {!running && (
        <Preview
          migration={m}
          candidate={c}
          defs={defs}
          open={!run || run.status !== "completed"}
          canStart={c.status === "not_started"}
          onStarted={() => {
            setAwaitingRun(true);
            refresh();
          }}
        />
      )}

      <History key={`history/${m.id}/${c.id}`} migrationId={m.id} candidateId={c.id} />

      <Activity key={`${m.id}/${c.id}`} migrationId={m.id} candidateId={c.id} />

      {confirmCancel && (
        <Confirm
          title={`Cancel the run of ${c.id}?`}
          confirmLabel="Cancel the run"
          danger
          busy={cancel.isPending}
          onConfirm={() => cancel.mutate()}
          onClose={() => setConfirmCancel(false)}
        >
          <p>
            Drover stops dispatching steps of this run, asks the migrator to clean up, and sets {c.id} back to not started. Work the migrator already did (a
            branch, a pull request) stays where it is until its clean-up removes it.
          </p>
        </Confirm>
      )}
    </section>
  );
}

/** Cancellation says how a cancelled run's notice to its migrator (POST /cancel-run) went. */
function Cancellation({ cancellation: x }: { cancellation: RunCancellation }) {
  // While the notice is being sent, "since" keeps counting between polls.
  const now = useNow(x.status === "notifying");
  const at = ago(x.updatedAt, now);
  const time = at && (
    <span className="muted small" title={when(x.updatedAt)}>
      {" "}
      · {x.status === "notifying" ? `since ${at}` : at}
    </span>
  );
  switch (x.status) {
    case "done":
      return (
        <p className="muted" data-testid="cancellation" data-status={x.status}>
          Migrator told: cleaned up{time}
        </p>
      );
    case "notifying":
      return (
        <p className="muted" data-testid="cancellation" data-status={x.status}>
          Telling the migrator…{time}
        </p>
      );
    case "not_supported":
      return (
        <p className="muted" data-testid="cancellation" data-status={x.status}>
          The migrator does not clean up cancelled runs; what it opened stays open.{time}
        </p>
      );
    case "failed":
      return (
        <p className="warn-note" data-testid="cancellation" data-status={x.status}>
          Could not tell the migrator{x.error ? `: ${x.error}` : ""}; close its pull requests by hand.{time}
        </p>
      );
  }
  return null;
}

function Inputs({ migration, candidate, onChange }: { migration: Migration; candidate: Candidate; onChange: () => void }) {
  const api = useApi();
  const toast = useToast();
  const [editing, setEditing] = useState(false);
  const [form, setForm] = useState<Record<string, string>>({});
  const [missing, setMissing] = useState<string[]>([]);
  const can = useCan("operator");
  const save = useMutation({
    mutationFn: () => api.updateInputs(migration.id, candidate.id, form),
    onSuccess: () => {
      setEditing(false);
      toast("ok", "Inputs saved; steps dispatched from now on get them.");
      onChange();
    },
  });
  const names = migration.requiredInputs ?? [];
  if (names.length === 0 && !candidate.inputs) return null;
  return (
    <div className="inputs">
      <h3>Inputs</h3>
      {!editing ? (
        <>
          <dl className="meta">
            {names.map((i) => (
              <div key={i.name}>
                <dt>{i.label}</dt>
                <dd>{candidate.inputs?.[i.name] ?? <span className="muted">not set</span>}</dd>
              </div>
            ))}
          </dl>
          <button
            type="button"
            disabled={!can.ok}
            title={can.why}
            onClick={() => {
              setForm(initialInputs(migration, candidate));
              setEditing(true);
            }}
          >
            Edit inputs
          </button>
        </>
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            const empty = names.filter((i) => !form[i.name]?.trim()).map((i) => i.label);
            setMissing(empty);
            if (empty.length === 0) save.mutate();
          }}
        >
          {names.map((i) => (
            <label key={i.name} className="field">
              <span>{i.label}</span>
              <input value={form[i.name] ?? ""} aria-invalid={missing.includes(i.label)} onChange={(e) => setForm({ ...form, [i.name]: e.target.value })} />
            </label>
          ))}
          {missing.length > 0 && (
            <div className="error-note" role="alert">
              {missing.join(" and ")} cannot be empty.
            </div>
          )}
          <ErrorNote error={save.error} />
          <div className="actions left">
            <button type="submit" className="primary" disabled={save.isPending}>
              Save inputs
            </button>
            <button type="button" onClick={() => setEditing(false)}>
              Discard
            </button>
          </div>
        </form>
      )}
    </div>
  );
}
