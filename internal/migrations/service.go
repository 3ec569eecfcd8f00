// Package migrations holds Drover's use cases: announcing migrations, merging candidates,
// starting, cancelling and retrying runs, and handling migrators' callbacks. It depends only on
// the ports in ports.go; adapters for HTTP, Temporal, Redis and migrators live in sub-packages.
package migrations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/drover-dev/drover/pkg/api"
)

// Service implements the use cases on top of the ports.
type Service struct {
	store  MigrationStore
	engine ExecutionEngine
	dryRun DryRunner
	now    func() time.Time
	log    *slog.Logger
	cache  *readCache[[]byte]
	lists  *readCache[[]api.Candidate]
	// insights are computed insights, reused within a time bucket (insightsTTL): they read a
	// migration's whole outcome log, and every console tab on the migrations page asks for the
	// overview of all of them.
	insights *readCache[any]
}

// NewService wires the use cases to their ports; now may be nil (time.Now).
func NewService(store MigrationStore, engine ExecutionEngine, dryRun DryRunner, now func() time.Time, log *slog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: store, engine: engine, dryRun: dryRun, now: now, log: log, cache: newReadCache[[]byte](), lists: newReadCache[[]api.Candidate](),
		insights: newReadCache[any]()}
}

// Announce creates or replaces a migration's definition and merges its candidates.
func (s *Service) Announce(ctx context.Context, a api.MigrationAnnouncement) error {
	if err := validateAnnouncement(a); err != nil {
		return err
	}
	if s.dryRun != nil { // nil in service tests, which have no migrator adapter
		if err := s.dryRun.CheckURL(a.MigratorUrl); err != nil {
			return &ValidationError{Field: "migratorUrl", Message: strings.TrimPrefix(err.Error(), "migratorUrl ")}
		}
	}
	now := s.now().UTC()
	def := api.Migration{
		Id:             a.Id,
		Name:           a.Name,
		Description:    a.Description,
		Overview:       a.Overview,
		Phases:         a.Phases,
		MigratorUrl:    a.MigratorUrl, // as sent: it comes back in every dispatch
		RequiredInputs: a.RequiredInputs,
		Steps:          a.Steps,
		CreatedAt:      now,
		UpdatedAt:      now,
	}
	if err := s.store.SaveMigration(ctx, def); err != nil {
		return storeErr(fmt.Errorf("announce %s: %w", a.Id, err))
	}
	if err := s.store.MergeCandidates(ctx, a.Id, a.Candidates, now); err != nil {
		return storeErr(fmt.Errorf("announce %s: merge candidates: %w", a.Id, err))
	}
	s.log.InfoContext(ctx, "migration announced", "migration", a.Id, "candidates", len(a.Candidates), "steps", len(a.Steps))
	return nil
}

// SubmitCandidates merges candidates into an existing migration (see MigrationStore.MergeCandidates).
func (s *Service) SubmitCandidates(ctx context.Context, migrationID string, candidates []api.CandidateInput) error {
	if err := ValidateMigrationID("migrationId", migrationID); err != nil {
		return err
	}
	if err := validateCandidates("candidates", candidates); err != nil {
		return err
	}
	if _, err := s.migration(ctx, migrationID); err != nil {
		return err
	}
	if err := s.store.MergeCandidates(ctx, migrationID, candidates, s.now().UTC()); err != nil {
		return storeErr(fmt.Errorf("submit candidates to %s: %w", migrationID, err))
	}
	return nil
}

// ListMigrations returns every migration with its candidates and counts.
func (s *Service) ListMigrations(ctx context.Context) ([]api.Migration, error) {
	ms, err := s.store.ListMigrations(ctx, true)
	if err != nil {
		return nil, storeErr(fmt.Errorf("list migrations: %w", err))
	}
	for i := range ms {
		ms[i].Counts.Attention = countAttention(ms[i].Candidates)
	}
	return ms, nil
}

