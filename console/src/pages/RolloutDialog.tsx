import { useEffect, useId, useRef, useState, type ReactNode } from "react";
import { useMutation } from "@tanstack/react-query";
import { useNavigate } from "react-router";
import { ApiError, type Migration, type RolloutPreview, type RolloutRequest } from "../api/client";
import { useApi } from "../api/context";
import { ErrorNote } from "../components/ErrorNote";
import { Modal } from "../components/Modal";
import { plural } from "../format";
import {
  buildRequest,
  days,
  defaultForm,
  estimateText,
  fieldKey,
  planLines,
  sourceText,
  withoutField,
  type FieldErrors,
  type RolloutForm,
  type RolloutSource,
} from "../rollout";

// The fields the dialog shows the server's errors beside; any other lands at the bottom.
const shown = new Set(["candidates", "waves", "maxConcurrent", "rate", "window", "window.days", "window.start", "window.end", "window.timeZone", "pauseAfterFailures", "pauseAtFailureRate", "minFinished", "inputs"]);

/** serverErrors places an API error beside the field it names, or, for none the dialog shows, under "". */
function serverErrors(err: unknown, inputNames: string[]): FieldErrors {
  if (!(err instanceof ApiError) || err.status !== 400) return {};
  const key = fieldKey(err.field);
  const known = shown.has(key) || inputNames.some((n) => key === `inputs.${n}`);
  return { [known ? key : ""]: known ? withoutField(err.message, err.field) : err.message };
}

/**
 * RolloutDialog creates a rollout: which candidates (source), its waves, limits, window and pause
 * thresholds, and the migration's inputs. Preview asks the server what it would take (its
 * candidates, waves and how long the starts take at least); Start rollout, allowed once the preview
 * matches the form, creates it on the server and opens its page.
 */
export function RolloutDialog(props: {
  migration: Migration;
  /** null, or no ids: nothing the rollout could start */
  source: RolloutSource | null;
  /** selected candidates the rollout leaves out, because they are running or completed */
  leftOut?: number;
  onClose: (created: boolean) => void;
}) {
  const { source, onClose } = props;
  if (!source || (source.kind === "ids" && source.ids.length === 0)) {
    return (
      <Modal title="Nothing to start" onClose={() => onClose(false)}>
        <div className="modal-body">
          <p>{source ? "None of the selected candidates is not started: they are running or completed." : "No not-started candidate can match this filter."}</p>
        </div>
        <div className="actions">
          <button type="button" onClick={() => onClose(false)}>
            Close
          </button>
        </div>
      </Modal>
    );
  }
  return <NewRollout {...props} source={source} />;
}

