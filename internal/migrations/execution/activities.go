package execution

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

// Activities are the run workflow's side effects: read-model writes (run as local activities,
// so they cost no extra task round trip) and the dispatch to the migrator.
type Activities struct {
	store    migrations.MigrationStore
	notifier migrations.MigratorNotifier
}

// NewActivities returns the activities backed by store and notifier.
func NewActivities(store migrations.MigrationStore, notifier migrations.MigratorNotifier) *Activities {
	return &Activities{store: store, notifier: notifier}
}

// Register registers the run workflow and its activities with a Temporal worker.
func Register(w worker.Registry, a *Activities) {
	w.RegisterWorkflowWithOptions(Run, workflow.RegisterOptions{Name: WorkflowName})
	w.RegisterWorkflowWithOptions(CancelNotice, workflow.RegisterOptions{Name: CancelNoticeWorkflowName})
	w.RegisterActivity(a)
}

// StepWrite is one step state to record and the attention it calls for (migrations.Attention
// of the state and its step's definition), which the store keeps in the run summary.
type StepWrite struct {
	State     api.StepState
	Attention api.Attention
}

// PutStepInput is the input of PutStep.
type PutStepInput struct {
	MigrationID string
	CandidateID string
	ExecutionID string
	Steps       []StepWrite // written in order
}

// FinishInput is the input of FinishRun.
type FinishInput struct {
	MigrationID     string
	CandidateID     string
	ExecutionID     string
	Status          api.RunStatus
	CandidateStatus api.CandidateStatus
	At              time.Time
	LastStep        StepWrite // the last step's final state, written first; empty when none
}

// DispatchInput is the input of Dispatch.
type DispatchInput struct {
	MigrationID string
	CandidateID string
	RunID       string
	Step        api.StepDefinition
	Attempt     int
	DispatchID  string // the same for every attempt of one dispatch
}

// BeginRun records the start of a run in the read model.
func (a *Activities) BeginRun(ctx context.Context, rec migrations.RunRecord) error {
	return a.store.BeginRun(ctx, rec)
}

// PutStep records step states, and the run summary each makes, in the read model.
func (a *Activities) PutStep(ctx context.Context, in PutStepInput) error {
	for _, w := range in.Steps {
		if err := a.store.PutStepState(ctx, in.MigrationID, in.CandidateID, in.ExecutionID, w.State, w.Attention); err != nil {
			return permanentIfMissing(err)
		}
	}
	return nil
}

// FinishRun records the end of a run and the candidate's resulting status.
// A run cancelled before it could record its start has nothing to finish.
func (a *Activities) FinishRun(ctx context.Context, in FinishInput) error {
	if in.LastStep.State.StepName != "" {
		if err := a.store.PutStepState(ctx, in.MigrationID, in.CandidateID, in.ExecutionID, in.LastStep.State, in.LastStep.Attention); err != nil {
			return permanentIfMissing(err)
		}
	}
	err := a.store.FinishRun(ctx, in.MigrationID, in.CandidateID, in.ExecutionID, in.Status, in.CandidateStatus, in.At)
	if errors.Is(err, migrations.ErrRunNotFound) {
		return nil
	}
	return permanentIfMissing(err)
}

// permanentIfMissing stops retries of a write whose migration, candidate or run is gone:
// retrying cannot bring them back. Other errors (the store being down) are retried.
func permanentIfMissing(err error) error {
	for _, gone := range []error{migrations.ErrMigrationNotFound, migrations.ErrCandidateNotFound, migrations.ErrRunNotFound} {
		if errors.Is(err, gone) {
			return temporal.NewNonRetryableApplicationError(err.Error(), "NotFound", err)
		}
	}
	return err
}

// Dispatch sends one step to the migrator. It reads the migration and candidate at dispatch
// time, so inputs updated during the run reach the next dispatch. A migrator's 4xx (but 408 and
// 429, which ask to come back later) or redirect, and an address Drover may not call, fail
// with the non-retryable errRejected type; anything else is retryable.
func (a *Activities) Dispatch(ctx context.Context, in DispatchInput) error {
	m, err := a.store.GetMigration(ctx, in.MigrationID)
	if err != nil {
		return fmt.Errorf("dispatch %s step %s: %w", in.RunID, in.Step.Name, err)
	}
	c, err := a.store.GetCandidate(ctx, in.MigrationID, in.CandidateID)
	if err != nil {
		return fmt.Errorf("dispatch %s step %s: %w", in.RunID, in.Step.Name, err)
	}
	req := api.DispatchStepRequest{
		MigrationId: in.MigrationID,
		StepName:    in.Step.Name,
		Candidate:   migrations.DispatchCandidate(c, m.Id),
		Config:      in.Step.Config,
		Type:        in.Step.Type,
		CallbackId:  in.RunID,
		EventName:   in.Step.Name,
		MigratorApp: migrations.StepApp(in.Step, m.Id),
		MigratorUrl: m.MigratorUrl,
		DispatchId:  in.DispatchID,
	}
	err = a.notifier.DispatchStep(ctx, m.MigratorUrl, req)
	var mf migrations.MigratorFailure
	if errors.As(err, &mf) && rejected(mf) {
		return temporal.NewNonRetryableApplicationError(mf.Error(), errRejected, nil)
	}
	if err != nil {
		return temporal.NewApplicationError(err.Error(), "DispatchFailed")
	}
	return nil
}

// rejected reports whether a failed dispatch would fail the same way when retried.
func rejected(mf migrations.MigratorFailure) bool {
	code := mf.MigratorStatus()
	return mf.Refused() || (code >= 300 && code < 400) ||
		(code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests)
}
