import { useEffect, useState } from "react";
import { useMutation } from "@tanstack/react-query";
import type { Candidate, RunSteps, StepDefinition, StepState } from "../api/client";
import { describe } from "../api/client";
import { useApi } from "../api/context";
import { AttentionBadge, StatusBadge } from "../components/Badges";
import { Linkified } from "../components/Linkified";
import { Modal } from "../components/Modal";
import { ErrorNote } from "../components/ErrorNote";
import { useToast } from "../components/Toasts";
import { ago, duration, plural, when } from "../format";
import { isManual, isRetryable, markable, timedOut } from "../steps";
import { useCan } from "../me";
import { useNow } from "../hooks";

type Mark = { step: StepState; status: "succeeded" | "failed" };

/** Timeline lists a run's steps in order with their state, metadata and the operator's actions on them. */
export function Timeline({
  migrationId,
  candidate,
  defs,
  run,
  onChange,
}: {
  migrationId: string;
  candidate: Candidate;
  defs: StepDefinition[];
  run: RunSteps;
  onChange: () => void;
}) {
  const api = useApi();
  const toast = useToast();
  const [mark, setMark] = useState<Mark | null>(null);
  const can = useCan("operator");
  // The step a retry was accepted for: its button stays off until the run shows the new try.
  const [retried, setRetried] = useState<string | null>(null);
  const running = run.status === "running";
  const retry = useMutation({
    mutationFn: (step: string) => api.retryStep(migrationId, candidate.id, step),
    onSuccess: (_, step) => {
      setRetried(step);
      toast("ok", `Retrying ${step}.`);
      onChange();
    },
    onError: (err, step) => toast("error", `Retry of ${step} failed: ${describe(err)}`),
  });
  useEffect(() => {
    if (retried && !isRetryable(run.steps.find((s) => s.stepName === retried))) setRetried(null);
  }, [retried, run.steps]);
  const names = defs.map((d) => d.name);
  // Steps the run recorded that the definitions no longer list still belong in the timeline.
  for (const s of run.steps) if (!names.includes(s.stepName)) names.push(s.stepName);
  // A silent or overdue step says how long it has waited, counting between polls.
  const now = useNow(running && run.steps.some((s) => timedOut(s)));

  return (
    <>
      <ol className="timeline">
        {names.map((name, i) => {
          const def = defs.find((d) => d.name === name);
          const manual = isManual(def);
          const st = run.steps.find((s) => s.stepName === name);
          const status = st?.status ?? (running ? "upcoming" : "not_reached");
          const meta = Object.entries(st?.metadata ?? {}).filter(([k]) => k !== "markedBy");
          const late = timedOut(st);
          const retryable = running && isRetryable(st);
          const marks = running ? markable(st) : [];
          return (
            <li key={name} className={`tl tl-${status}`} data-step={name} data-status={status}>
              <span className="tl-dot" aria-hidden>
                {i + 1}
              </span>
              <div className="tl-body">
                <div className="tl-head">
                  <strong>{name}</strong>
                  {st ? <StatusBadge status={st.status} /> : <span className="badge status-upcoming">{running ? "Upcoming" : "Not reached"}</span>}
                  {manual && <span className="badge manual">a person</span>}
                  {def?.timeout && (
                    <span className="badge timeout" title="How long the step may take once the migrator has accepted its dispatch">
                      timeout {def.timeout}
                    </span>
                  )}
                  {late && <AttentionBadge attention={late} since={st?.acknowledgedAt} now={now} />}
                  <span className="spacer" />
                  {st?.startedAt && (
                    <span className="muted small" title={`started ${when(st.startedAt)}${st.finishedAt ? `, finished ${when(st.finishedAt)}` : ""}`}>
                      {when(st.startedAt)} · {duration(st.startedAt, st.finishedAt)}
                    </span>
                  )}
                </div>
                {def?.description && <p className="muted">{def.description}</p>}
                {st && st.status === "in_progress" && !st.acknowledgedAt && !late && (st.attempts ?? 0) > 1 && (
                  <p className="warn-note">
                    The migrator has not accepted this step yet: attempt {st.attempts}
                    {st.lastError ? `, last error: ${st.lastError}` : ""}. Drover keeps retrying.
                  </p>
                )}
                {st && late === "silent" && (
                  <p className="warn-note" title={st.acknowledgedAt ? `accepted ${when(st.acknowledgedAt)}` : undefined}>
                    {st.acknowledgedAt ? `No callback since the migrator accepted the dispatch ${ago(st.acknowledgedAt, now)}` : "No callback within the step's timeout"}
                    {(st.redeliveries ?? 0) > 0 ? `, though it was delivered again ${plural(st.redeliveries ?? 0, "time")}` : ""}. Retry it for a new dispatch, or mark it
                    failed.
                  </p>
                )}
                {st && late === "overdue" && (
                  <p className="warn-note" title={st.acknowledgedAt ? `accepted ${when(st.acknowledgedAt)}` : undefined}>
                    Pending {st.acknowledgedAt ? `for ${duration(st.acknowledgedAt, undefined, now)}, ` : ""}longer than its timeout{def?.timeout ? ` of ${def.timeout}` : ""}. Retry it
                    for a new dispatch, or mark it done or failed.
                  </p>
                )}
                {st?.status === "failed" && <p className="error-note">{st.lastError || "The step failed without a reason."}</p>}
                {meta.length > 0 && (
                  <dl className="meta small">
                    {meta.map(([k, v]) => (
                      <div key={k}>
                        <dt>{k}</dt>
                        <dd>
                          <Linkified text={v} />
                        </dd>
                      </div>
                    ))}
                  </dl>
                )}
                {st && (retryable || marks.length > 0) && (
                  <div className="actions left">
                    {marks.length > 0 && !manual && <span className="muted small">The migrator reports this step by itself; mark it only if it cannot.</span>}
                    {retryable && (
                      <button
                        type="button"
                        className={manual && marks.includes("succeeded") ? "" : "primary"}
                        disabled={!can.ok || retry.isPending || retried === name}
                        title={can.why}
                        onClick={() => retry.mutate(name)}
                      >
                        {retried === name ? "Retrying…" : `Retry ${name}`}
                      </button>
                    )}
                    {marks.includes("succeeded") && (
                      <button type="button" className={manual ? "primary" : ""} disabled={!can.ok} title={can.why} onClick={() => setMark({ step: st, status: "succeeded" })}>
                        Mark done
                      </button>
                    )}
                    {marks.includes("failed") && (
                      <button type="button" className="danger" disabled={!can.ok} title={can.why} onClick={() => setMark({ step: st, status: "failed" })}>
                        Mark failed
                      </button>
                    )}
                  </div>
                )}
              </div>
            </li>
          );
        })}
      </ol>
      {mark && run.runId && (
        <MarkDialog
          mark={mark}
          migrationId={migrationId}
          candidateId={candidate.id}
          onClose={(changed) => {
            setMark(null);
            if (changed) onChange();
          }}
        />
      )}
    </>
  );
}