function NewRollout({
  migration,
  source,
  leftOut = 0,
  onClose,
}: {
  migration: Migration;
  source: RolloutSource;
  /** selected candidates the rollout leaves out, because they are running or completed */
  leftOut?: number;
  onClose: (created: boolean) => void;
}) {
  const api = useApi();
  const navigate = useNavigate();
  const [form, setForm] = useState<RolloutForm>(() => defaultForm());
  const [tried, setTried] = useState(false);
  const inputs = migration.requiredInputs ?? [];
  const built = buildRequest(source, form);
  const request = "request" in built ? built.request : null;
  const key = request ? JSON.stringify(request) : "";
  const [preview, setPreview] = useState<{ key: string; result: RolloutPreview; at: number; request: RolloutRequest } | null>(null);
  const [failure, setFailure] = useState<{ key: string; error: unknown } | null>(null);

  const previewing = useMutation({
    mutationFn: (req: RolloutRequest) => api.previewRollout(migration.id, req),
    onSuccess: (result, req) => {
      setFailure(null);
      setPreview({ key: JSON.stringify(req), result, at: Date.now(), request: req });
    },
    onError: (error, req) => setFailure({ key: JSON.stringify(req), error }),
  });
  const creating = useMutation({
    mutationFn: (req: RolloutRequest) => api.createRollout(migration.id, req),
    onSuccess: (r) => {
      onClose(true);
      navigate(`/migrations/${migration.id}/rollouts/${r.id}`);
    },
    onError: (error, req) => setFailure({ key: JSON.stringify(req), error }),
  });

  const set = <K extends keyof RolloutForm>(k: K, v: RolloutForm[K]) => setForm((f) => ({ ...f, [k]: v }));
  // The server's complaint stands while the form is as it was sent; client checks once a button was pressed.
  const errors: FieldErrors = {
    ...(tried && "errors" in built ? built.errors : {}),
    ...(failure && failure.key === key ? serverErrors(failure.error, inputs.map((i) => i.name)) : {}),
  };
  const otherError = failure && failure.key === key && !(failure.error instanceof ApiError && failure.error.status === 400) ? failure.error : null;
  const fresh = preview !== null && preview.key === key;
  const busy = previewing.isPending || creating.isPending;
  const doPreview = () => {
    setTried(true);
    if (request) previewing.mutate(request);
  };

  return (
    <Modal title="New rollout" onClose={() => onClose(false)} wide>
      <form
        className="rollout-form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          doPreview();
        }}
      >
        <div className="modal-body">
          <p>
            Rolls out {sourceText(source)} of <strong>{migration.name}</strong>, on the server: it goes on when you close the page.
            {leftOut > 0 && (
              <span className="muted">
                {" "}
                {plural(leftOut, "other selected candidate")} {leftOut === 1 ? "is" : "are"} running or completed and {leftOut === 1 ? "is" : "are"} left out.
              </span>
            )}
          </p>
          <FieldNote id="candidates" errors={errors} />

          <fieldset className="group">
            <legend>Waves</legend>
            <Field label="Wave sizes" name="waves" errors={errors} hint="e.g. 1, 5, 25: a canary of 1, then 5, then 25, then the rest. Each wave starts once the one before has completed. Empty: one wave.">
              {(p) => <input {...p} value={form.waves} placeholder="1, 5, 25" onChange={(e) => set("waves", e.target.value)} />}
            </Field>
            <label className="check-field">
              <input type="checkbox" checked={form.approveWaves} onChange={(e) => set("approveWaves", e.target.checked)} /> Wait for an operator's approval before each wave after the first
            </label>
          </fieldset>

          <fieldset className="group">
            <legend>Limits</legend>
            <div className="row">
              <Field label="Max concurrent runs" name="maxConcurrent" errors={errors} hint="Empty: no limit.">
                {(p) => <input {...p} inputMode="numeric" value={form.maxConcurrent} placeholder="no limit" onChange={(e) => set("maxConcurrent", e.target.value)} />}
              </Field>
              <Field label="Start rate" name="rate" errors={errors} hint={form.rateUnit === "minute" ? "At most 60 a minute." : "At most 3,600 an hour."}>
                {(p) => (
                  <span className="rate">
                    <input {...p} inputMode="numeric" value={form.rate} placeholder="no limit" onChange={(e) => set("rate", e.target.value)} />
                    <select aria-label="Rate per" value={form.rateUnit} onChange={(e) => set("rateUnit", e.target.value as RolloutForm["rateUnit"])}>
                      <option value="minute">a minute</option>
                      <option value="hour">an hour</option>
                    </select>
                  </span>
                )}
              </Field>
            </div>
            <label className="check-field">
              <input type="checkbox" checked={form.failedHoldsSlot} onChange={(e) => set("failedHoldsSlot", e.target.checked)} /> A run with a failed step keeps its slot until it is retried or cancelled
            </label>
          </fieldset>

          <fieldset className="group">
            <legend>
              <label className="check-field">
                <input type="checkbox" checked={form.windowOn} onChange={(e) => set("windowOn", e.target.checked)} /> Only start within a time window
              </label>
            </legend>
            {form.windowOn && (
              <>
                <div className="days" role="group" aria-label="Days">
                  {days.map((d) => (
                    <label key={d.id} className="check-field">
                      <input
                        type="checkbox"
                        checked={form.days.includes(d.id)}
                        onChange={(e) => set("days", e.target.checked ? [...form.days, d.id] : form.days.filter((x) => x !== d.id))}
                      />{" "}
                      {d.label}
                    </label>
                  ))}
                </div>
                <FieldNote id="window.days" errors={errors} />
                <div className="row">
                  <Field label="From" name="window.start" errors={errors}>
                    {(p) => <input {...p} type="time" value={form.start} onChange={(e) => set("start", e.target.value)} />}
                  </Field>
                  <Field label="Until" name="window.end" errors={errors}>
                    {(p) => <input {...p} type="time" value={form.end} onChange={(e) => set("end", e.target.value)} />}
                  </Field>
                  <Field label="Time zone" name="window.timeZone" errors={errors}>
                    {(p) => <input {...p} value={form.timeZone} placeholder="Europe/Berlin" onChange={(e) => set("timeZone", e.target.value)} />}
                  </Field>
                </div>
                <FieldNote id="window" errors={errors} />
              </>
            )}
          </fieldset>

          <fieldset className="group">
            <legend>Pause by itself</legend>
            <div className="row">
              <Field label="After this many failures" name="pauseAfterFailures" errors={errors} hint="Empty: never.">
                {(p) => <input {...p} inputMode="numeric" value={form.pauseAfterFailures} placeholder="never" onChange={(e) => set("pauseAfterFailures", e.target.value)} />}
              </Field>
              <Field label="At this failure rate (%)" name="pauseAtFailureRate" errors={errors} hint="Of its finished runs.">
                {(p) => <input {...p} inputMode="decimal" value={form.pauseAtFailureRate} placeholder="never" onChange={(e) => set("pauseAtFailureRate", e.target.value)} />}
              </Field>
              {form.pauseAtFailureRate.trim() !== "" && (
                <Field label="From finished runs" name="minFinished" errors={errors} hint="Judged from this many on.">
                  {(p) => <input {...p} inputMode="numeric" value={form.minFinished} placeholder="5" onChange={(e) => set("minFinished", e.target.value)} />}
                </Field>
              )}
            </div>
          </fieldset>

          {inputs.length > 0 && (
            <fieldset className="group">
              <legend>Inputs</legend>
              {inputs.map((i) => (
                <Field key={i.name} label={i.label} name={`inputs.${i.name}`} errors={errors} hint={i.description}>
                  {(p) => (
                    <input
                      {...p}
                      value={form.inputs[i.name] ?? ""}
                      placeholder={`from each candidate's “${i.name}” if left empty`}
                      onChange={(e) => set("inputs", { ...form.inputs, [i.name]: e.target.value })}
                    />
                  )}
                </Field>
              ))}
              <FieldNote id="inputs" errors={errors} />
            </fieldset>
          )}

          {fresh && <PreviewResult preview={preview.result} request={preview.request} at={preview.at} />}
          <FieldNote id="" errors={errors} />
          <ErrorNote error={otherError} />
        </div>
        <div className="actions">
          <button type="button" onClick={() => onClose(false)}>
            Keep as is
          </button>
          <button type="submit" disabled={busy}>
            {previewing.isPending ? "Previewing…" : "Preview"}
          </button>
          <button
            type="button"
            className="primary"
            disabled={!fresh || busy}
            title={fresh ? undefined : "Preview first: it shows which candidates the rollout takes"}
            onClick={() => request && creating.mutate(request)}
          >
            {creating.isPending ? "Starting…" : fresh ? `Start rollout of ${plural(preview.result.total, "candidate")}` : "Start rollout"}
          </button>
        </div>
      </form>
    </Modal>
  );
}

