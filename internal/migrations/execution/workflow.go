// Package execution sequences a run's steps durably on Temporal: one workflow per run that
// dispatches each step to the migrator, waits for its callbacks, waits for the operator's retry
// after a failure, and writes every state change into the store (the read model).
package execution

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
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
	// that is down (unless the run says otherwise, --dispatch-retry-for): then the step fails
	// with the last error and waits for the operator's retry (about 70 attempts in an hour).
	DispatchGiveUpAfter = time.Hour
	// DefaultCallbackTimeout is how long a step whose dispatch the migrator accepted may go
	// without any callback before it is silent, when neither the step nor the run says.
	DefaultCallbackTimeout = 10 * time.Minute
	// DefaultContinueAfter is the history length at which a run continues as new, well below
	// Temporal's suggestion (4,096 events or 4 MiB, also heeded) and its limit (51,200 events).
	DefaultContinueAfter = 2000
)

// Version guards of the workflow's command sequence (workflow.GetVersion): a run in flight
// keeps the behaviour it started with; every change to the commands gets one.
const (
	// versionBoundedRetries: a step's dispatch retries stop after DispatchGiveUpAfter.
	versionBoundedRetries = "bounded-dispatch-retries"
	// versionTimeouts: a step that hears nothing within its timeout goes silent (or is
	// redelivered), a pending one with a timeout goes overdue, and either can be retried;
	// from version 2, callbacks are heard before timers that fire with them.
	versionTimeouts = "step-timeouts"
	// versionContinueAsNew: a long run continues as new, carrying its state.
	versionContinueAsNew = "continue-as-new"
	// versionCancelNotice: a cancelled run starts a CancelNotice workflow to tell its migrator.
	versionCancelNotice = "cancel-notice"
)

// errRejected is the application error type of a dispatch the migrator refused (4xx).
const errRejected = "MigratorRejected"

// Run is the workflow of one run: migration in.MigrationID applied to candidate in.CandidateID.
// A run that continues as new gets its state back in in.Continued.
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
	// Runs started before these versions have no marker, so replaying them keeps their commands.
	timeouts := workflow.GetVersion(ctx, versionTimeouts, workflow.DefaultVersion, 2)
	r.timeouts, r.signalsFirst = timeouts >= 1, timeouts >= 2
	r.continues = workflow.GetVersion(ctx, versionContinueAsNew, workflow.DefaultVersion, 1) >= 1
	r.notifies = workflow.GetVersion(ctx, versionCancelNotice, workflow.DefaultVersion, 1) >= 1
	first := 0
	var resume *migrations.Continuation
	if c := in.Continued; c != nil {
		r.execID, first, resume, r.steps = c.ExecutionID, c.Step, c, c.Done
	} else if err := r.begin(ctx); err != nil {
		return r.end(ctx, err, nil)
	}
	// A finished step's state is written together with the next step's start (or the end of
	// the run): one local activity instead of two, at no delay, since nothing waits in between.
	var finished *api.StepState
	for i := first; i < len(in.Steps); i++ {
		st, err := r.runStep(ctx, i, finished, resume)
		if workflow.IsContinueAsNewError(err) {
			return err
		}
		r.steps = append(r.steps, st)
		if err != nil {
			return r.end(ctx, err, nil)
		}
		finished, resume = &st, nil
	}
	return r.end(ctx, nil, finished)
}

type runner struct {
	in      migrations.RunInput
	runID   string
	execID  string // the read model's execution id: the first execution's, across continuations
	events  workflow.ReceiveChannel
	retries workflow.ReceiveChannel
	log     log.Logger
	acts    *Activities // nil: only names the activity methods
	// boundedRetries: the run gives up dispatching after DispatchGiveUpAfter (runs started
	// before that change retry for ever).
	boundedRetries bool
	timeouts       bool // steps have timeouts (versionTimeouts)
	continues      bool // the run continues as new when its history grows long
	notifies       bool // a cancelled run tells its migrator (versionCancelNotice)
	signalsFirst   bool // callbacks are selected before dispatch results and timers (versionTimeouts 2)
	// steps are the states of the steps this run has started, for the cancel notice (the
	// current one as last known).
	steps []api.StepState
	// seenLength is the history length at the start of the current workflow task, and
	// uncounted how many events the commands of this task add to it (an upper bound).
	seenLength, uncounted int
}

// added counts n events that the current workflow task's commands add to the history.
func (r *runner) added(n int) { r.uncounted += n }

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
	if in.Status == api.RunStatusCancelled && r.notifies {
		r.startCancelNotice(dctx)
	}
	return err
}

