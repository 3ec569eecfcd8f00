package execution

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

// CancelNoticeWorkflowName is the registered name of the workflow that tells a migrator a run
// was cancelled.
const CancelNoticeWorkflowName = "drover.CancelNotice"

// CancelNoticeRetryFor bounds how long a cancel notice is retried while the migrator is down.
const CancelNoticeRetryFor = time.Hour

// CancelNoticeInput names the cancelled run and the steps it had started.
type CancelNoticeInput struct {
	MigrationID string
	CandidateID string
	RunID       string
	ExecutionID string
	Steps       []api.CancelledStep
}

// CancelNotice tells the migrator that a run was cancelled (POST {migratorUrl}/cancel-run), so
// that it can undo what the run's steps did, and records how that went on the run: done, not
// supported (404), or failed after CancelNoticeRetryFor.
func CancelNotice(ctx workflow.Context, in CancelNoticeInput) error {
	var acts *Activities
	record := func(c api.RunCancellation) error {
		c.UpdatedAt = workflow.Now(ctx).UTC()
		return workflow.ExecuteLocalActivity(localCtx(ctx), acts.RecordCancellation, RecordCancellationInput{
			MigrationID: in.MigrationID, CandidateID: in.CandidateID, ExecutionID: in.ExecutionID, Cancellation: c,
		}).Get(ctx, nil)
	}
	if err := record(api.RunCancellation{Status: api.RunCancellationStatusNotifying}); err != nil {
		return err
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    dispatchTimeout,
		ScheduleToCloseTimeout: CancelNoticeRetryFor,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: dispatchBackoffInitial, BackoffCoefficient: 2, MaximumInterval: dispatchBackoffMax,
			NonRetryableErrorTypes: []string{errRejected, errSuperseded},
		},
	})
	var status api.RunCancellationStatus
	err := workflow.ExecuteActivity(actx, acts.NotifyCancel, in).Get(ctx, &status)
	c := api.RunCancellation{Status: status}
	var toErr *temporal.TimeoutError
	switch {
	case errors.As(err, &toErr):
		c = api.RunCancellation{Status: api.RunCancellationStatusFailed,
			Error: fmt.Sprintf("the migrator did not take the notice within %s", CancelNoticeRetryFor)}
	case err != nil:
		c = api.RunCancellation{Status: api.RunCancellationStatusFailed, Error: dispatchMessage(err)}
	}
	return record(c)
}

// RecordCancellationInput is the input of RecordCancellation.
type RecordCancellationInput struct {
	MigrationID  string
	CandidateID  string
	ExecutionID  string
	Cancellation api.RunCancellation
}

// RecordCancellation records a cancel notice's outcome on its run (a no-op once another run of
// the candidate has begun).
func (a *Activities) RecordCancellation(ctx context.Context, in RecordCancellationInput) error {
	return permanentIfMissing(a.store.PutCancellation(ctx, in.MigrationID, in.CandidateID, in.ExecutionID, in.Cancellation))
}

// errSuperseded is the error type of a notice whose candidate has begun another run: sending it
// late could make the migrator undo the new run's work (the run id is the same).
const errSuperseded = "Superseded"

// NotifyCancel sends the cancel notice: done on a 2xx, not supported on a 404; a refusal (other
// 4xx, a redirect, an address Drover may not call) is non-retryable, anything else is retried.
// It is not sent once the candidate has begun another run.
func (a *Activities) NotifyCancel(ctx context.Context, in CancelNoticeInput) (api.RunCancellationStatus, error) {
	run, err := a.store.GetRun(ctx, in.MigrationID, in.CandidateID)
	if err != nil {
		return "", permanentIfMissing(fmt.Errorf("cancel notice of %s: %w", in.RunID, err))
	}
	if run.ExecutionID != in.ExecutionID {
		return "", temporal.NewNonRetryableApplicationError("not sent: the candidate has begun another run since", errSuperseded, nil)
	}
	m, err := a.store.GetMigration(ctx, in.MigrationID)
	if err != nil {
		return "", permanentIfMissing(fmt.Errorf("cancel notice of %s: %w", in.RunID, err))
	}
	c, err := a.store.GetCandidate(ctx, in.MigrationID, in.CandidateID)
	if err != nil {
		return "", permanentIfMissing(fmt.Errorf("cancel notice of %s: %w", in.RunID, err))
	}
	steps := in.Steps
	if steps == nil {
		steps = []api.CancelledStep{}
	}
	req := api.CancelRunRequest{CallbackId: in.RunID, MigrationId: in.MigrationID, Candidate: migrations.DispatchCandidate(c, m.Id), Steps: steps}
	err = a.notifier.CancelRun(ctx, m.MigratorUrl, req)
	var mf migrations.MigratorFailure
	switch {
	case err == nil:
		return api.RunCancellationStatusDone, nil
	case errors.As(err, &mf) && mf.MigratorStatus() == http.StatusNotFound:
		return api.RunCancellationStatusNotSupported, nil
	case errors.As(err, &mf) && rejected(mf):
		return "", temporal.NewNonRetryableApplicationError(mf.Error(), errRejected, nil)
	}
	return "", temporal.NewApplicationError(err.Error(), "CancelNoticeFailed")
}