// GetMigration returns one migration with its candidates and counts.
func (s *Service) GetMigration(ctx context.Context, id string) (api.Migration, error) {
	m, err := s.migration(ctx, id)
	if err != nil {
		return api.Migration{}, err
	}
	cs, err := s.store.ListCandidates(ctx, id)
	if err != nil {
		return api.Migration{}, storeErr(fmt.Errorf("get migration %s: %w", id, err))
	}
	m.Candidates = cs
	m.Counts.Attention = countAttention(cs)
	return m, nil
}

// ListCandidates returns a migration's candidates ordered by id, from the read cache (one
// version read while nothing changed): the list is shared, callers must not modify it.
func (s *Service) ListCandidates(ctx context.Context, migrationID string) ([]api.Candidate, error) {
	return s.candidateList(ctx, migrationID)
}

// Start validates the operator's inputs, stores them and starts a run of the candidate. It
// returns the run id.
func (s *Service) Start(ctx context.Context, migrationID, candidateID string, inputs map[string]string) (string, error) {
	m, c, err := s.candidate(ctx, migrationID, candidateID)
	if err != nil {
		return "", err
	}
	if err := validateInputKeys(m, inputs); err != nil {
		return "", err
	}
	switch c.Status {
	case api.CandidateStatusRunning:
		return "", Conflict(ErrCandidateRunning, "candidate %s of migration %s is already running", candidateID, migrationID)
	case api.CandidateStatusCompleted:
		return "", Conflict(ErrCandidateCompleted, "candidate %s of migration %s has already completed", candidateID, migrationID)
	}
	if missing := missingInputs(m, c, inputs); len(missing) > 0 {
		return "", Invalid("inputs", "missing required input(s): %s", strings.Join(missing, ", "))
	}
	// The inputs travel with the run, which stores them as it begins: a start that loses
	// the race to a concurrent one must not overwrite the winner's.
	in := RunInput{MigrationID: migrationID, CandidateID: candidateID, Steps: stepsFor(m, c), Inputs: inputs}
	if err := s.engine.StartRun(ctx, in); err != nil {
		return "", fmt.Errorf("start %s: %w", RunID(migrationID, candidateID), err)
	}
	s.log.InfoContext(ctx, "run started", "run", RunID(migrationID, candidateID), "steps", len(in.Steps))
	return RunID(migrationID, candidateID), nil
}