// startCancelNotice starts the workflow that tells the migrator about the cancelled run, and
// leaves it running on its own: the candidate may start again meanwhile.
func (r *runner) startCancelNotice(ctx workflow.Context) {
	in := CancelNoticeInput{MigrationID: r.in.MigrationID, CandidateID: r.in.CandidateID, RunID: r.runID, ExecutionID: r.execID}
	for _, st := range r.steps {
		in.Steps = append(in.Steps, api.CancelledStep{StepName: st.StepName, Status: st.Status, DispatchId: st.DispatchId, Metadata: st.Metadata})
	}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        r.runID + "/cancel/" + r.execID,
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
	})
	child := workflow.ExecuteChildWorkflow(cctx, CancelNoticeWorkflowName, in)
	if err := child.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		r.log.Warn("could not start the cancel notice", "run", r.runID, "error", err)
	}
}

// put writes step states, in order, in one local activity.
func (r *runner) put(ctx workflow.Context, states ...api.StepState) error {
	now := workflow.Now(ctx).UTC()
	in := PutStepInput{MigrationID: r.in.MigrationID, CandidateID: r.in.CandidateID, ExecutionID: r.execID}
	for _, st := range states {
		st.UpdatedAt = now
		in.Steps = append(in.Steps, r.write(st))
	}
	r.added(1) // its marker
	return workflow.ExecuteLocalActivity(localCtx(ctx), r.acts.PutStep, in).Get(ctx, nil)
}

// write pairs a step state with the attention it calls for, judged against the step's
// definition as the run started with it.
func (r *runner) write(st api.StepState) StepWrite {
	def, _ := migrations.FindStep(r.in.Steps, st.StepName)
	return StepWrite{State: st, Attention: migrations.Attention(st, def)}
}

// stepRun is one step of a run under way: its state as last written and the clocks and
// commands in flight that move it on.
type stepRun struct {
	r    *runner
	def  api.StepDefinition
	idx  int
	st   api.StepState
	done bool
	// own is the step definition's own timeout (zero: none); wait is how long an accepted
	// dispatch may go without any callback (own, or the run's callback timeout).
	own, wait time.Duration

	dispatch       workflow.Future // the dispatch in flight, nil when none
	retryTimer     workflow.Future // the back-off before the next dispatch, nil when none
	cancelRetry    workflow.CancelFunc
	retryAt        time.Time
	deadlineTimer  workflow.Future // the step's timeout, nil when none runs
	cancelDeadline workflow.CancelFunc
	deadline       time.Time
	attempt        int
	try            int       // the operator's retries start a new try, with a new dispatch id
	since          time.Time // when the current dispatch attempts began
}

// runStep dispatches step idx and waits until the migrator reports it succeeded or merged,
// handling pending updates, dispatch retries, timeouts, failure and the operator's retry
// meanwhile. It records the previous step's final state (when given) with this step's start,
// and returns its own final state unwritten. With resume it picks the step up where the
// previous execution left it; it may end in a continue-as-new error.
func (r *runner) runStep(ctx workflow.Context, idx int, previous *api.StepState, resume *migrations.Continuation) (api.StepState, error) {
	step := r.in.Steps[idx]
	s := &stepRun{r: r, def: step, idx: idx, cancelRetry: func() {}, cancelDeadline: func() {}}
	if r.timeouts {
		s.own, _ = migrations.StepTimeout(step) // validated at announce
		s.wait = cmp.Or(s.own, r.in.CallbackTimeout, DefaultCallbackTimeout)
	}
	now := workflow.Now(ctx).UTC()
	if resume != nil {
		if err := s.resume(ctx, resume); err != nil {
			return s.st, err
		}
	} else {
		s.st = api.StepState{StepName: step.Name, Status: api.StepStatusInProgress, StartedAt: now,
			DispatchId: migrations.DispatchID(r.execID, step.Name, 1)}
		s.try, s.since = 1, now
		states := []api.StepState{s.st}
		if previous != nil {
			states = []api.StepState{*previous, s.st}
		}
		if err := r.put(ctx, states...); err != nil {
			return s.st, err
		}
		s.startDispatch(ctx)
	}

	for !s.done {
		if s.dispatch == nil && ctx.Err() == nil && r.historyFull(ctx) {
			return s.st, s.continueAsNew(ctx)
		}
		var err error
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
		signals := func() {
			sel.AddReceive(r.events, func(c workflow.ReceiveChannel, _ bool) {
				var ev migrations.StepEvent
				c.Receive(ctx, &ev)
				err = s.event(ctx, ev)
			})
			sel.AddReceive(r.retries, func(c workflow.ReceiveChannel, _ bool) {
				var req migrations.RetryRequest
				c.Receive(ctx, &req)
				err = s.retry(ctx, req)
			})
		}
		// The selector takes the first ready case in the order added: a callback that arrived
		// with a timer's firing is heard first, so a step that did call back is not taken for
		// silent (runs before that order keep theirs).
		if r.signalsFirst {
			signals()
		}
		if s.dispatch != nil {
			sel.AddFuture(s.dispatch, func(f workflow.Future) { err = s.dispatched(ctx, f.Get(ctx, nil)) })
		}
		if s.retryTimer != nil {
			sel.AddFuture(s.retryTimer, func(f workflow.Future) {
				s.retryTimer, s.retryAt = nil, time.Time{} // fired or cancelled: never select it again
				if f.Get(ctx, nil) == nil && s.st.Status == api.StepStatusInProgress {
					s.startDispatch(ctx)
				}
			})
		}
		if s.deadlineTimer != nil {
			sel.AddFuture(s.deadlineTimer, func(f workflow.Future) {
				s.deadlineTimer, s.deadline = nil, time.Time{}
				if f.Get(ctx, nil) == nil {
					err = s.timedOut(ctx)
				}
			})
		}
		if !r.signalsFirst {
			signals()
		}
		sel.Select(ctx)
		if ctx.Err() != nil {
			return s.st, temporal.NewCanceledError()
		}
		if err != nil {
			return s.st, err
		}
	}
	return s.st, nil
}