type InputProps = { id: string; "aria-invalid": boolean; "aria-describedby"?: string };

/** Field is a labelled input with its hint and, when the form or the server says so, its error. */
function Field({ label, name, errors, hint, children }: { label: string; name: string; errors: FieldErrors; hint?: string; children: (p: InputProps) => ReactNode }) {
  const id = useId();
  const err = errors[name];
  return (
    <div className="field">
      <label htmlFor={id}>
        <span>{label}</span>
      </label>
      {children({ id, "aria-invalid": Boolean(err), "aria-describedby": err ? `${id}-err` : undefined })}
      {err ? (
        <small id={`${id}-err`} className="field-error" role="alert">
          {err}
        </small>
      ) : (
        hint && <small className="muted">{hint}</small>
      )}
    </div>
  );
}

/** FieldNote shows the error about a part of the form that is not one input (the candidates, the days, the inputs). */
function FieldNote({ id, errors }: { id: string; errors: FieldErrors }) {
  const err = errors[id];
  if (!err) return null;
  return (
    <div className="error-note" role="alert" data-field={id || undefined}>
      {err}
    </div>
  );
}

/** PreviewResult is what the server answered: the candidates, their waves, the plan, and how long the starts take at least. */
function PreviewResult({ preview, request, at }: { preview: RolloutPreview; request: RolloutRequest; at: number }) {
  const box = useRef<HTMLElement>(null);
  // The answer is at the foot of the form: scroll the dialog's body (only it, not the page) down to it.
  useEffect(() => {
    const body = box.current?.closest(".modal-body");
    if (body) body.scrollTop = body.scrollHeight;
  }, [at]);
  const ids = preview.candidateIds;
  const lines = planLines(request, preview.waves);
  return (
    <section ref={box} className="rollout-preview" aria-label="Preview" data-testid="rollout-preview">
      <h3>
        {plural(preview.total, "candidate")} in {plural(preview.waves.length, "wave")}
      </h3>
      <p className="small">
        In start order: {ids.slice(0, 12).map((id, i) => (
          <span key={id}>
            {i > 0 && ", "}
            <code>{id}</code>
          </span>
        ))}
        {ids.length > 12 && <span className="muted"> and {plural(ids.length - 12, "more", "more")}</span>}
      </p>
      <dl className="meta">
        {lines.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      <p className="estimate">{estimateText(preview, request, at)}</p>
    </section>
  );
}
