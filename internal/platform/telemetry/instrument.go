package telemetry

import (
	"context"
	"errors"
	"time"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

// Store wraps a store so that every operation's latency (and failure) is measured, and the
// read model's writes count runs and steps: the workflow writes each run's start, each step's
// state and each run's end into the store, so this is where they all pass. A write an activity
// repeats after a failure counts again (rare; the counts are rates, not an audit).
func (m *Metrics) Store(st migrations.MigrationStore) migrations.MigrationStore {
	return &store{MigrationStore: st, m: m}
}

type store struct {
	migrations.MigrationStore
	m *Metrics
}

// timed runs a store operation and records its latency, and its failure.
func timed[T any](s *store, op string, f func() (T, error)) (T, error) {
	start := time.Now()
	v, err := f()
	s.m.storeDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, context.Canceled) {
		s.m.storeErrors.WithLabelValues(op).Inc()
	}
	return v, err
}

func timed0(s *store, op string, f func() error) error {
	_, err := timed(s, op, func() (struct{}, error) { return struct{}{}, f() })
	return err
}

func (s *store) SaveMigration(ctx context.Context, mg api.Migration) error {
	return timed0(s, "SaveMigration", func() error { return s.MigrationStore.SaveMigration(ctx, mg) })
}

func (s *store) GetMigration(ctx context.Context, id string) (api.Migration, error) {
	return timed(s, "GetMigration", func() (api.Migration, error) { return s.MigrationStore.GetMigration(ctx, id) })
}

func (s *store) ListMigrations(ctx context.Context, withCandidates bool) ([]api.Migration, error) {
	return timed(s, "ListMigrations", func() ([]api.Migration, error) { return s.MigrationStore.ListMigrations(ctx, withCandidates) })
}

func (s *store) MergeCandidates(ctx context.Context, migrationID string, cs []api.CandidateInput, at time.Time) error {
	return timed0(s, "MergeCandidates", func() error { return s.MigrationStore.MergeCandidates(ctx, migrationID, cs, at) })
}

func (s *store) ListCandidates(ctx context.Context, migrationID string) ([]api.Candidate, error) {
	return timed(s, "ListCandidates", func() ([]api.Candidate, error) { return s.MigrationStore.ListCandidates(ctx, migrationID) })
}

func (s *store) GetCandidate(ctx context.Context, migrationID, candidateID string) (api.Candidate, error) {
	return timed(s, "GetCandidate", func() (api.Candidate, error) { return s.MigrationStore.GetCandidate(ctx, migrationID, candidateID) })
}

func (s *store) MergeInputs(ctx context.Context, migrationID, candidateID string, in map[string]string) (map[string]string, error) {
	return timed(s, "MergeInputs", func() (map[string]string, error) {
		return s.MigrationStore.MergeInputs(ctx, migrationID, candidateID, in)
	})
}

func (s *store) BeginRun(ctx context.Context, run migrations.RunRecord) error {
	err := timed0(s, "BeginRun", func() error { return s.MigrationStore.BeginRun(ctx, run) })
	if err == nil {
		s.m.runsStarted.WithLabelValues(run.MigrationID).Inc()
	}
	return err
}

func (s *store) PutStepState(ctx context.Context, migrationID, candidateID, executionID string, st api.StepState, attention api.Attention) error {
	err := timed0(s, "PutStepState", func() error {
		return s.MigrationStore.PutStepState(ctx, migrationID, candidateID, executionID, st, attention)
	})
	if err == nil {
		s.m.observeStep(migrationID, st)
	}
	return err
}

func (s *store) FinishRun(ctx context.Context, migrationID, candidateID, executionID string, status api.RunStatus, cs api.CandidateStatus, at time.Time) error {
	err := timed0(s, "FinishRun", func() error {
		return s.MigrationStore.FinishRun(ctx, migrationID, candidateID, executionID, status, cs, at)
	})
	if err == nil {
		s.m.runsFinished.WithLabelValues(migrationID, string(status)).Inc()
	}
	return err
}

func (s *store) ReconcileRun(ctx context.Context, migrationID, candidateID, executionID string, at time.Time) error {
	return timed0(s, "ReconcileRun", func() error { return s.MigrationStore.ReconcileRun(ctx, migrationID, candidateID, executionID, at) })
}

