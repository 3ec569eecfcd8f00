package migrations

import (
	"context"
	"time"

	"github.com/drover-dev/drover/pkg/api"
)

// MigrationStore persists migrations, candidates and run state. It is the read model: the
// workflow writes every candidate-status and step-state change into it, and every read the
// API serves comes from it. Implementations must make each method atomic.
type MigrationStore interface {
	// SaveMigration creates or replaces a migration's definition (m.Candidates and m.Counts are
	// ignored). Replacing keeps the original CreatedAt and every candidate with its state.
	SaveMigration(ctx context.Context, m api.Migration) error
	// GetMigration returns a migration's definition with Counts filled (but Counts.Attention,
	// which the service tallies from the candidates) and Candidates nil.
	GetMigration(ctx context.Context, id string) (api.Migration, error)
	// ListMigrations returns all migrations ordered by CreatedAt, with Counts (as GetMigration),
	// and with Candidates (ordered by id) when withCandidates is set.
	ListMigrations(ctx context.Context, withCandidates bool) ([]api.Migration, error)

	// MergeCandidates adds new candidates as not_started and replaces the definition of
	// not_started ones; running and completed candidates are left untouched. The check and the
	// write are atomic per candidate, so a concurrent status change is never overwritten.
	MergeCandidates(ctx context.Context, migrationID string, candidates []api.CandidateInput, at time.Time) error
	// ListCandidates returns a migration's candidates ordered by id, with status, inputs and
	// the summary of their latest run (Run, zero when the candidate never ran).
	ListCandidates(ctx context.Context, migrationID string) ([]api.Candidate, error)
	// CountAttention returns how many of the migration's candidates are running with a run
	// summary that needs attention (what NeedsAttention counts), without reading the candidates.
	CountAttention(ctx context.Context, migrationID string) (int, error)
	// GetCandidate returns one candidate with status, inputs and run summary.
	GetCandidate(ctx context.Context, migrationID, candidateID string) (api.Candidate, error)
	// MergeInputs atomically sets the given operator inputs (other keys kept) and returns the
	// candidate's inputs after the merge.
	MergeInputs(ctx context.Context, migrationID, candidateID string, inputs map[string]string) (map[string]string, error)

	// BeginRun records a new run of a candidate: the candidate becomes running, the run record
	// (with no step states yet) replaces the previous run's, the candidate's run summary
	// becomes {Status: running, StartedAt}, and run.Inputs are merged into the candidate's
	// inputs (other keys kept), in one atomic change.
	BeginRun(ctx context.Context, run RunRecord) error
	// PutStepState writes one step's state of the run whose ExecutionID is executionID and, in
	// the same atomic change, sets the run summary's StepName and StepStatus from it and its
	// Attention to attention (the caller's migrations.Attention of the step; kept empty once the
	// run has finished). It is a no-op when another run of the candidate has begun since (a
	// stale writer).
	PutStepState(ctx context.Context, migrationID, candidateID, executionID string, step api.StepState, attention api.Attention) error
	// FinishRun ends the run whose ExecutionID is executionID (no-op for a stale one), sets the
	// candidate's status, and sets the run summary's Status and FinishedAt and clears its
	// Attention, in one atomic change.
	FinishRun(ctx context.Context, migrationID, candidateID, executionID string, status api.RunStatus, candidateStatus api.CandidateStatus, at time.Time) error
	// ReconcileRun ends the run executionID as cancelled and returns its candidate to
	// not_started, as FinishRun, but only while that run is still running: a run that has
	// ended (a moment ago, racing the caller) stays as it ended. The service uses it for runs
	// the engine no longer has; the workflow's own end is FinishRun, since a workflow task that
	// is run again may end differently from a first attempt whose write was not recorded.
	ReconcileRun(ctx context.Context, migrationID, candidateID, executionID string, at time.Time) error
	// PutCancellation records how telling the migrator about the cancelled run executionID
	// went (no-op for a stale one); ErrRunNotFound when the candidate has no run.
	PutCancellation(ctx context.Context, migrationID, candidateID, executionID string, c api.RunCancellation) error
	// GetRun returns the candidate's latest run with its step states in run order; ErrRunNotFound
	// when the candidate never ran.
	GetRun(ctx context.Context, migrationID, candidateID string) (RunRecord, error)

	// ListHistory returns a page of the candidate's run history, newest first, and the id to
	// pass as page.Before for the next (older) page, "" on the last. BeginRun, PutStepState and
	// FinishRun (and ReconcileRun) record it in the same atomic change as the state: the run's
	// start, the events StepHistory derives from the step's stored and new state, and the
	// run's end (RunFinishedEvents). Events older than the store's history retention are dropped.
	ListHistory(ctx context.Context, migrationID, candidateID string, page HistoryPage) ([]api.HistoryEvent, string, error)
	// ListOutcomes returns the migration's history events that IsOutcome, of every candidate,
	// from since on, oldest first (what insights read).
	ListOutcomes(ctx context.Context, migrationID string, since time.Time) ([]api.HistoryEvent, error)

	// PutRollout creates or replaces a rollout's read model (ErrMigrationNotFound when its
	// migration is unknown).
	PutRollout(ctx context.Context, r api.Rollout) error
	// GetRollout returns one rollout; ErrRolloutNotFound (or ErrMigrationNotFound) when none.
	GetRollout(ctx context.Context, migrationID, id string) (api.Rollout, error)
	// ListRollouts returns a migration's rollouts, oldest first (by CreatedAt, then id).
	ListRollouts(ctx context.Context, migrationID string) ([]api.Rollout, error)

	// MigrationVersion returns a counter that grows with every change to the migration's
	// definition or to its candidates' definitions, statuses, inputs or run summaries,
	// atomically with the change; read caches key on it. A step state written without changing
	// the run summary (new metadata of a pending step, say) need not bump it.
	MigrationVersion(ctx context.Context, id string) (int64, error)
	// MigrationVersions returns every migration's id and version, in ListMigrations order.
	MigrationVersions(ctx context.Context) ([]MigrationVersion, error)

	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
}

