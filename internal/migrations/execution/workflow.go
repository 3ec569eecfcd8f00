// Package execution sequences a run's steps durably on Temporal: one workflow per run that
// dispatches each step to the migrator, waits for its callbacks, waits for the operator's retry
// after a failure, and writes every state change into the store (the read model).
package execution

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

// WorkflowName is the registered name of the run workflow.
const WorkflowName = "drover.Run"

// Dispatch retry back-off while the migrator is unreachable or answers 5xx.
const (
	dispatchBackoffInitial = time.Second
	dispatchBackoffMax     = time.Minute
	// dispatchTimeout bounds one dispatch activity; the HTTP client has its own shorter timeout.
	dispatchTimeout = 30 * time.Second
	// DispatchGiveUpAfter bounds how long one try of a step keeps dispatching to a migrator
	// that is down: then the step fails with the last error and waits for the operator's
	// retry, so a run's history stays bounded (about 70 attempts at most).
	DispatchGiveUpAfter = time.Hour
)

// Version guards of the workflow's command sequence (workflow.GetVersion): a run in flight
// keeps the behaviour it started with; every change to the commands gets one.
const (
	// versionBoundedRetries: a step's dispatch retries stop after DispatchGiveUpAfter.
	versionBoundedRetries = "bounded-dispatch-retries"
)

// errRejected is the application error type of a dispatch the migrator refused (4xx).
const errRejected = "MigratorRejected"

// Run is the workflow of one run: migration in.MigrationID applied to candidate in.CandidateID.
func Run(ctx workflow.Context, in migrations.RunInput) error {
	info := workflow.GetInfo(ctx)
	r := &runner{
		in:      in,
		runID:   info.WorkflowExecution.ID,
		execID:  info.WorkflowExecution.RunID,
		events:  workflow.GetSignalChannel(ctx, migrations.SignalStepEvent),
		retries: workflow.GetSignalChannel(ctx, migrations.SignalRetryStep),
		log:     workflow.GetLogger(ctx),
	}
	r.boundedRetries = workflow.GetVersion(ctx, versionBoundedRetries, workflow.DefaultVersion, 1) >= 1
	if err := r.begin(ctx); err != nil {
		return r.end(ctx, err, nil)
	}
	// A finished step's state is written together with the next step's start (or the end of
	// the run): one local activity instead of two, at no delay, since nothing waits in between.
	var finished *api.StepState
	for _, step := range in.Steps {
		st, err := r.runStep(ctx, step, finished)
		if err != nil {
			return r.end(ctx, err, nil)
		}
		finished = &st
	}
	return r.end(ctx, nil, finished)
}

type runner struct {
	in      migrations.RunInput
	runID   string
	execID  string
	events  workflow.ReceiveChannel
	retries workflow.ReceiveChannel
	log     log.Logger
	acts    *Activities // nil: only names the activity methods
	// boundedRetries: the run gives up dispatching after DispatchGiveUpAfter (runs started
	// before that change retry for ever).
	boundedRetries bool
}

func localCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: 24 * time.Hour,
		StartToCloseTimeout:    10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    200 * time.Millisecond,
			BackoffCoefficient: 2,
			MaximumInterval:    30 * time.Second,
		},
	})
}

func (r *runner) begin(ctx workflow.Context) error {
	names := make([]string, len(r.in.Steps))
	for i, s := range r.in.Steps {
		names[i] = s.Name
	}
	rec := migrations.RunRecord{
		RunID:       r.runID,
		ExecutionID: r.execID,
		MigrationID: r.in.MigrationID,
		CandidateID: r.in.CandidateID,
		Status:      api.RunStatusRunning,
		StepNames:   names,
		StartedAt:   workflow.Now(ctx).UTC(),
		Inputs:      r.in.Inputs,
	}
	return workflow.ExecuteLocalActivity(localCtx(ctx), r.acts.BeginRun, rec).Get(ctx, nil)
}