func (s *store) PutCancellation(ctx context.Context, migrationID, candidateID, executionID string, c api.RunCancellation) error {
	return timed0(s, "PutCancellation", func() error {
		return s.MigrationStore.PutCancellation(ctx, migrationID, candidateID, executionID, c)
	})
}

func (s *store) GetRun(ctx context.Context, migrationID, candidateID string) (migrations.RunRecord, error) {
	return timed(s, "GetRun", func() (migrations.RunRecord, error) { return s.MigrationStore.GetRun(ctx, migrationID, candidateID) })
}

func (s *store) PutRollout(ctx context.Context, r api.Rollout) error {
	return timed0(s, "PutRollout", func() error { return s.MigrationStore.PutRollout(ctx, r) })
}

func (s *store) GetRollout(ctx context.Context, migrationID, id string) (api.Rollout, error) {
	return timed(s, "GetRollout", func() (api.Rollout, error) { return s.MigrationStore.GetRollout(ctx, migrationID, id) })
}

func (s *store) ListRollouts(ctx context.Context, migrationID string) ([]api.Rollout, error) {
	return timed(s, "ListRollouts", func() ([]api.Rollout, error) { return s.MigrationStore.ListRollouts(ctx, migrationID) })
}

func (s *store) ListHistory(ctx context.Context, migrationID, candidateID string, page migrations.HistoryPage) ([]api.HistoryEvent, string, error) {
	var next string
	evs, err := timed(s, "ListHistory", func() ([]api.HistoryEvent, error) {
		evs, n, err := s.MigrationStore.ListHistory(ctx, migrationID, candidateID, page)
		next = n
		return evs, err
	})
	return evs, next, err
}

func (s *store) ListOutcomes(ctx context.Context, migrationID string, since time.Time) ([]api.HistoryEvent, error) {
	return timed(s, "ListOutcomes", func() ([]api.HistoryEvent, error) { return s.MigrationStore.ListOutcomes(ctx, migrationID, since) })
}

func (s *store) MigrationVersion(ctx context.Context, id string) (int64, error) {
	return timed(s, "MigrationVersion", func() (int64, error) { return s.MigrationStore.MigrationVersion(ctx, id) })
}

func (s *store) MigrationVersions(ctx context.Context) ([]migrations.MigrationVersion, error) {
	return timed(s, "MigrationVersions", func() ([]migrations.MigrationVersion, error) { return s.MigrationStore.MigrationVersions(ctx) })
}

// observeStep counts a step that reached its outcome, with how long it took from its dispatch,
// and how much of that it waited on the migrator's first answer and then on a person.
func (m *Metrics) observeStep(migrationID string, st api.StepState) {
	switch st.Status {
	case api.StepStatusSucceeded, api.StepStatusMerged, api.StepStatusFailed:
	default:
		return
	}
	outcome := string(st.Status)
	m.stepsFinished.WithLabelValues(migrationID, st.StepName, outcome).Inc()
	if st.StartedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) {
		return
	}
	m.stepDuration.WithLabelValues(migrationID, st.StepName, outcome).Observe(st.FinishedAt.Sub(st.StartedAt).Seconds())
	if ack := st.AcknowledgedAt; !ack.IsZero() && !ack.Before(st.StartedAt) && !st.FinishedAt.Before(ack) {
		m.stepWait.WithLabelValues(migrationID, st.StepName, "migrator").Observe(ack.Sub(st.StartedAt).Seconds())
		m.stepWait.WithLabelValues(migrationID, st.StepName, "person").Observe(st.FinishedAt.Sub(ack).Seconds())
	}
}

// Notifier wraps the migrators' client so that every dispatch and cancel notice is counted by
// its result, and dispatches are timed.
func (m *Metrics) Notifier(n migrations.MigratorNotifier) migrations.MigratorNotifier {
	return &notifier{n: n, m: m}
}

type notifier struct {
	n migrations.MigratorNotifier
	m *Metrics
}

func (n *notifier) DispatchStep(ctx context.Context, migratorURL string, req api.DispatchStepRequest) error {
	start := time.Now()
	err := n.n.DispatchStep(ctx, migratorURL, req)
	n.m.dispatchTime.WithLabelValues(req.MigrationId).Observe(time.Since(start).Seconds())
	n.m.dispatches.WithLabelValues(req.MigrationId, "dispatch", result(err)).Inc()
	return err
}