func (s *stepRun) startDispatch(ctx workflow.Context) {
	s.attempt++
	s.r.added(3) // scheduled, started, completed
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: dispatchTimeout,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1}, // the loop retries, recording each attempt
	})
	s.dispatch = workflow.ExecuteActivity(actx, s.r.acts.Dispatch, DispatchInput{
		MigrationID: s.r.in.MigrationID, CandidateID: s.r.in.CandidateID, RunID: s.r.runID, Step: s.def, Attempt: s.attempt,
		DispatchID: s.st.DispatchId,
	})
	s.retryTimer, s.retryAt = nil, time.Time{}
}

// stopDispatch stops waiting for the dispatch and cancels a pending back-off. A dispatch still
// in flight is left to finish (the migrator has called back, so it has the request): cancelling
// it would only cost history events. Cancelling the run cancels it with ctx.
func (s *stepRun) stopDispatch() {
	s.cancelRetry()
	s.dispatch, s.retryTimer, s.retryAt = nil, nil, time.Time{}
}

func (s *stepRun) startDeadline(ctx workflow.Context, at time.Time) {
	s.cancelDeadline()
	s.r.added(2) // started, then fired or cancelled
	tctx, cancel := workflow.WithCancel(ctx)
	s.cancelDeadline, s.deadline = cancel, at
	s.deadlineTimer = workflow.NewTimer(tctx, max(at.Sub(workflow.Now(ctx)), time.Millisecond))
}

func (s *stepRun) stopDeadline() {
	s.cancelDeadline()
	s.cancelDeadline, s.deadlineTimer, s.deadline = func() {}, nil, time.Time{}
}

// dispatched handles the end of a dispatch attempt: accepted (the step's timeout starts), refused
// (the step fails), or not reached (another attempt after a back-off, until the give-up).
func (s *stepRun) dispatched(ctx workflow.Context, derr error) error {
	s.dispatch = nil
	if s.st.Status != api.StepStatusInProgress {
		return nil // the migrator already called back
	}
	now := workflow.Now(ctx).UTC()
	if derr == nil {
		if s.r.timeouts {
			s.st.AcknowledgedAt = now
			s.startDeadline(ctx, now.Add(s.wait))
		}
		return nil
	}
	s.st.Attempts = s.attempt
	s.st.LastError = dispatchMessage(derr)
	var appErr *temporal.ApplicationError
	if errors.As(derr, &appErr) && appErr.Type() == errRejected {
		s.st.Status = api.StepStatusFailed
		s.st.FinishedAt = now
		return s.r.put(ctx, s.st)
	}
	if s.r.boundedRetries && now.Sub(s.since) >= cmp.Or(s.r.in.DispatchRetryFor, DispatchGiveUpAfter) {
		s.st.Status = api.StepStatusFailed
		s.st.FinishedAt = now
		s.st.LastError = fmt.Sprintf("gave up after %d dispatch attempts over %s: %s", s.attempt, now.Sub(s.since).Round(time.Minute), s.st.LastError)
		return s.r.put(ctx, s.st)
	}
	err := s.r.put(ctx, s.st)
	s.backOff(ctx, now.Add(backoff(s.attempt))) // even when the write failed: runs recorded so expect the timer
	return err
}

