import { useEffect, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useParams } from "react-router";
import { describe, type RetryFailedResult, type Rollout, type RolloutMember } from "../api/client";
import { useApi } from "../api/context";
import { StatusBadge } from "../components/Badges";
import { ErrorNote, MigrationPageError } from "../components/ErrorNote";
import { Modal } from "../components/Modal";
import { useToast } from "../components/Toasts";
import { ago, plural, when } from "../format";
import { useNow } from "../hooks";
import { useCan } from "../me";
import { pausedText, planLines, rolloutEnded, waitText } from "../rollout";
import { Pager } from "./CandidateTable";
import { usePoll } from "../live";

const MEMBERS_PAGE = 100;
type MemberFilter = "all" | RolloutMember["status"];
const memberTabs: { id: MemberFilter; label: string }[] = [
  { id: "all", label: "All" },
  { id: "failed", label: "Failed" },
  { id: "running", label: "Running" },
  { id: "waiting", label: "Waiting" },
  { id: "completed", label: "Completed" },
  { id: "skipped", label: "Skipped" },
  { id: "cancelled", label: "Cancelled" },
];

/** RolloutPage is one rollout: what it is doing or waiting for, its waves' progress, its plan, its members and the operator's actions. */
export function RolloutPage() {
  const { migrationId = "", rolloutId = "" } = useParams();
  const api = useApi();
  const qc = useQueryClient();
  const can = useCan("operator");
  const [asking, setAsking] = useState<"pause" | "cancel" | null>(null);
  const [retried, setRetried] = useState<RetryFailedResult | null>(null);

  const poll = usePoll();
  const migration = useQuery({ queryKey: ["migration", migrationId], queryFn: () => api.getMigration(migrationId) });
  // Live until it has ended; an ended rollout changes no more.
  const rollout = useQuery({
    queryKey: ["rollout", migrationId, rolloutId],
    queryFn: () => api.getRollout(migrationId, rolloutId),
    refetchInterval: (q) => poll(q.state.data && rolloutEnded(q.state.data.status) ? false : 2000),
  });
  const r = rollout.data;
  const live = Boolean(r && !rolloutEnded(r.status));
  const now = useNow(live && (r?.waitingFor === "rate" || r?.waitingFor === "window"));

  useEffect(() => {
    document.title = `Rollout ${rolloutId} · Drover`;
  }, [rolloutId]);

  const refresh = () => {
    void qc.invalidateQueries({ queryKey: ["rollout", migrationId, rolloutId] });
    void qc.invalidateQueries({ queryKey: ["rollouts", migrationId] });
    void qc.invalidateQueries({ queryKey: ["migration", migrationId] });
    void qc.invalidateQueries({ queryKey: ["candidates", migrationId] });
    void qc.invalidateQueries({ queryKey: ["audit", migrationId] });
  };
  const [reason, setReason] = useState("");
  const [cancelRuns, setCancelRuns] = useState(false);
  const done = () => (setAsking(null), refresh());
  const pause = useCommand("Pause", () => api.pauseRollout(migrationId, rolloutId, reason.trim() || undefined), done);
  const resume = useCommand("Resume", () => api.resumeRollout(migrationId, rolloutId), done);
  const approve = useCommand("Approval", () => api.approveRollout(migrationId, rolloutId), done);
  const cancel = useCommand("Cancel", () => api.cancelRollout(migrationId, rolloutId, cancelRuns), done);
  const retry = useMutation({
    mutationFn: () => api.retryFailed(migrationId, rolloutId),
    onSuccess: (res) => {
      setRetried(res);
      refresh();
    },
  });

  const error = migration.error ?? rollout.error;
  if (error) {
    return <MigrationPageError migrationId={migrationId} error={error} onRetry={() => (migration.refetch(), rollout.refetch())} />;
  }
  if (!r) return <section className="page muted">Loading…</section>;
  const m = migration.data;
  const open = r.running + r.failed;
  const busy = pause.isPending || resume.isPending || approve.isPending || cancel.isPending;

  return (
    <section className="page">
      <p className="crumbs">
        <Link to="/">Migrations</Link> / <Link to={`/migrations/${migrationId}`}>{m?.name ?? migrationId}</Link> / <span>Rollout {r.id}</span>
      </p>
      <div className="page-head">
        <div>
          <h1>
            Rollout <code>{r.id}</code> <StatusBadge status={r.status} />
          </h1>
          <p className="muted small">
            {plural(r.total, "candidate")} of <Link to={`/migrations/${migrationId}`}>{m?.name ?? migrationId}</Link> · created by {r.createdBy || "someone"}{" "}
            <span title={when(r.createdAt)}>{ago(r.createdAt)}</span> ({when(r.createdAt)}) · updated <span title={when(r.updatedAt)}>{ago(r.updatedAt)}</span>
            {live && <span className="live"> · live</span>}
          </p>
        </div>
      </div>

      {r.pausedReason && (r.status === "paused" || r.status === "cancelled") && (
        <p className="warn-note" data-testid="paused-reason">
          {r.status === "paused" ? pausedText(r.pausedReason) : `Cancelled: ${r.pausedReason}`}
        </p>
      )}
      <p className="rollout-wait" role="status" data-testid="waiting-for" data-waiting={r.waitingFor ?? ""}>
        {waitText(r, now)}
      </p>

      <div className="actions left" role="group" aria-label="Rollout actions">
        {!can.ok && <span className="role-note">{can.why}</span>}
        {live && r.status !== "paused" && (
          <button type="button" disabled={!can.ok || busy} title={can.why} onClick={() => (setReason(""), setAsking("pause"))}>
            Pause…
          </button>
        )}
        {r.status === "paused" && (
          <button type="button" className="primary" disabled={!can.ok || busy} title={can.why} onClick={() => resume.mutate()}>
            Resume
          </button>
        )}
        {r.status === "waiting_for_approval" && (
          <button type="button" className="primary" disabled={!can.ok || busy} title={can.why} onClick={() => approve.mutate()}>
            Approve wave {(r.wave ?? 0) + 1}
          </button>
        )}
        {(live || open > 0) && (
          <button
            type="button"
            disabled={!can.ok || retry.isPending || open === 0}
            title={can.why ?? (open === 0 ? "None of its runs is open" : "Retry every failed, silent or overdue step of its open runs")}
            onClick={() => retry.mutate()}
          >
            {retry.isPending ? "Retrying…" : "Retry failed"}
          </button>
        )}
        {live && (
          <button type="button" className="danger" disabled={!can.ok || busy} title={can.why} onClick={() => (setCancelRuns(false), setAsking("cancel"))}>
            Cancel rollout…
          </button>
        )}
      </div>
      <ErrorNote error={retry.error} />
      {retried && <RetryResult result={retried} migrationId={migrationId} onDismiss={() => setRetried(null)} />}

      <div className="two-col">
        <div className="panel">
          <h2>Progress</h2>
          <Totals r={r} />
          <Waves r={r} />
        </div>
        <div className="panel">
          <h2>Plan</h2>
          <dl className="meta">
            {planLines(r, r.waves.map((w) => w.size)).map(([k, v]) => (
              <div key={k}>
                <dt>{k}</dt>
                <dd>{v}</dd>
              </div>
            ))}
            <div>
              <dt>Created</dt>
              <dd>
                {when(r.createdAt)} by {r.createdBy || "someone"}
              </dd>
            </div>
          </dl>
        </div>
      </div>

      <Members r={r} migrationId={migrationId} />

      {asking === "pause" && (
        <Modal title="Pause the rollout?" onClose={() => setAsking(null)}>
          <form
            onSubmit={(e) => {
              e.preventDefault();
              pause.mutate();
            }}
          >
            <div className="modal-body">
              <p>It starts nothing more until it is resumed; its open runs go on.</p>
              <label className="field">
                <span>Reason (optional)</span>
                <textarea value={reason} maxLength={500} rows={2} onChange={(e) => setReason(e.target.value)} placeholder="e.g. CI is red on main" />
              </label>
            </div>
            <div className="actions">
              <button type="button" onClick={() => setAsking(null)}>
                Keep as is
              </button>
              <button type="submit" className="primary" disabled={pause.isPending}>
                {pause.isPending ? "Pausing…" : "Pause rollout"}
              </button>
            </div>
          </form>
        </Modal>
      )}
      {asking === "cancel" && (
        <Modal title="Cancel the rollout?" onClose={() => setAsking(null)}>
          <div className="modal-body">
            <p>It starts none of its {plural(r.members?.filter((x) => x.status === "waiting").length ?? 0, "waiting candidate")}; this cannot be undone.</p>
            <label className="check-field">
              <input type="checkbox" checked={cancelRuns} onChange={(e) => setCancelRuns(e.target.checked)} /> Also cancel its {plural(open, "open run")} (by default they go on)
            </label>
          </div>
          <div className="actions">
            <button type="button" onClick={() => setAsking(null)}>
              Keep as is
            </button>
            <button type="button" className="danger" disabled={cancel.isPending} onClick={() => cancel.mutate()}>
              {cancel.isPending ? "Cancelling…" : cancelRuns ? "Cancel rollout and runs" : "Cancel rollout"}
            </button>
          </div>
        </Modal>
      )}
    </section>
  );
}

