import { useEffect, useState } from "react";
import { useMutation } from "@tanstack/react-query";
import type { Candidate, DryRunResult, Migration, StepDefinition } from "../api/client";
import { useApi } from "../api/context";
import { DiffView, type DiffMode } from "../components/DiffView";
import { ErrorNote } from "../components/ErrorNote";
import { useToast } from "../components/Toasts";
import { initialInputs } from "../inputs";
import { useCan } from "../me";

function savedMode(): DiffMode {
  try {
    return localStorage.getItem("drover.diff") === "split" ? "split" : "unified";
  } catch {
    return "unified";
  }
}

/** Preview collects the run's inputs, shows the migrator's dry run as per-step diffs, and starts the run. */
export function Preview({
  migration,
  candidate,
  defs,
  open,
  canStart,
  onStarted,
}: {
  migration: Migration;
  candidate: Candidate;
  defs: StepDefinition[];
  open: boolean;
  canStart: boolean;
  onStarted: () => void;
}) {
  const api = useApi();
  const toast = useToast();
  const required = migration.requiredInputs ?? [];
  const [form, setForm] = useState<Record<string, string>>(() => initialInputs(migration, candidate));
  const [mode, setMode] = useState<DiffMode>(savedMode);
  const [missing, setMissing] = useState<string[]>([]);
  // A dry run asks the migrator for real, so it needs the operator role as a start does.
  const can = useCan("operator");
  const preview = useMutation({ mutationFn: () => api.dryRun(migration.id, candidate.id, form) });
  const start = useMutation({
    mutationFn: () => api.start(migration.id, candidate.id, form),
    onSuccess: () => {
      toast("ok", `Started ${candidate.id}.`);
      onStarted();
    },
  });
  useEffect(() => {
    try {
      localStorage.setItem("drover.diff", mode);
    } catch {
      /* the choice lasts for this page only */
    }
  }, [mode]);

  const check = (): boolean => {
    const empty = required.filter((i) => !form[i.name]?.trim()).map((i) => i.label);
    setMissing(empty);
    return empty.length === 0;
  };

  return (
    <details className="panel" open={open}>
      <summary>
        <h2>Preview{canStart ? " and start" : ""}</h2>
      </summary>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (can.ok) preview.mutate();
        }}
      >
        {required.length > 0 && (
          <fieldset className="inputs">
            <legend>Inputs for this run</legend>
            {required.map((i) => (
              <label key={i.name} className="field">
                <span>{i.label}</span>
                <input
                  name={i.name}
                  value={form[i.name] ?? ""}
                  aria-invalid={missing.includes(i.label)}
                  onChange={(e) => setForm({ ...form, [i.name]: e.target.value })}
                />
                {i.description && <small className="muted">{i.description}</small>}
              </label>
            ))}
          </fieldset>
        )}
        {missing.length > 0 && (
          <div className="error-note" role="alert">
            Fill in {missing.join(" and ")} to start.
          </div>
        )}
        <div className="actions left">
          <button type="submit" disabled={!can.ok || preview.isPending} title={can.why}>
            {preview.isPending ? "Asking the migrator…" : preview.data ? "Preview again" : "Preview changes"}
          </button>
          {canStart && (
            <button type="button" className="primary" disabled={!can.ok || start.isPending || start.isSuccess} title={can.why} onClick={() => check() && start.mutate()}>
              {start.isPending ? "Starting…" : start.isSuccess ? "Started" : "Start run"}
            </button>
          )}
          {!can.ok && <span className="role-note">{can.why}</span>}
          {!canStart && <span className="muted small">This candidate is {candidate.status.replace("_", " ")}; it cannot be started now.</span>}
        </div>
        <ErrorNote error={start.error} />
        <ErrorNote error={preview.error} />
      </form>
      {preview.data && <DryRun result={preview.data} defs={defs} mode={mode} setMode={setMode} />}
    </details>
  );
}

function DryRun({ result, defs, mode, setMode }: { result: DryRunResult; defs: StepDefinition[]; mode: DiffMode; setMode: (m: DiffMode) => void }) {
  const files = result.steps.reduce((n, s) => n + (s.files?.length ?? 0), 0);
  return (
    <div className="dryrun" data-testid="dry-run">
      <div className="table-head">
        <h3>
          Dry run: {files} {files === 1 ? "file" : "files"} would change
        </h3>
        <div className="tabs" role="tablist" aria-label="Diff layout">
          <button type="button" role="tab" aria-selected={mode === "unified"} className={mode === "unified" ? "tab on" : "tab"} onClick={() => setMode("unified")}>
            Unified
          </button>
          <button type="button" role="tab" aria-selected={mode === "split"} className={mode === "split" ? "tab on" : "tab"} onClick={() => setMode("split")}>
            Split
          </button>
        </div>
      </div>
      <ol className="dry-steps">
        {result.steps.map((s) => (
          <li key={s.stepName} className={s.error ? "dry-step failed" : s.skipped ? "dry-step skipped" : "dry-step"} data-step={s.stepName}>
            <div className="tl-head">
              <strong>{s.stepName}</strong>
              {s.error ? (
                <span className="badge status-failed">Error</span>
              ) : s.skipped ? (
                <span className="badge status-skipped">Skipped</span>
              ) : (
                <span className="badge status-succeeded">{(s.files?.length ?? 0) === 1 ? "1 file" : `${s.files?.length ?? 0} files`}</span>
              )}
              <span className="muted small">{defs.find((d) => d.name === s.stepName)?.description}</span>
            </div>
            {s.error && <p className="error-note">{s.error}</p>}
            {s.skipped && !s.error && <p className="muted small">This step changes no files, or cannot be previewed; it runs for real when the run reaches it.</p>}
            {!s.skipped && !s.error && (s.files?.length ?? 0) === 0 && <p className="muted small">No file changes.</p>}
            {s.files?.map((f) => <DiffView key={`${f.repo}/${f.path}`} file={f} mode={mode} />)}
          </li>
        ))}
      </ol>
    </div>
  );
}