function MarkDialog({ mark, migrationId, candidateId, onClose }: { mark: Mark; migrationId: string; candidateId: string; onClose: (changed: boolean) => void }) {
  const api = useApi();
  const toast = useToast();
  const [note, setNote] = useState("");
  const failing = mark.status === "failed";
  const send = useMutation({
    mutationFn: () => api.markStep(migrationId, candidateId, mark.step, mark.status, note.trim() || undefined),
    onSuccess: () => {
      toast("ok", `${mark.step.stepName} marked ${failing ? "failed" : "done"}.`);
      onClose(true);
    },
  });
  return (
    <Modal title={`Mark ${mark.step.stepName} ${failing ? "failed" : "done"}?`} onClose={() => onClose(false)}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (failing && !note.trim()) return;
          send.mutate();
        }}
      >
        <div className="modal-body">
          <p>
            {failing
              ? "The step fails with your reason; the run waits for a retry or a cancel."
              : "The step succeeds and the run goes on with the next step."}
          </p>
          <label className="field">
            <span>{failing ? "Reason (required)" : "Note (optional)"}</span>
            <textarea value={note} onChange={(e) => setNote(e.target.value)} rows={3} required={failing} />
          </label>
          <ErrorNote error={send.error} />
        </div>
        <div className="actions">
          <button type="button" onClick={() => onClose(false)}>
            Keep as is
          </button>
          <button type="submit" className={failing ? "danger" : "primary"} disabled={send.isPending || (failing && !note.trim())}>
            {failing ? "Mark failed" : "Mark done"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