func (s *stepRun) backOff(ctx workflow.Context, at time.Time) {
	s.r.added(2)
	tctx, cancel := workflow.WithCancel(ctx)
	s.cancelRetry, s.retryAt = cancel, at
	s.retryTimer = workflow.NewTimer(tctx, max(at.Sub(workflow.Now(ctx)), time.Millisecond))
}

// timedOut handles the step's timeout: an accepted dispatch without any callback is delivered
// again while the step allows, then silent; a pending step with its own timeout is overdue.
func (s *stepRun) timedOut(ctx workflow.Context) error {
	now := workflow.Now(ctx).UTC()
	switch s.st.Status {
	case api.StepStatusInProgress:
		if s.st.Redeliveries < s.def.Redeliver {
			s.st.Redeliveries++
			s.st.Attempts, s.st.LastError, s.st.AcknowledgedAt = 0, "", time.Time{}
			s.attempt, s.since = 0, now
			if err := s.r.put(ctx, s.st); err != nil {
				return err
			}
			s.startDispatch(ctx) // the same dispatch id: the migrator de-duplicates
			return nil
		}
	case api.StepStatusPending:
		if s.own == 0 {
			return nil
		}
	default:
		return nil
	}
	s.st.TimedOutAt = now
	return s.r.put(ctx, s.st)
}

// event handles the migrator's events: ev, and (when the run coalesces) the ones already
// waiting behind it, written as one step state.
func (s *stepRun) event(ctx workflow.Context, ev migrations.StepEvent) error {
	write := s.apply(ctx, ev)
	for s.r.continues && !s.done {
		var next migrations.StepEvent // fresh: decoding into a used one would keep its fields
		if !s.r.events.ReceiveAsync(&next) {
			break
		}
		write = s.apply(ctx, next) || write
	}
	if !write || s.done {
		return nil // a finished step is written with the next step's start, or the end of the run
	}
	return s.r.put(ctx, s.st)
}

// apply changes the step's state by one event, and reports whether there is a change to write.
func (s *stepRun) apply(ctx workflow.Context, ev migrations.StepEvent) bool {
	step, st := s.def.Name, &s.st
	if ev.StepName != step {
		s.r.log.Warn("ignoring event for a step that is not waiting", "step", ev.StepName, "current", step)
		return false
	}
	if st.Status == api.StepStatusFailed {
		s.r.log.Warn("ignoring event for a failed step; it waits for a retry", "step", step, "status", ev.Status)
		return false
	}
	if ev.DispatchID != "" && ev.DispatchID != st.DispatchId {
		s.r.log.Warn("ignoring event for an earlier dispatch", "step", step, "dispatch", ev.DispatchID, "current", st.DispatchId)
		return false
	}
	// The API refuses an event that would take the step beyond its metadata bounds; one that
	// raced past that check keeps its status change but not its metadata.
	md, merr := migrations.MergeStepMetadata(st.Metadata, ev.Metadata)
	if merr != nil {
		s.r.log.Warn("dropping an event's metadata beyond the step's bounds", "step", step, "error", merr)
	}
	st.Metadata = md
	now := workflow.Now(ctx).UTC()
	switch ev.Status {
	case api.StepEventStatusPending:
		st.Status = api.StepStatusPending
		s.stopDispatch() // the migrator has the step: no more dispatch attempts
		if s.r.timeouts {
			if st.AcknowledgedAt.IsZero() {
				st.AcknowledgedAt = now // it called back before its answer to the dispatch arrived
			}
			switch {
			case s.own == 0: // a pending step without a timeout may take as long as it needs
				s.stopDeadline()
				st.TimedOutAt = time.Time{}
			case s.deadlineTimer == nil && st.TimedOutAt.IsZero():
				s.startDeadline(ctx, st.AcknowledgedAt.Add(s.own))
			}
		}
	case api.StepEventStatusSucceeded, api.StepEventStatusMerged:
		st.Status = api.StepStatus(ev.Status)
		st.FinishedAt = now
		st.LastError = ""
		s.stopDispatch()
		s.stopDeadline()
		s.done = true
		return true
	case api.StepEventStatusFailed:
		st.Status = api.StepStatusFailed
		st.LastError = migrations.FailureMessage(ev.Metadata)
		st.FinishedAt = now
		s.stopDispatch()
		s.stopDeadline()
	default:
		s.r.log.Warn("ignoring event with an unknown status", "step", step, "status", ev.Status)
		return false
	}
	return true
}