// end records how the run ended. A cancelled run returns its candidate to not_started, using a
// disconnected context so the clean-up runs although the workflow's context is cancelled.
func (r *runner) end(ctx workflow.Context, err error, last *api.StepState) error {
	in := FinishInput{MigrationID: r.in.MigrationID, CandidateID: r.in.CandidateID, ExecutionID: r.execID}
	if last != nil {
		st := *last
		st.UpdatedAt = workflow.Now(ctx).UTC()
		in.LastStep = r.write(st)
	}
	switch {
	case err == nil:
		in.Status, in.CandidateStatus = api.RunStatusCompleted, api.CandidateStatusCompleted
	case temporal.IsCanceledError(err) || ctx.Err() != nil:
		in.Status, in.CandidateStatus = api.RunStatusCancelled, api.CandidateStatusNotStarted
		err = temporal.NewCanceledError()
	default:
		// Only the store being gone for a day gets here; leave the candidate as the operator
		// can fix it: cancel resets a candidate whose run is no longer open.
		return err
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	in.At = workflow.Now(dctx).UTC()
	if ferr := workflow.ExecuteLocalActivity(localCtx(dctx), r.acts.FinishRun, in).Get(dctx, nil); ferr != nil {
		return fmt.Errorf("record end of run %s: %w", r.runID, ferr)
	}
	return err
}

// put writes step states, in order, in one local activity.
func (r *runner) put(ctx workflow.Context, states ...api.StepState) error {
	now := workflow.Now(ctx).UTC()
	in := PutStepInput{MigrationID: r.in.MigrationID, CandidateID: r.in.CandidateID, ExecutionID: r.execID}
	for _, st := range states {
		st.UpdatedAt = now
		in.Steps = append(in.Steps, r.write(st))
	}
	return workflow.ExecuteLocalActivity(localCtx(ctx), r.acts.PutStep, in).Get(ctx, nil)
}

// write pairs a step state with the attention it calls for, judged against the step's
// definition as the run started with it.
func (r *runner) write(st api.StepState) StepWrite {
	def, _ := migrations.FindStep(r.in.Steps, st.StepName)
	return StepWrite{State: st, Attention: migrations.Attention(st, def)}
}

// runStep dispatches one step and waits until the migrator reports it succeeded or merged,
// handling pending updates, dispatch retries, failure and the operator's retry meanwhile. It
// records the previous step's final state (when given) with this step's start, and returns its
// own final state unwritten.
func (r *runner) runStep(ctx workflow.Context, step api.StepDefinition, previous *api.StepState) (api.StepState, error) {
	now := workflow.Now(ctx).UTC()
	st := api.StepState{StepName: step.Name, Status: api.StepStatusInProgress, StartedAt: now,
		DispatchId: migrations.DispatchID(r.execID, step.Name, 1)}
	states := []api.StepState{st}
	if previous != nil {
		states = []api.StepState{*previous, st}
	}
	if err := r.put(ctx, states...); err != nil {
		return st, err
	}

	var (
		dispatch    workflow.Future     // the dispatch in flight, nil when none
		retryTimer  workflow.Future     // the back-off before the next dispatch, nil when none
		cancelTimer workflow.CancelFunc = func() {}
		attempt     int
		try         = 1 // the operator's retries start a new try, with a new dispatch id
		tryStarted  = now
		done        bool
	)
	startDispatch := func() {
		attempt++
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: dispatchTimeout,
			RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1}, // the loop below retries, recording each attempt
		})
		dispatch = workflow.ExecuteActivity(actx, r.acts.Dispatch, DispatchInput{
			MigrationID: r.in.MigrationID, CandidateID: r.in.CandidateID, RunID: r.runID, Step: step, Attempt: attempt,
			DispatchID: st.DispatchId,
		})
		retryTimer = nil
	}
	// stopDispatch stops waiting for the dispatch and cancels a pending back-off. A dispatch
	// still in flight is left to finish (the migrator has called back, so it has the request):
	// cancelling it would only cost history events. Cancelling the run cancels it with ctx.
	stopDispatch := func() {
		cancelTimer()
		dispatch, retryTimer = nil, nil
	}
	startDispatch()

	for !done {
		var err error
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
		if dispatch != nil {
			sel.AddFuture(dispatch, func(f workflow.Future) {
				derr := f.Get(ctx, nil)
				dispatch = nil
				if derr == nil || st.Status != api.StepStatusInProgress {
					return // acknowledged, or the migrator already called back
				}
				st.Attempts = attempt
				st.LastError = dispatchMessage(derr)
				var appErr *temporal.ApplicationError
				if errors.As(derr, &appErr) && appErr.Type() == errRejected {
					st.Status = api.StepStatusFailed
					st.FinishedAt = workflow.Now(ctx).UTC()
					err = r.put(ctx, st)
					return
				}
				if now := workflow.Now(ctx).UTC(); r.boundedRetries && now.Sub(tryStarted) >= DispatchGiveUpAfter {
					st.Status = api.StepStatusFailed
					st.FinishedAt = now
					st.LastError = fmt.Sprintf("gave up after %d dispatch attempts over %s: %s", attempt, now.Sub(tryStarted).Round(time.Minute), st.LastError)
					err = r.put(ctx, st)
					return
				}
				err = r.put(ctx, st)
				var tctx workflow.Context
				tctx, cancelTimer = workflow.WithCancel(ctx)
				retryTimer = workflow.NewTimer(tctx, backoff(attempt))
			})
		}
		if retryTimer != nil {
			sel.AddFuture(retryTimer, func(f workflow.Future) {
				retryTimer = nil // fired or cancelled: never select it again
				if f.Get(ctx, nil) == nil && st.Status == api.StepStatusInProgress {
					startDispatch()
				}
			})
		}
		sel.AddReceive(r.events, func(c workflow.ReceiveChannel, _ bool) {
			var ev migrations.StepEvent
			c.Receive(ctx, &ev)
			if ev.StepName != step.Name {
				r.log.Warn("ignoring event for a step that is not waiting", "step", ev.StepName, "current", step.Name)
				return
			}
			if st.Status == api.StepStatusFailed {
				r.log.Warn("ignoring event for a failed step; it waits for a retry", "step", step.Name, "status", ev.Status)
				return
			}
			if ev.DispatchID != "" && ev.DispatchID != st.DispatchId {
				r.log.Warn("ignoring event for an earlier dispatch", "step", step.Name, "dispatch", ev.DispatchID, "current", st.DispatchId)
				return
			}
			// The API refuses an event that would take the step beyond its metadata bounds; one
			// that raced past that check keeps its status change but not its metadata.
			md, merr := migrations.MergeStepMetadata(st.Metadata, ev.Metadata)
			if merr != nil {
				r.log.Warn("dropping an event's metadata beyond the step's bounds", "step", step.Name, "error", merr)
			}
			st.Metadata = md
			switch ev.Status {
			case api.StepEventStatusPending:
				st.Status = api.StepStatusPending
				stopDispatch() // the migrator has the step: no more dispatch attempts
			case api.StepEventStatusSucceeded, api.StepEventStatusMerged:
				st.Status = api.StepStatus(ev.Status)
				st.FinishedAt = workflow.Now(ctx).UTC()
				st.LastError = ""
				stopDispatch()
				done = true
				return // written with the next step's start, or the end of the run
			case api.StepEventStatusFailed:
				st.Status = api.StepStatusFailed
				st.LastError = migrations.FailureMessage(ev.Metadata)
				st.FinishedAt = workflow.Now(ctx).UTC()
				stopDispatch()
			default:
				r.log.Warn("ignoring event with an unknown status", "step", step.Name, "status", ev.Status)
				return
			}
			err = r.put(ctx, st)
		})
		sel.AddReceive(r.retries, func(c workflow.ReceiveChannel, _ bool) {
			var req migrations.RetryRequest
			c.Receive(ctx, &req)
			if req.StepName != step.Name || st.Status != api.StepStatusFailed {
				r.log.Warn("ignoring retry of a step that has not failed", "step", req.StepName, "current", step.Name, "status", st.Status)
				return
			}
			st.Status = api.StepStatusInProgress
			st.Attempts, st.LastError, st.FinishedAt = 0, "", time.Time{}
			st.Metadata = withoutFailure(st.Metadata)
			attempt = 0
			try++
			tryStarted = workflow.Now(ctx).UTC()
			st.DispatchId = migrations.DispatchID(r.execID, step.Name, try)
			if err = r.put(ctx, st); err == nil {
				startDispatch()
			}
		})
		sel.Select(ctx)
		if ctx.Err() != nil {
			return st, temporal.NewCanceledError()
		}
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// withoutFailure drops the failed try's reason from a retried step's metadata (links such as
// a PR's stay), so the new try does not show the old error.
func withoutFailure(md map[string]string) map[string]string {
	out := maps.Clone(md)
	delete(out, "error")
	delete(out, "message")
	return out
}

func backoff(attempt int) time.Duration {
	d := dispatchBackoffInitial
	for i := 1; i < attempt && d < dispatchBackoffMax; i++ {
		d *= 2
	}
	return min(d, dispatchBackoffMax)
}

// dispatchMessage is the migrator's error without Temporal's wrapping.
func dispatchMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	var toErr *temporal.TimeoutError
	if errors.As(err, &toErr) {
		return fmt.Sprintf("dispatch did not finish within %s", dispatchTimeout)
	}
	return err.Error()
}
