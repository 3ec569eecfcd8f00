import { useQuery, useMutation } from "@tanstack/react-query";
import type { Candidate, CandidateQuery, Migration } from "../api/client";
import { useApi } from "../api/context";
import { ErrorNote } from "../components/ErrorNote";
import { Modal } from "../components/Modal";
import { cancelRuns, eligible, eligibleQuery } from "../bulk";
import { plural } from "../format";

/**
 * CancelRunsDialog confirms cancelling the runs of many candidates with the number it applies to,
 * then asks Drover to cancel them all in one request: the server carries the cancellations out,
 * so closing the page stops nothing. The selection is either the rows picked (selected) or every
 * candidate matching the page's filter (selected is null).
 */
export function CancelRunsDialog({
  migration,
  selected,
  filter,
  selectedCount,
  onClose,
}: {
  migration: Migration;
  selected: Candidate[] | null;
  filter: CandidateQuery;
  selectedCount: number;
  onClose: (didSomething: boolean) => void;
}) {
  const api = useApi();
  const narrowed = eligibleQuery("cancel", filter);
  // How many it applies to: counted from the rows picked, or asked of the server.
  const count = useQuery({
    queryKey: ["cancel-count", migration.id, narrowed, selected?.length],
    queryFn: async () => (selected ? selected.filter((c) => eligible("cancel", c)).length : narrowed ? (await api.listCandidates(migration.id, { ...narrowed, limit: 1 })).total : 0),
    staleTime: Infinity,
  });
  const send = useMutation({ mutationFn: () => cancelRuns(api, migration.id, selected, filter) });
  const n = count.data ?? 0;
  const skipped = selectedCount - n;

  if (send.isSuccess) {
    return (
      <Modal title="Cancelling runs" onClose={() => onClose(true)}>
        <div className="modal-body">
          <p role="status">
            Drover is cancelling {plural(send.data, "run")} on the server; each candidate goes back to not started as its run closes. You can leave this page:
            nothing stops.
          </p>
        </div>
        <div className="actions">
          <button type="button" className="primary" onClick={() => onClose(true)}>
            Close
          </button>
        </div>
      </Modal>
    );
  }
  return (
    <Modal title={count.isLoading ? "Cancel runs" : n === 0 ? "Nothing to cancel" : `Cancel ${plural(n, "run")}?`} onClose={() => onClose(false)}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          send.mutate();
        }}
      >
        <div className="modal-body">
          <ErrorNote error={count.error} />
          {count.isLoading && <p className="muted">Counting…</p>}
          {count.isSuccess && n === 0 && <p>None of the selected candidates is running.</p>}
          {count.isSuccess && n > 0 && (
            <p>
              Drover stops the runs of {plural(n, "candidate")} of <strong>{migration.name}</strong>, asks the migrator to clean up, and sets each back to not
              started. Work the migrator already did stays until its clean-up removes it.
            </p>
          )}
          {count.isSuccess && skipped > 0 && n > 0 && (
            <p className="muted small">
              {plural(skipped, "other selected candidate")} {skipped === 1 ? "is" : "are"} not running and {skipped === 1 ? "is" : "are"} left as {skipped === 1 ? "it is" : "they are"}.
            </p>
          )}
          <ErrorNote error={send.error} />
        </div>
        <div className="actions">
          <button type="button" onClick={() => onClose(false)}>
            {n > 0 ? "Keep as is" : "Close"}
          </button>
          {n > 0 && (
            <button type="submit" className="danger" disabled={send.isPending}>
              {send.isPending ? "Sending…" : `Cancel ${plural(n, "run")}`}
            </button>
          )}
        </div>
      </form>
    </Modal>
  );
}