// retry starts a new try of a failed (or, with timeouts, silent or overdue) step, with a new
// dispatch id.
func (s *stepRun) retry(ctx workflow.Context, req migrations.RetryRequest) error {
	st := &s.st
	retryable := st.Status == api.StepStatusFailed || (s.r.timeouts && migrations.Retryable(*st))
	if req.StepName != s.def.Name || !retryable {
		s.r.log.Warn("ignoring retry of a step that cannot be retried", "step", req.StepName, "current", s.def.Name, "status", st.Status)
		return nil
	}
	s.stopDispatch()
	s.stopDeadline()
	st.Status = api.StepStatusInProgress
	st.Attempts, st.LastError, st.FinishedAt = 0, "", time.Time{}
	st.AcknowledgedAt, st.TimedOutAt, st.Redeliveries = time.Time{}, time.Time{}, 0
	st.Metadata = withoutFailure(st.Metadata)
	s.attempt = 0
	s.try++
	s.since = workflow.Now(ctx).UTC()
	st.DispatchId = migrations.DispatchID(s.r.execID, s.def.Name, s.try)
	if err := s.r.put(ctx, *st); err != nil {
		return err
	}
	s.startDispatch(ctx)
	return nil
}

// historyFull reports whether the run should continue as new: its history, with what this
// workflow task adds to it, has reached the run's limit, or Temporal suggests continuing.
// Temporal reports the length as of the task's start, and one task may handle many signals.
func (r *runner) historyFull(ctx workflow.Context) bool {
	if !r.continues {
		return false
	}
	info := workflow.GetInfo(ctx)
	if n := info.GetCurrentHistoryLength(); n != r.seenLength {
		r.seenLength, r.uncounted = n, 0
	}
	return r.seenLength+r.uncounted >= cmp.Or(r.in.ContinueAfter, DefaultContinueAfter) || info.GetContinueAsNewSuggested()
}

// continueAsNew ends this execution with the run's state carried into the next one, together
// with the signals received and not yet handled. Only called with no dispatch in flight.
func (s *stepRun) continueAsNew(ctx workflow.Context) error {
	c := &migrations.Continuation{
		ExecutionID: s.r.execID, Executions: 1, Step: s.idx, State: s.st, Try: s.try, Attempt: s.attempt,
		DispatchingSince: s.since, RetryAt: s.retryAt, Deadline: s.deadline, Done: s.r.steps,
	}
	if prev := s.r.in.Continued; prev != nil {
		c.Executions = prev.Executions + 1
	}
	for {
		var ev migrations.StepEvent
		if !s.r.events.ReceiveAsync(&ev) {
			break
		}
		c.Events = append(c.Events, ev)
	}
	for {
		var req migrations.RetryRequest
		if !s.r.retries.ReceiveAsync(&req) {
			break
		}
		c.Retries = append(c.Retries, req)
	}
	next := s.r.in
	next.Continued = c
	s.r.log.Info("continuing as new", "run", s.r.runID, "step", s.def.Name, "executions", c.Executions, "history", workflow.GetInfo(ctx).GetCurrentHistoryLength())
	return workflow.NewContinueAsNewError(ctx, WorkflowName, next)
}

// resume restores the step from the previous execution: its clocks become timers again, and
// the signals it had not handled are handled first (events, then retries).
func (s *stepRun) resume(ctx workflow.Context, c *migrations.Continuation) error {
	s.st, s.try, s.attempt, s.since = c.State, c.Try, c.Attempt, c.DispatchingSince
	switch {
	case !c.RetryAt.IsZero():
		s.backOff(ctx, c.RetryAt)
	case s.st.Status == api.StepStatusInProgress && s.st.AcknowledgedAt.IsZero() && s.st.TimedOutAt.IsZero():
		s.startDispatch(ctx) // no answer to the last dispatch was recorded: deliver it again
	}
	if !c.Deadline.IsZero() {
		s.startDeadline(ctx, c.Deadline)
	}
	write := false
	for _, ev := range c.Events {
		if write = s.apply(ctx, ev) || write; s.done {
			return nil
		}
	}
	if write {
		if err := s.r.put(ctx, s.st); err != nil {
			return err
		}
	}
	for _, req := range c.Retries {
		if err := s.retry(ctx, req); err != nil {
			return err
		}
	}
	return nil
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
