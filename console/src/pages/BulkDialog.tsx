import { useState } from "react";
import type { Candidate, Migration } from "../api/client";
import { useApi } from "../api/context";
import { ErrorNote } from "../components/ErrorNote";
import { Modal } from "../components/Modal";
import { eligible, runBulk, type BulkOutcome } from "../bulk";
import { plural } from "../format";

/** BulkDialog confirms a bulk start or cancel with the exact count, then shows its progress and every failure. */
export function BulkDialog({
  kind,
  migration,
  count,
  resolve,
  onClose,
}: {
  kind: "start" | "cancel";
  migration: Migration;
  count: number;
  resolve: () => Promise<Candidate[]>;
  onClose: (didSomething: boolean) => void;
}) {
  const api = useApi();
  const inputs = migration.requiredInputs ?? [];
  const [form, setForm] = useState<Record<string, string>>({});
  const [phase, setPhase] = useState<"ask" | "working" | "done">("ask");
  const [outcome, setOutcome] = useState<BulkOutcome | null>(null);
  const [todo, setTodo] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const verb = kind === "start" ? "Start" : "Cancel";

  const go = async () => {
    setPhase("working");
    setError(null);
    try {
      const cs = await resolve();
      setTodo(cs.filter((c) => eligible(kind, c)).length);
      const o = await runBulk(api, migration.id, kind, cs, inputs.map((i) => i.name), form, setOutcome);
      setOutcome(o);
      setPhase("done");
    } catch (err) {
      setError(err);
      setPhase("ask");
    }
  };

  const title = kind === "start" ? `Start ${plural(count, "candidate")}?` : `Cancel the runs of ${plural(count, "candidate")}?`;
  return (
    <Modal title={phase === "done" ? `${verb}: finished` : title} onClose={() => phase !== "working" && onClose(phase === "done")}>
      {phase === "ask" && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void go();
          }}
        >
          <div className="modal-body">
            {kind === "start" ? (
              <p>
                Drover starts a run of <strong>{migration.name}</strong> for each selected candidate that has not started. Candidates that are running or
                completed are skipped.
              </p>
            ) : (
              <p>
                Each selected running candidate's run is cancelled: Drover stops dispatching its steps and the migrator's clean-up runs. The candidates go
                back to not started. Candidates that are not running are skipped.
              </p>
            )}
            {kind === "start" &&
              inputs.map((i) => (
                <label key={i.name} className="field">
                  <span>{i.label}</span>
                  <input value={form[i.name] ?? ""} onChange={(e) => setForm({ ...form, [i.name]: e.target.value })} placeholder={`from each candidate's “${i.name}” if left empty`} />
                  {i.description && <small className="muted">{i.description}</small>}
                </label>
              ))}
            <ErrorNote error={error} />
          </div>
          <div className="actions">
            <button type="button" onClick={() => onClose(false)}>
              Keep as is
            </button>
            <button type="submit" className={kind === "start" ? "primary" : "danger"}>
              {kind === "start" ? `Start ${plural(count, "candidate")}` : `Cancel ${plural(count, "run")}`}
            </button>
          </div>
        </form>
      )}
      {phase !== "ask" && (
        <div className="modal-body">
          <progress max={Math.max(todo, 1)} value={(outcome?.done ?? 0) + (outcome?.failed.length ?? 0)} />
          <p role="status">
            {kind === "start" ? "Started" : "Cancelled"} {outcome?.done ?? 0} of {todo}
            {outcome?.failed.length ? `, ${outcome.failed.length} failed` : ""}
            {outcome?.skipped ? ` (${outcome.skipped} skipped: ${kind === "start" ? "already running or completed" : "not running"})` : ""}.
          </p>
          {outcome && outcome.failed.length > 0 && (
            <ul className="failures">
              {outcome.failed.slice(0, 20).map((f) => (
                <li key={f.id}>
                  <code>{f.id}</code>: {f.reason}
                </li>
              ))}
              {outcome.failed.length > 20 && <li className="muted">and {outcome.failed.length - 20} more</li>}
            </ul>
          )}
          {phase === "done" && (
            <div className="actions">
              <button type="button" className="primary" onClick={() => onClose(true)}>
                Close
              </button>
            </div>
          )}
        </div>
      )}
    </Modal>
  );
}