/** useCommand sends a rollout command; the server acknowledges it at once and the rollout acts on it within seconds. */
function useCommand(label: string, run: () => Promise<unknown>, done: () => void) {
  const toast = useToast();
  return useMutation({
    mutationFn: run,
    onSuccess: () => {
      toast("ok", `${label} requested; the rollout acts on it within seconds.`);
      done();
    },
    onError: (err) => {
      toast("error", `${label} failed: ${describe(err)}`);
      done();
    },
  });
}

/** Totals is the whole rollout as one bar: completed, failed and running among its candidates. */
function Totals({ r }: { r: Rollout }) {
  const waiting = r.members ? r.members.filter((x) => x.status === "waiting").length : Math.max(0, r.total - r.started - (r.skipped ?? 0) - (r.cancelled ?? 0));
  const label = `${r.completed} of ${r.total} completed, ${r.running} running, ${r.failed} failed, ${waiting} waiting`;
  return (
    <div className="progress">
      <Bar total={r.total} completed={r.completed} failed={r.failed} running={r.running} label={label} />
      <div className="legend">
        <strong>{r.total === 0 ? 0 : Math.floor((r.completed / r.total) * 100)}%</strong>
        <span><i className="dot completed" />{r.completed.toLocaleString()} completed</span>
        <span><i className="dot running" />{r.running.toLocaleString()} running</span>
        <span className={r.failed ? "failed" : undefined}><i className="dot failed" />{r.failed.toLocaleString()} failed</span>
        <span><i className="dot not_started" />{waiting.toLocaleString()} waiting</span>
        {r.skipped ? <span>{r.skipped.toLocaleString()} skipped</span> : null}
        {r.cancelled ? <span>{r.cancelled.toLocaleString()} cancelled</span> : null}
        <span>{r.started.toLocaleString()} started</span>
      </div>
    </div>
  );
}