// Cancel cancels the candidate's run. It returns true once the run has closed and the candidate
// is back to not_started, false when cancellation was requested but the run has not closed yet.
func (s *Service) Cancel(ctx context.Context, migrationID, candidateID string) (bool, error) {
	_, c, err := s.candidate(ctx, migrationID, candidateID)
	if err != nil {
		return false, err
	}
	runID := RunID(migrationID, candidateID)
	status, err := s.engine.CancelRun(ctx, runID)
	var closed *RunClosedError
	switch {
	case errors.As(err, &closed):
		switch closed.Status {
		case RunCompleted:
			// Possibly a moment ago, racing this request: the read model says so by now.
			return false, Conflict(ErrCandidateNotRunning, "candidate %s of migration %s is not running: its run has completed", candidateID, migrationID)
		case RunCancelled:
			return false, Conflict(ErrCandidateNotRunning, "candidate %s of migration %s is not running (its last run was cancelled)", candidateID, migrationID)
		}
		// The run was ended outside Drover (terminated, failed): put the read model of that
		// run, and only that run, back in line with the engine.
		if err := s.reconcile(ctx, migrationID, candidateID, closed.ExecutionID); err != nil {
			return false, err
		}
		return true, nil
	case errors.Is(err, ErrRunNotFound):
		// The engine has no open run. Read the run again rather than trust the read above: it
		// may have ended a moment ago, racing this cancel.
		run, gerr := s.store.GetRun(ctx, migrationID, candidateID)
		switch {
		case errors.Is(gerr, ErrRunNotFound):
			if c.Status == api.CandidateStatusRunning {
				s.log.ErrorContext(ctx, "candidate is running without a run record or a run in the engine", "run", runID)
				return false, Conflict(ErrCandidateNotRunning, "candidate %s of migration %s is marked running, but it has no run record and the engine has no run: nothing was cancelled", candidateID, migrationID)
			}
			return false, Conflict(ErrCandidateNotRunning, "candidate %s of migration %s is not running (status %s)", candidateID, migrationID, c.Status)
		case gerr != nil:
			return false, storeErr(fmt.Errorf("cancel %s: %w", runID, gerr))
		case run.Status != api.RunStatusRunning:
			return false, Conflict(ErrCandidateNotRunning, "candidate %s of migration %s is not running: its run has %s", candidateID, migrationID, run.Status)
		}
		// The store says running but the engine has no run at all (its history is gone). The
		// store's own guard keeps this from undoing an end written in between.
		if err := s.reconcile(ctx, migrationID, candidateID, run.ExecutionID); err != nil {
			return false, err
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("cancel %s: %w", runID, err)
	}
	switch status {
	case RunCancelled:
		s.log.InfoContext(ctx, "run cancelled", "run", runID)
		return true, nil
	case RunCompleted:
		return false, Conflict(ErrRunCompletedBeforeCancel, "run %s completed before it could be cancelled", runID)
	case RunFailed:
		run, err := s.store.GetRun(ctx, migrationID, candidateID)
		if err != nil {
			return false, storeErr(fmt.Errorf("cancel %s: %w", runID, err))
		}
		if err := s.reconcile(ctx, migrationID, candidateID, run.ExecutionID); err != nil {
			return false, err
		}
		return true, nil
	default:
		return false, nil
	}
}

// reconcile ends the read model's run executionID as cancelled and returns its candidate to
// not_started; a no-op when another run has begun since.
func (s *Service) reconcile(ctx context.Context, migrationID, candidateID, executionID string) error {
	if err := s.store.ReconcileRun(ctx, migrationID, candidateID, executionID, s.now().UTC()); err != nil && !errors.Is(err, ErrRunNotFound) {
		return storeErr(fmt.Errorf("reconcile %s: %w", RunID(migrationID, candidateID), err))
	}
	s.log.WarnContext(ctx, "candidate was running without an open run; reset to not_started", "run", RunID(migrationID, candidateID))
	return nil
}

// RetryStep re-dispatches the step that failed.
func (s *Service) RetryStep(ctx context.Context, migrationID, candidateID, stepName string) error {
	_, c, err := s.candidate(ctx, migrationID, candidateID)
	if err != nil {
		return err
	}
	runID := RunID(migrationID, candidateID)
	if c.Status != api.CandidateStatusRunning {
		return Conflict(ErrCandidateNotRunning, "candidate %s of migration %s is not running (status %s); start it instead", candidateID, migrationID, c.Status)
	}
	run, err := s.store.GetRun(ctx, migrationID, candidateID)
	if err != nil {
		return s.notFoundOrUnavailable(fmt.Errorf("retry %s: %w", runID, err), migrationID, candidateID)
	}
	if !slices.Contains(run.StepNames, stepName) {
		return Invalid("stepName", "%q is not a step of run %s (steps: %s)", stepName, runID, strings.Join(run.StepNames, ", "))
	}
	st, ok := run.Step(stepName)
	if !ok {
		return Conflict(ErrStepNotRetryable, "step %q of run %s has not started; only a failed, silent or overdue step can be retried", stepName, runID)
	}
	if !Retryable(st) {
		return Conflict(ErrStepNotRetryable, "step %q of run %s is %s: not failed, silent or overdue, so it cannot be retried", stepName, runID, st.Status)
	}
	if err := s.engine.Signal(ctx, runID, SignalRetryStep, RetryRequest{StepName: stepName}); err != nil {
		if errors.Is(err, ErrRunNotFound) {
			return Conflict(ErrCandidateNotRunning, "run %s is not running", runID)
		}
		return fmt.Errorf("retry %s step %s: %w", runID, stepName, err)
	}
	s.log.InfoContext(ctx, "step retry requested", "run", runID, "step", stepName)
	return nil
}

// UpdateInputs validates and stores operator inputs; a running run uses them from its next
// dispatch on. It returns the candidate's inputs after the update.
func (s *Service) UpdateInputs(ctx context.Context, migrationID, candidateID string, inputs map[string]string) (map[string]string, error) {
	m, _, err := s.candidate(ctx, migrationID, candidateID)
	if err != nil {
		return nil, err
	}
	if err := validateInputKeys(m, inputs); err != nil {
		return nil, err
	}
	merged, err := s.store.MergeInputs(ctx, migrationID, candidateID, inputs)
	if err != nil {
		return nil, s.notFoundOrUnavailable(fmt.Errorf("update inputs of %s: %w", RunID(migrationID, candidateID), err), migrationID, candidateID)
	}
	return merged, nil
}

// GetSteps returns the candidate's latest run with its step states, each naming the candidate
// (id, kind and current status) as the wire contract's StepState does. It is two store reads:
// the console polls it for every run it shows.
func (s *Service) GetSteps(ctx context.Context, migrationID, candidateID string) (RunRecord, error) {
	if err := ValidateMigrationID("migrationId", migrationID); err != nil {
		return RunRecord{}, err
	}
	if err := ValidateCandidateID("candidateId", candidateID); err != nil {
		return RunRecord{}, err
	}
	run, err := s.store.GetRun(ctx, migrationID, candidateID)
	switch {
	case errors.Is(err, ErrMigrationNotFound), errors.Is(err, ErrCandidateNotFound):
		return RunRecord{}, s.notFoundOrUnavailable(err, migrationID, candidateID)
	case errors.Is(err, ErrRunNotFound):
		return RunRecord{}, fmt.Errorf("candidate %s of migration %s has never run: %w", candidateID, migrationID, ErrRunNotFound)
	case err != nil:
		return RunRecord{}, storeErr(fmt.Errorf("get steps of %s: %w", RunID(migrationID, candidateID), err))
	}
	c, err := s.store.GetCandidate(ctx, migrationID, candidateID)
	if err != nil {
		return RunRecord{}, s.notFoundOrUnavailable(fmt.Errorf("get steps of %s: %w", RunID(migrationID, candidateID), err), migrationID, candidateID)
	}
	ref := api.Candidate{Id: c.Id, Kind: c.Kind, Status: c.Status}
	for i := range run.Steps {
		run.Steps[i].Candidate = ref
	}
	return run, nil
}

// DryRun asks the migrator to preview the stored candidate with its stored steps, merged with
// the operator's inputs.
func (s *Service) DryRun(ctx context.Context, migrationID, candidateID string, inputs map[string]string) (api.DryRunResult, error) {
	m, c, err := s.candidate(ctx, migrationID, candidateID)
	if err != nil {
		return api.DryRunResult{}, err
	}
	if err := validateInputKeys(m, inputs); err != nil {
		return api.DryRunResult{}, err
	}
	c.Inputs = mergeMaps(c.Inputs, inputs)
	req := api.DryRunRequest{MigrationId: migrationID, Candidate: DispatchCandidate(c, migrationID), Steps: stepsFor(m, c)}
	res, err := s.dryRun.DryRun(ctx, m.MigratorUrl, req)
	if err != nil {
		return api.DryRunResult{}, migratorErr(fmt.Sprintf("dry run of %s", RunID(migrationID, candidateID)), err)
	}
	return res, nil
}

// HandleEvent validates a migrator's callback against the run's read model and forwards it to
// the run. It returns true when the event repeats an outcome already recorded (no effect).
func (s *Service) HandleEvent(ctx context.Context, runID string, ev api.StepStatusEvent) (bool, error) {
	migrationID, candidateID, err := ParseRunID(runID)
	if err != nil {
		return false, err
	}
	if !ev.Status.Valid() {
		return false, Invalid("status", "%q is not a step status; expected one of succeeded, failed, pending, merged", ev.Status)
	}
	if ev.CandidateId != candidateID {
		return false, Invalid("candidateId", "%q does not match run %s, whose candidate is %q", ev.CandidateId, runID, candidateID)
	}
	run, err := s.store.GetRun(ctx, migrationID, candidateID)
	if errors.Is(err, ErrRunNotFound) {
		return false, fmt.Errorf("run %s: %w", runID, ErrRunNotFound)
	}
	if err != nil {
		return false, s.notFoundOrUnavailable(fmt.Errorf("event for %s: %w", runID, err), migrationID, candidateID)
	}
	if !slices.Contains(run.StepNames, ev.StepName) {
		return false, Invalid("stepName", "%q is not a step of run %s (steps: %s)", ev.StepName, runID, strings.Join(run.StepNames, ", "))
	}
	st, started := run.Step(ev.StepName)
	if started && ev.DispatchId != "" && st.DispatchId != "" && ev.DispatchId != st.DispatchId {
		return false, Conflict(ErrStepNotWaiting, "event for dispatch %s of step %q, but run %s is at dispatch %s: it answers an earlier run or try and is ignored", ev.DispatchId, ev.StepName, runID, st.DispatchId)
	}
	if started && string(st.Status) == string(ev.Status) && (ev.Status != api.StepEventStatusPending || subset(ev.Metadata, st.Metadata)) {
		return true, nil // a repeat, or a progress report that changes nothing: no signal, no history
	}
	if run.Status != api.RunStatusRunning {
		return false, Conflict(ErrStepNotWaiting, "run %s is %s; it takes no more events", runID, run.Status)
	}
	if !started {
		where := "has not dispatched any step yet"
		if n := len(run.Steps); n > 0 {
			where = fmt.Sprintf("is at step %q (%s)", run.Steps[n-1].StepName, run.Steps[n-1].Status)
		}
		return false, Conflict(ErrStepNotWaiting, "step %q of run %s has not been dispatched yet; the run %s", ev.StepName, runID, where)
	}
	switch st.Status {
	case api.StepStatusSucceeded, api.StepStatusMerged:
		return false, Conflict(ErrStepNotWaiting, "step %q of run %s has already ended as %s", ev.StepName, runID, st.Status)
	case api.StepStatusFailed:
		return false, Conflict(ErrStepNotWaiting, "step %q of run %s has failed and waits for a retry or a cancel", ev.StepName, runID)
	}
	metadata := ev.Metadata
	if _, err := MergeStepMetadata(st.Metadata, ev.Metadata); err != nil {
		if ev.Status == api.StepEventStatusPending {
			return false, err
		}
		// A step's end is never refused for its metadata: the migrator would not send it again
		// and the run would wait for ever. It ends without the metadata, but a failure's reason.
		s.log.WarnContext(ctx, "a step's last event carries metadata beyond the step's bounds; the step ends without it",
			"run", runID, "step", ev.StepName, "status", ev.Status, "error", err)
		metadata = failureOnly(ev.Metadata)
	}
	payload := StepEvent{StepName: ev.StepName, Status: ev.Status, Metadata: metadata, DispatchID: ev.DispatchId}
	if err := s.engine.Signal(ctx, runID, SignalStepEvent, payload); err != nil {
		if errors.Is(err, ErrRunNotFound) {
			return false, Conflict(ErrStepNotWaiting, "run %s is not running", runID)
		}
		return false, fmt.Errorf("event for %s: %w", runID, err)
	}
	return false, nil
}

// CompleteStep records an operator's verdict on a step that waits (for a person, say): done
// (succeeded) or failed, with a note, as the operator rather than as the migrator. The
// step's metadata gains markedBy (the operator) and note or error.
func (s *Service) CompleteStep(ctx context.Context, migrationID, candidateID, stepName string, status api.StepEventStatus, note, dispatchID, actor string) error {
	if status != api.StepEventStatusSucceeded && status != api.StepEventStatusFailed {
		return Invalid("status", "%q cannot be set by an operator; expected succeeded or failed", status)
	}
	if _, _, err := s.candidate(ctx, migrationID, candidateID); err != nil {
		return err
	}
	run, err := s.store.GetRun(ctx, migrationID, candidateID)
	if errors.Is(err, ErrRunNotFound) {
		return fmt.Errorf("candidate %s of %s has never run: %w", candidateID, migrationID, ErrRunNotFound)
	}
	if err != nil {
		return s.notFoundOrUnavailable(fmt.Errorf("complete step %s of %s/%s: %w", stepName, migrationID, candidateID, err), migrationID, candidateID)
	}
	st, started := run.Step(stepName)
	if !started {
		if !slices.Contains(run.StepNames, stepName) {
			return Invalid("stepName", "%q is not a step of run %s (steps: %s)", stepName, run.RunID, strings.Join(run.StepNames, ", "))
		}
		return Conflict(ErrStepNotWaiting, "step %q of run %s has not been dispatched yet", stepName, run.RunID)
	}
	if dispatchID != "" && st.DispatchId != "" && dispatchID != st.DispatchId {
		return Conflict(ErrStepNotWaiting, "step %q of run %s was dispatched again (dispatch %s) since you saw dispatch %s; look again before marking it", stepName, run.RunID, st.DispatchId, dispatchID)
	}
	md := map[string]string{"markedBy": actor}
	if note != "" {
		key := "note"
		if status == api.StepEventStatusFailed {
			key = "error"
		}
		md[key] = note
	}
	ev := api.StepStatusEvent{StepName: stepName, CandidateId: candidateID, Status: status, DispatchId: st.DispatchId, Metadata: md}
	dup, err := s.HandleEvent(ctx, RunID(migrationID, candidateID), ev)
	if err != nil {
		return err
	}
	if dup {
		return Conflict(ErrStepNotWaiting, "step %q of run %s has already ended as %s", stepName, run.RunID, st.Status)
	}
	return nil
}

// Ready reports each dependency's health by name; a nil error means healthy.
func (s *Service) Ready(ctx context.Context) map[string]error {
	return map[string]error{"store": s.store.Ping(ctx), "temporal": s.engine.Ping(ctx)}
}

func (s *Service) migration(ctx context.Context, id string) (api.Migration, error) {
	if err := ValidateMigrationID("migrationId", id); err != nil {
		return api.Migration{}, err
	}
	m, err := s.store.GetMigration(ctx, id)
	if errors.Is(err, ErrMigrationNotFound) {
		return api.Migration{}, fmt.Errorf("migration %q: %w", id, ErrMigrationNotFound)
	}
	if err != nil {
		return api.Migration{}, storeErr(fmt.Errorf("get migration %s: %w", id, err))
	}
	return m, nil
}

// GetCandidate returns one candidate with its status, inputs and latest run summary.
func (s *Service) GetCandidate(ctx context.Context, migrationID, candidateID string) (api.Candidate, error) {
	_, c, err := s.candidate(ctx, migrationID, candidateID)
	return c, err
}

func (s *Service) candidate(ctx context.Context, migrationID, candidateID string) (api.Migration, api.Candidate, error) {
	if err := ValidateMigrationID("migrationId", migrationID); err != nil {
		return api.Migration{}, api.Candidate{}, err
	}
	if err := ValidateCandidateID("candidateId", candidateID); err != nil {
		return api.Migration{}, api.Candidate{}, err
	}
	m, err := s.migration(ctx, migrationID)
	if err != nil {
		return api.Migration{}, api.Candidate{}, err
	}
	c, err := s.store.GetCandidate(ctx, migrationID, candidateID)
	if errors.Is(err, ErrCandidateNotFound) {
		return api.Migration{}, api.Candidate{}, fmt.Errorf("candidate %q of migration %q: %w", candidateID, migrationID, ErrCandidateNotFound)
	}
	if err != nil {
		return api.Migration{}, api.Candidate{}, storeErr(fmt.Errorf("get candidate %s: %w", RunID(migrationID, candidateID), err))
	}
	return m, c, nil
}

func (s *Service) notFoundOrUnavailable(err error, migrationID, candidateID string) error {
	switch {
	case errors.Is(err, ErrCandidateNotFound):
		return fmt.Errorf("candidate %q of migration %q: %w", candidateID, migrationID, ErrCandidateNotFound)
	case errors.Is(err, ErrMigrationNotFound):
		return fmt.Errorf("migration %q: %w", migrationID, ErrMigrationNotFound)
	}
	return storeErr(err)
}

// storeErr marks an unexpected store failure as a dependency outage, keeping domain errors.
func storeErr(err error) error {
	for _, known := range []error{ErrMigrationNotFound, ErrCandidateNotFound, ErrRunNotFound, ErrUnavailable} {
		if errors.Is(err, known) {
			return err
		}
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// migratorErr turns an adapter's failure into ErrMigratorTimeout or ErrMigratorFailed.
func migratorErr(what string, err error) error {
	var mf MigratorFailure
	if errors.As(err, &mf) {
		if mf.Timeout() {
			return fmt.Errorf("%s: %w: %w", what, ErrMigratorTimeout, err)
		}
		return fmt.Errorf("%s: %w: %w", what, ErrMigratorFailed, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w: %w", what, ErrMigratorTimeout, err)
	}
	return fmt.Errorf("%s: %w: %w", what, ErrMigratorFailed, err)
}

// DispatchCandidate is the candidate as a migrator sees it in dispatches and dry runs: the
// contract's fields as the migrator sent them (id, kind, metadata, files, steps) and its
// status, with the operator's inputs merged into the metadata (inputs win). Drover's own
// fields (inputs, run summary, times) stay out. Its own steps name their migratorApp (StepApp).
func DispatchCandidate(c api.Candidate, migrationID string) api.Candidate {
	return api.Candidate{
		Id:       c.Id,
		Kind:     c.Kind,
		Metadata: mergeMaps(c.Metadata, c.Inputs),
		Files:    c.Files,
		Steps:    withApps(c.Steps, migrationID),
		Status:   c.Status,
	}
}

// StepApp is the migratorApp a step's dispatch names: the step's own, or the migration's id
// for a step stored before steps carried one.
func StepApp(step api.StepDefinition, migrationID string) string {
	if step.MigratorApp != "" {
		return step.MigratorApp
	}
	return migrationID
}

// failureOnly keeps the keys of metadata that carry a failure's reason.
func failureOnly(metadata map[string]string) map[string]string {
	var out map[string]string
	for _, k := range []string{"error", "message"} {
		if v, ok := metadata[k]; ok {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// subset reports whether every key of a has the same value in b.
func subset(a, b map[string]string) bool {
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// stepsFor returns the steps a run of c follows: its own, else the migration's, each naming its
// migratorApp (StepApp).
func stepsFor(m api.Migration, c api.Candidate) []api.StepDefinition {
	steps := m.Steps
	if len(c.Steps) > 0 {
		steps = c.Steps
	}
	return withApps(steps, m.Id)
}

// withApps returns steps with StepApp as each one's migratorApp; steps that name one (all but
// those stored before steps had one) are returned as they are.
func withApps(steps []api.StepDefinition, migrationID string) []api.StepDefinition {
	for i, st := range steps {
		if st.MigratorApp == "" {
			out := slices.Clone(steps)
			for j := i; j < len(out); j++ {
				out[j].MigratorApp = StepApp(out[j], migrationID)
			}
			return out
		}
	}
	return steps
}

func mergeMaps(base, over map[string]string) map[string]string {
	if len(base) == 0 && len(over) == 0 {
		return base
	}
	out := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

func validateInputKeys(m api.Migration, inputs map[string]string) error {
	if len(inputs) == 0 {
		return nil
	}
	known := make([]string, 0, len(m.RequiredInputs))
	for _, ri := range m.RequiredInputs {
		known = append(known, ri.Name)
	}
	keys := make([]string, 0, len(inputs))
	for k := range inputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(known, k) {
			if len(known) == 0 {
				return Invalid("inputs."+k, "migration %s takes no inputs", m.Id)
			}
			return Invalid("inputs."+k, "%q is not an input of migration %s; expected one of: %s", k, m.Id, strings.Join(known, ", "))
		}
	}
	return nil
}

func missingInputs(m api.Migration, c api.Candidate, inputs map[string]string) []string {
	var missing []string
	for _, ri := range m.RequiredInputs {
		if strings.TrimSpace(inputs[ri.Name]) != "" || strings.TrimSpace(c.Inputs[ri.Name]) != "" || strings.TrimSpace(c.Metadata[ri.Name]) != "" {
			continue
		}
		missing = append(missing, fmt.Sprintf("%s (%s)", ri.Name, ri.Label))
	}
	return missing
}

func validateAnnouncement(a api.MigrationAnnouncement) error {
	if err := ValidateMigrationID("id", a.Id); err != nil {
		return err
	}
	if strings.TrimSpace(a.Name) == "" {
		return Invalid("name", "must not be empty")
	}
	if err := validateMigratorURL(a.MigratorUrl); err != nil {
		return err
	}
	if len(a.Steps) == 0 {
		return Invalid("steps", "a migration needs at least one step")
	}
	if err := validateSteps("steps", a.Steps); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, ri := range a.RequiredInputs {
		if strings.TrimSpace(ri.Name) == "" {
			return Invalid(fmt.Sprintf("requiredInputs[%d].name", i), "must not be empty")
		}
		if seen[ri.Name] {
			return Invalid(fmt.Sprintf("requiredInputs[%d].name", i), "%q is listed twice", ri.Name)
		}
		seen[ri.Name] = true
	}
	return validateCandidates("candidates", a.Candidates)
}

func validateMigratorURL(raw string) error {
	if err := api.ValidateMigratorURL(raw); err != nil {
		return &ValidationError{Field: "migratorUrl", Message: strings.TrimPrefix(err.Error(), "migratorUrl ")}
	}
	return nil
}

func validateSteps(field string, steps []api.StepDefinition) error {
	seen := map[string]bool{}
	for i, st := range steps {
		if strings.TrimSpace(st.Name) == "" {
			return Invalid(fmt.Sprintf("%s[%d].name", field, i), "must not be empty")
		}
		if seen[st.Name] {
			return Invalid(fmt.Sprintf("%s[%d].name", field, i), "step %q is listed twice", st.Name)
		}
		seen[st.Name] = true
		if strings.TrimSpace(st.MigratorApp) == "" {
			return Invalid(fmt.Sprintf("%s[%d].migratorApp", field, i), "must not be empty: name the app id of the migrator that handles step %q", st.Name)
		}
		if _, err := StepTimeout(st); err != nil {
			return Invalid(fmt.Sprintf("%s[%d].timeout", field, i), "%v", err)
		}
		if st.Redeliver < 0 || st.Redeliver > MaxRedeliver {
			return Invalid(fmt.Sprintf("%s[%d].redeliver", field, i), "%d is outside 0 to %d", st.Redeliver, MaxRedeliver)
		}
	}
	return nil
}

func validateCandidates(field string, cs []api.CandidateInput) error {
	seen := make(map[string]bool, len(cs))
	for i, c := range cs {
		f := fmt.Sprintf("%s[%d]", field, i)
		if err := ValidateCandidateID(f+".id", c.Id); err != nil {
			return err
		}
		if seen[c.Id] {
			return Invalid(f+".id", "candidate %q is listed twice", c.Id)
		}
		seen[c.Id] = true
		if strings.TrimSpace(c.Kind) == "" {
			return Invalid(f+".kind", "must not be empty")
		}
		if err := validateSteps(f+".steps", c.Steps); err != nil {
			return err
		}
	}
	return nil
}
