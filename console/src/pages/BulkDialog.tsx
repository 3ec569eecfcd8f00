import { useRef, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import type { Candidate, CandidateQuery, Migration } from "../api/client";
import { useApi } from "../api/context";
import { ErrorNote } from "../components/ErrorNote";
import { Modal } from "../components/Modal";
import { collect, eligible, eligibleQuery, runBulk, type BulkKind, type BulkOutcome } from "../bulk";
import { plural } from "../format";

/**
 * BulkDialog confirms a bulk start or cancel with the number of candidates it applies to, then
 * shows its progress (it can be stopped) and every failure. The selection is either the rows
 * picked (selected) or every candidate matching the page's filter (selected is null).
 */
export function BulkDialog({
  kind,
  migration,
  selected,
  filter,
  selectedCount,
  onClose,
}: {
  kind: BulkKind;
  migration: Migration;
  selected: Candidate[] | null;
  filter: CandidateQuery;
  selectedCount: number;
  onClose: (didSomething: boolean) => void;
}) {
  const api = useApi();
  const inputs = kind === "start" ? migration.requiredInputs ?? [] : [];
  const [form, setForm] = useState<Record<string, string>>({});
  const [phase, setPhase] = useState<"ask" | "working" | "done">("ask");
  const [outcome, setOutcome] = useState<BulkOutcome | null>(null);
  const [error, setError] = useState<unknown>(null);
  const stop = useRef(new AbortController());
  const narrowed = eligibleQuery(kind, filter);
  // How many the action applies to: counted from the rows picked, or asked of the server.
  const count = useQuery({
    queryKey: ["bulk-count", migration.id, kind, narrowed, selected?.length],
    queryFn: async () => (selected ? selected.filter((c) => eligible(kind, c)).length : narrowed ? (await api.listCandidates(migration.id, { ...narrowed, limit: 1 })).total : 0),
    staleTime: Infinity,
  });
  const n = count.data ?? 0;
  const skipped = selectedCount - n;
  const notApplicable = kind === "start" ? "already running or completed" : "not running";

  const go = async () => {
    setPhase("working");
    setError(null);
    try {
      const cs = selected ?? (narrowed ? await collect(api, migration.id, narrowed) : []);
      const o = await runBulk(api, migration.id, kind, cs, inputs.map((i) => i.name), form, setOutcome, stop.current.signal);
      setOutcome(o);
      setPhase("done");
    } catch (err) {
      setError(err);
      setPhase("ask");
    }
  };

  const title =
    phase === "done"
      ? outcome?.stopped
        ? "Stopped"
        : "Finished"
      : kind === "start"
        ? `Start ${plural(n, "candidate")}?`
        : `Cancel the runs of ${plural(n, "candidate")}?`;
  return (
    <Modal title={count.isLoading ? "Counting…" : title} onClose={() => phase !== "working" && onClose(phase === "done")}>
      {phase === "ask" && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void go();
          }}
        >
          <div className="modal-body">
            <ErrorNote error={count.error} />
            {count.isSuccess && n === 0 ? (
              <p>
                None of the {plural(selectedCount, "selected candidate")} can be {kind === "start" ? "started" : "cancelled"}: they are {notApplicable}.
              </p>
            ) : kind === "start" ? (
              <p>
                Drover starts a run of <strong>{migration.name}</strong> for each of them.
              </p>
            ) : (
              <p>
                Drover stops dispatching their steps, the migrator's clean-up runs, and they go back to not started.
              </p>
            )}
            {skipped > 0 && n > 0 && (
              <p className="muted">
                {plural(skipped, "other selected candidate")} {skipped === 1 ? "is" : "are"} {notApplicable} and {skipped === 1 ? "is" : "are"} skipped.
              </p>
            )}
            {n > 0 &&
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
              {n > 0 ? "Keep as is" : "Close"}
            </button>
            {n > 0 && (
              <button type="submit" className={kind === "start" ? "primary" : "danger"}>
                {kind === "start" ? `Start ${plural(n, "candidate")}` : `Cancel ${plural(n, "run")}`}
              </button>
            )}
          </div>
        </form>
      )}
      {phase !== "ask" && <Progress kind={kind} total={n} outcome={outcome} />}
      {phase === "working" && (
        <div className="actions">
          <button type="button" onClick={() => stop.current.abort()} disabled={stop.current.signal.aborted}>
            Stop
          </button>
        </div>
      )}
      {phase === "done" && (
        <div className="actions">
          <button type="button" className="primary" onClick={() => onClose(true)}>
            Close
          </button>
        </div>
      )}
    </Modal>
  );
}

function Progress({ kind, total, outcome }: { kind: BulkKind; total: number; outcome: BulkOutcome | null }) {
  const o = outcome ?? { done: 0, pending: 0, failed: [], skipped: 0, changed: 0, stopped: false };
  const parts = [
    o.failed.length ? `${o.failed.length} failed` : "",
    o.pending ? `${o.pending} still cleaning up` : "",
    o.changed ? `${o.changed} skipped (their status had changed)` : "",
  ].filter(Boolean);
  return (
    <div className="modal-body">
      <progress max={Math.max(total, 1)} value={o.done + o.failed.length + o.changed} />
      <p role="status">
        {kind === "start" ? "Started" : "Cancelled"} {o.done} of {total}
        {parts.length ? `; ${parts.join(", ")}` : ""}.{o.stopped ? " Stopped before the rest." : ""}
      </p>
      {o.failed.length > 0 && (
        <ul className="failures">
          {o.failed.slice(0, 20).map((f) => (
            <li key={f.id}>
              <code>{f.id}</code>: {f.reason}
            </li>
          ))}
          {o.failed.length > 20 && <li className="muted">and {o.failed.length - 20} more</li>}
        </ul>
      )}
    </div>
  );
}