function Bar({ total, completed, failed, running, label }: { total: number; completed: number; failed: number; running: number; label: string }) {
  const pct = (n: number) => (total === 0 ? 0 : (Math.max(0, n) / total) * 100);
  return (
    <div className="bar" role="progressbar" aria-valuemin={0} aria-valuemax={total} aria-valuenow={completed} aria-label={label} title={label}>
      <span className="seg completed" style={{ width: `${pct(completed)}%` }} />
      <span className="seg failed" style={{ width: `${pct(failed)}%` }} />
      <span className="seg running" style={{ width: `${pct(running)}%` }} />
    </div>
  );
}

/** Waves is one bar per wave: its size, and how many of it started, completed and failed. */
function Waves({ r }: { r: Rollout }) {
  const waiting = new Map<number, number>();
  for (const x of r.members ?? []) if (x.status === "waiting") waiting.set(x.wave, (waiting.get(x.wave) ?? 0) + 1);
  const ended = rolloutEnded(r.status);
  return (
    <ol className="waves">
      {r.waves.map((w, i) => {
        const open = Math.max(0, w.started - w.completed - w.failed);
        const label = `Wave ${i + 1}: ${w.completed} of ${w.size} completed, ${w.failed} failed, ${w.started} started`;
        // A wave is under way while it has open runs; the rollout's wave is next while it waits to start it.
        const state = open > 0 || w.failed > 0 ? "active" : !ended && i === (r.wave ?? 0) && (waiting.get(i) ?? 0) > 0 ? "next" : (waiting.get(i) ?? 0) > 0 ? "later" : "done";
        return (
          <li key={i} className={`wave wave-${state}`} data-wave={i + 1} data-state={state}>
            <div className="wave-head">
              <strong>Wave {i + 1}</strong>
              <span className="muted small">
                {plural(w.size, "candidate")}
                {i === 0 && r.waves.length > 1 ? " (canary)" : ""}
                {i === r.waves.length - 1 && r.waves.length > 1 ? " (the rest)" : ""}
              </span>
              {state === "active" && !ended && (open > 0 ? <span className="badge status-running">under way</span> : <span className="badge status-failed">failed, waits for a retry</span>)}
              {state === "next" && <span className="badge status-waiting">{r.waitingFor === "approval" ? "waits for approval" : "next"}</span>}
              <span className="spacer" />
              <span className="small">
                {w.started} started · {w.completed} completed{w.failed ? ` · ${w.failed} failed` : ""}
              </span>
            </div>
            <Bar total={w.size} completed={w.completed} failed={w.failed} running={open} label={label} />
          </li>
        );
      })}
    </ol>
  );
}