// ChangeFeed carries live events between replicas, so that a client of any replica hears of a
// change made through any other. Ids are LiveIDs and grow with every event.
type ChangeFeed interface {
	// Publish appends ev (its Id is ignored) and returns the id it was given.
	Publish(ctx context.Context, ev api.LiveEvent) (string, error)
	// Head returns the id of the newest event ("0-0" when there is none yet).
	Head(ctx context.Context) (string, error)
	// Read returns up to limit events after the id after, oldest first, waiting up to wait for
	// one when there are none yet (0: not at all). ErrLiveGap when some of the events after
	// after are no longer kept.
	Read(ctx context.Context, after string, limit int, wait time.Duration) ([]api.LiveEvent, error)
}

// MigrationVersion is a migration's id and change counter.
type MigrationVersion struct {
	ID      string
	Version int64
}

// RunRecord is the read model of one run of a candidate.
type RunRecord struct {
	RunID       string
	ExecutionID string // the engine's id of this particular run; a new start gets a new one
	MigrationID string
	CandidateID string
	Status      api.RunStatus
	StepNames   []string
	StartedAt   time.Time
	FinishedAt  time.Time
	Steps       []api.StepState // only steps that have started, in StepNames order
	// Inputs, given to BeginRun, are the operator inputs the run was started with (GetRun
	// leaves it empty: the candidate holds the inputs).
	Inputs map[string]string
	// Cancellation is how the cancelled run's notice to its migrator went; nil when none was sent.
	Cancellation *api.RunCancellation
}

// Step returns the state of the named step and whether it has started.
func (r RunRecord) Step(name string) (api.StepState, bool) {
	for _, s := range r.Steps {
		if s.StepName == name {
			return s, true
		}
	}
	return api.StepState{}, false
}

// ExecutionEngine runs candidates durably (Temporal in production).
type ExecutionEngine interface {
	// StartRun starts the run of in's candidate. It fails with a StateError of kind
	// ErrCandidateRunning or ErrCandidateCompleted when such a run exists.
	StartRun(ctx context.Context, in RunInput) error
	// CancelRun asks the open run to cancel and waits a bounded time for it to close. It returns
	// the run's final status, or RunRunning when it has not closed yet; a *RunClosedError when
	// the latest run had already ended; ErrRunNotFound when the candidate has no run at all.
	CancelRun(ctx context.Context, runID string) (RunStatus, error)
	// Signal delivers a signal to the open run; ErrRunNotFound when no run is open.
	Signal(ctx context.Context, runID, name string, payload any) error
	// StartRollout starts a rollout's workflow (RolloutWorkflowID).
	StartRollout(ctx context.Context, in RolloutInput) error
	// SignalRollout delivers an operator's command to an open rollout; ErrRolloutNotFound when
	// the rollout's workflow has ended.
	SignalRollout(ctx context.Context, migrationID, rolloutID string, cmd RolloutControl) error
	// Ping reports whether the engine answers.
	Ping(ctx context.Context) error
}

// MigratorNotifier dispatches a step to a migrator.
type MigratorNotifier interface {
	DispatchStep(ctx context.Context, migratorURL string, req api.DispatchStepRequest) error
	// CancelRun tells the migrator a run was cancelled (POST {migratorURL}/cancel-run).
	CancelRun(ctx context.Context, migratorURL string, req api.CancelRunRequest) error
}

// DryRunner asks a migrator for a dry run.
type DryRunner interface {
	DryRun(ctx context.Context, migratorURL string, req api.DryRunRequest) (api.DryRunResult, error)
	// CheckURL refuses a migratorUrl that Drover will never call (its address is not
	// allowed), so that an announcement naming one is refused at once.
	CheckURL(migratorURL string) error
}

// MigratorFailure is implemented by the errors of MigratorNotifier and DryRunner adapters, so
// callers can tell a migrator's refusal (4xx) from its failure (5xx) or silence (timeout).
type MigratorFailure interface {
	error
	// MigratorStatus is the HTTP status the migrator answered, or 0 when it did not answer.
	MigratorStatus() int
	// Timeout reports whether the migrator did not answer in time.
	Timeout() bool
	// Refused reports whether Drover refused to call the migrator at all (its URL or address
	// is not allowed), which no retry can change.
	Refused() bool
}