func (n *notifier) CancelRun(ctx context.Context, migratorURL string, req api.CancelRunRequest) error {
	err := n.n.CancelRun(ctx, migratorURL, req)
	n.m.dispatches.WithLabelValues(req.MigrationId, "cancel-run", result(err)).Inc()
	return err
}

// Feed counts what is published on feed, by result.
func (m *Metrics) Feed(feed migrations.ChangeFeed) migrations.ChangeFeed {
	return &countedFeed{ChangeFeed: feed, m: m}
}

type countedFeed struct {
	migrations.ChangeFeed
	m *Metrics
}

func (f *countedFeed) Publish(ctx context.Context, ev api.LiveEvent) (string, error) {
	id, err := f.ChangeFeed.Publish(ctx, ev)
	res := "ok"
	if err != nil {
		res = "failed"
	}
	f.m.livePublished.WithLabelValues(res).Inc()
	return id, err
}

// Deliverer makes one attempt at a notification's delivery (migrations.Notifications).
type Deliverer interface {
	Deliver(ctx context.Context, in migrations.DeliveryInput, a migrations.DeliveryAttempt) error
}

// Deliverer counts d's delivery attempts by kind and result.
func (m *Metrics) Deliverer(d Deliverer) Deliverer { return &deliverer{d: d, m: m} }

type deliverer struct {
	d Deliverer
	m *Metrics
}

func (d *deliverer) Deliver(ctx context.Context, in migrations.DeliveryInput, a migrations.DeliveryAttempt) error {
	err := d.d.Deliver(ctx, in, a)
	res := "delivered"
	var de *migrations.DeliveryError
	switch {
	case err == nil:
	case errors.As(err, &de) && (de.Permanent || a.Number >= a.Of):
		res = "failed"
	default:
		res = "retrying"
	}
	d.m.deliveries.WithLabelValues(string(in.Notification.Kind), res).Inc()
	return err
}

// result names how a call to a migrator went.
func result(err error) string {
	var mf migrations.MigratorFailure
	switch {
	case err == nil:
		return "ok"
	case !errors.As(err, &mf):
		return "failed"
	case mf.Refused():
		return "refused" // Drover would not call that address
	case mf.Timeout():
		return "timeout"
	case mf.MigratorStatus() == 0:
		return "unreachable"
	case mf.MigratorStatus() < 500:
		return "rejected"
	}
	return "failed"
}

// Engine wraps the execution engine so that its calls to Temporal are timed by result.
func (m *Metrics) Engine(e migrations.ExecutionEngine) migrations.ExecutionEngine {
	return &engine{ExecutionEngine: e, m: m}
}

type engine struct {
	migrations.ExecutionEngine
	m *Metrics
}

func (e *engine) time(op string, start time.Time, err error) {
	r := "ok"
	var serr *migrations.StateError
	switch {
	case errors.As(err, &serr), errors.Is(err, migrations.ErrRunNotFound), errors.Is(err, migrations.ErrRolloutNotFound):
		r = "refused" // the engine answered: not that run's state
	case err != nil:
		r = "error"
	}
	e.m.engineCalls.WithLabelValues(op, r).Observe(time.Since(start).Seconds())
}

func (e *engine) StartRun(ctx context.Context, in migrations.RunInput) (err error) {
	start := time.Now()
	defer func() { e.time("StartRun", start, err) }()
	return e.ExecutionEngine.StartRun(ctx, in)
}

func (e *engine) CancelRun(ctx context.Context, runID string) (_ migrations.RunStatus, err error) {
	start := time.Now()
	defer func() { e.time("CancelRun", start, err) }()
	return e.ExecutionEngine.CancelRun(ctx, runID)
}

func (e *engine) Signal(ctx context.Context, runID, name string, payload any) (err error) {
	start := time.Now()
	defer func() { e.time("Signal", start, err) }()
	return e.ExecutionEngine.Signal(ctx, runID, name, payload)
}

func (e *engine) StartRollout(ctx context.Context, in migrations.RolloutInput) (err error) {
	start := time.Now()
	defer func() { e.time("StartRollout", start, err) }()
	return e.ExecutionEngine.StartRollout(ctx, in)
}

func (e *engine) SignalRollout(ctx context.Context, migrationID, rolloutID string, cmd migrations.RolloutControl) (err error) {
	start := time.Now()
	defer func() { e.time("SignalRollout", start, err) }()
	return e.ExecutionEngine.SignalRollout(ctx, migrationID, rolloutID, cmd)
}