/** Members lists the rollout's candidates, in start order, each linking to its page. */
function Members({ r, migrationId }: { r: Rollout; migrationId: string }) {
  const [show, setShow] = useState<MemberFilter>("all");
  const [page, setPage] = useState(0);
  const all = r.members ?? [];
  const list = show === "all" ? all : all.filter((x) => x.status === show);
  const last = Math.max(0, Math.ceil(list.length / MEMBERS_PAGE) - 1);
  const at = Math.min(page, last);
  const counts = new Map<string, number>();
  for (const x of all) counts.set(x.status, (counts.get(x.status) ?? 0) + 1);
  return (
    <div className="panel">
      <div className="table-head">
        <h2>Candidates</h2>
        <div className="tabs" role="tablist" aria-label="Show members">
          {memberTabs
            .filter((t) => t.id === "all" || counts.get(t.id))
            .map((t) => (
              <button key={t.id} role="tab" aria-selected={show === t.id} className={show === t.id ? "tab on" : "tab"} onClick={() => (setShow(t.id), setPage(0))}>
                {t.label}
                <span className={t.id === "failed" ? "count warn" : "count"}>{(t.id === "all" ? all.length : counts.get(t.id) ?? 0).toLocaleString()}</span>
              </button>
            ))}
        </div>
      </div>
      <div className="table-wrap">
        <table className="candidates members">
          <thead>
            <tr>
              <th>Candidate</th>
              <th>Wave</th>
              <th>Status</th>
            </tr>
          </thead>
          <tbody>
            {list.slice(at * MEMBERS_PAGE, (at + 1) * MEMBERS_PAGE).map((x) => (
              <tr key={x.id} data-member={x.id} data-status={x.status} className={x.status === "failed" ? "needs" : undefined}>
                <td>
                  <Link to={`/migrations/${migrationId}/candidates/${x.id}`} className="cid">
                    {x.id}
                  </Link>
                </td>
                <td>{x.wave + 1}</td>
                <td>
                  <StatusBadge status={x.status} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {list.length === 0 && <p className="muted pad">{all.length === 0 ? "No candidates." : "None in this status."}</p>}
      </div>
      {list.length > MEMBERS_PAGE && <Pager page={at} size={MEMBERS_PAGE} total={list.length} go={setPage} />}
    </div>
  );
}

/** RetryResult says how many steps Retry failed retried, and which could not be, and why. */
function RetryResult({ result, migrationId, onDismiss }: { result: RetryFailedResult; migrationId: string; onDismiss: () => void }) {
  return (
    <div className={result.errors.length ? "warn-note retry-result" : "note retry-result"} role="status" data-testid="retry-result">
      <span>
        {result.retried === 0 && result.errors.length === 0
          ? "Nothing to retry: none of its open runs has a failed, silent or overdue step."
          : `Retried ${plural(result.retried, "step")}${result.errors.length ? `; ${plural(result.errors.length, "step")} could not be retried:` : "."}`}
      </span>
      {result.errors.length > 0 && (
        <ul className="failures">
          {result.errors.slice(0, 20).map((e, i) => (
            <li key={i}>
              <Link to={`/migrations/${migrationId}/candidates/${e.candidateId}`}>{e.candidateId}</Link>
              {e.stepName ? (
                <>
                  {" "}
                  <code>{e.stepName}</code>
                </>
              ) : null}
              : {e.error}
            </li>
          ))}
          {result.errors.length > 20 && <li className="muted">and {result.errors.length - 20} more</li>}
        </ul>
      )}
      <button type="button" className="link" onClick={onDismiss}>
        Dismiss
      </button>
    </div>
  );
}
