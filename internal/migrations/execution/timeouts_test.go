package execution_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/migrations/execution"
	"github.com/drover-dev/drover/pkg/api"
)

// dispatchLog records the dispatches the workflow makes, with their time and id.
type dispatchLog struct {
	f  *fixture
	at []time.Duration // since the run started
	id []string
}

func (f *fixture) acceptDispatches() *dispatchLog {
	l := &dispatchLog{f: f}
	start := f.env.Now()
	f.env.OnActivity(f.acts.Dispatch, mock.Anything, mock.Anything).Return(func(_ context.Context, in execution.DispatchInput) error {
		l.at = append(l.at, f.env.Now().Sub(start))
		l.id = append(l.id, in.DispatchID)
		return nil
	})
	return l
}

// look reads the candidate's run summary and its current step at d into the returned values.
func (f *fixture) look(t *testing.T, d time.Duration) (*api.RunSummary, *api.StepState) {
	var sum api.RunSummary
	var st api.StepState
	f.env.RegisterDelayedCallback(func() {
		c, err := f.store.GetCandidate(context.Background(), "m", "c")
		require.NoError(t, err)
		run, err := f.store.GetRun(context.Background(), "m", "c")
		require.NoError(t, err)
		sum, st = c.Run, run.Steps[len(run.Steps)-1]
	}, d)
	return &sum, &st
}

// TestSilentStepThenRetry: a migrator that accepts a dispatch and never calls back leaves the
// step silent after the callback timeout, counted as attention with the time it waits since;
// the operator's retry dispatches again with a new dispatch id, and the run completes.
func TestSilentStepThenRetry(t *testing.T) {
	f := newFixture(t, "one")
	f.in.CallbackTimeout = 5 * time.Minute
	l := f.acceptDispatches()
	before, _ := f.look(t, 4*time.Minute)
	silent, silentStep := f.look(t, 6*time.Minute)
	f.signalAt(7*time.Minute, migrations.SignalRetryStep, migrations.RetryRequest{StepName: "one"})
	retried, retriedStep := f.look(t, 8*time.Minute)
	f.event(9*time.Minute, "one", api.StepEventStatusSucceeded, nil)

	run, c := f.run(t)
	require.NoError(t, f.env.GetWorkflowError())
	require.Empty(t, before.Attention, "not silent before the timeout")
	require.Equal(t, api.AttentionSilent, silent.Attention)
	require.Equal(t, api.StepStatusInProgress, silentStep.Status)
	require.False(t, silentStep.AcknowledgedAt.IsZero())
	require.Equal(t, silentStep.AcknowledgedAt, silent.WaitingSince)
	require.Equal(t, 5*time.Minute, silentStep.TimedOutAt.Sub(silentStep.AcknowledgedAt))
	require.Empty(t, retried.Attention)
	require.True(t, retriedStep.TimedOutAt.IsZero())
	require.Len(t, l.id, 2)
	require.NotEqual(t, l.id[0], l.id[1], "a retry is a new dispatch")
	require.Equal(t, retriedStep.DispatchId, l.id[1])
	require.Equal(t, api.CandidateStatusCompleted, c.Status)
	require.Equal(t, api.StepStatusSucceeded, run.Steps[0].Status)
}

// TestRedeliveryBeforeSilence: a step that opts in to redelivery is delivered again with the
// same dispatch id at each timeout, up to its count, and only then is silent; a callback after
// a redelivery ends the silence for good.
func TestRedeliveryBeforeSilence(t *testing.T) {
	f := newFixture(t, "one", "two")
	f.in.CallbackTimeout = 5 * time.Minute
	f.in.Steps[0].Redeliver = 2
	l := f.acceptDispatches()
	silent, silentStep := f.look(t, 16*time.Minute)
	f.event(20*time.Minute, "one", api.StepEventStatusSucceeded, nil)
	f.event(21*time.Minute, "two", api.StepEventStatusSucceeded, nil)

	_, c := f.run(t)
	require.NoError(t, f.env.GetWorkflowError())
	require.Len(t, l.id, 4, "three deliveries of step one, one of step two")
	require.Equal(t, []time.Duration{0, 5 * time.Minute, 10 * time.Minute}, l.at[:3])
	require.Equal(t, l.id[0], l.id[1])
	require.Equal(t, l.id[0], l.id[2], "a redelivery keeps the dispatch id")
	require.Equal(t, api.AttentionSilent, silent.Attention)
	require.Equal(t, 2, silentStep.Redeliveries)
	require.Equal(t, 5*time.Minute, silentStep.TimedOutAt.Sub(silentStep.AcknowledgedAt), "silent one timeout after the last delivery")
	require.Equal(t, api.CandidateStatusCompleted, c.Status)
}

// TestLateCallbackEndsSilence: a silent step that then hears from its migrator (pending,
// without a timeout of its own) needs nobody any more.
func TestLateCallbackEndsSilence(t *testing.T) {
	f := newFixture(t, "one")
	f.in.CallbackTimeout = 5 * time.Minute
	f.acceptDispatches()
	silent, _ := f.look(t, 6*time.Minute)
	f.event(7*time.Minute, "one", api.StepEventStatusPending, map[string]string{"prUrl": "u"})
	pending, pendingStep := f.look(t, 30*24*time.Hour) // a pending step may take as long as it needs
	f.event(31*24*time.Hour, "one", api.StepEventStatusMerged, nil)

	_, c := f.run(t)
	require.NoError(t, f.env.GetWorkflowError())
	require.Equal(t, api.AttentionSilent, silent.Attention)
	require.Empty(t, pending.Attention)
	require.True(t, pending.WaitingSince.IsZero())
	require.Equal(t, api.StepStatusPending, pendingStep.Status)
	require.True(t, pendingStep.TimedOutAt.IsZero())
	require.Equal(t, api.CandidateStatusCompleted, c.Status)
}

// TestStepTimeoutMakesPendingOverdue: a step's own timeout replaces the callback timeout, and
// a pending step that outlasts it is overdue; the operator may retry it.
func TestStepTimeoutMakesPendingOverdue(t *testing.T) {
	f := newFixture(t, "one")
	f.in.CallbackTimeout = 5 * time.Minute
	f.in.Steps[0].Timeout = "2h"
	l := f.acceptDispatches()
	f.event(time.Minute, "one", api.StepEventStatusPending, map[string]string{"prUrl": "u"})
	early, _ := f.look(t, time.Hour) // the callback timeout does not apply to this step
	overdue, overdueStep := f.look(t, 2*time.Hour+time.Minute)
	f.signalAt(3*time.Hour, migrations.SignalRetryStep, migrations.RetryRequest{StepName: "one"})
	f.event(3*time.Hour+time.Minute, "one", api.StepEventStatusSucceeded, nil)

	_, c := f.run(t)
	require.NoError(t, f.env.GetWorkflowError())
	require.Empty(t, early.Attention)
	require.Equal(t, api.AttentionOverdue, overdue.Attention)
	require.Equal(t, api.StepStatusPending, overdueStep.Status)
	require.Equal(t, overdueStep.AcknowledgedAt, overdue.WaitingSince)
	require.Len(t, l.id, 2, "the retry of an overdue step dispatches again")
	require.NotEqual(t, l.id[0], l.id[1])
	require.Equal(t, api.CandidateStatusCompleted, c.Status)
}

// TestRunsStartedBeforeTimeoutsNeverGoSilent: a run whose history predates step timeouts keeps
// waiting as it did, and its operator cannot retry a step that has not failed.
func TestRunsStartedBeforeTimeoutsNeverGoSilent(t *testing.T) {
	f := newFixture(t, "one")
	f.env.OnGetVersion("step-timeouts", workflow.DefaultVersion, 2).Return(workflow.DefaultVersion)
	f.in.CallbackTimeout = 5 * time.Minute
	l := f.acceptDispatches()
	later, _ := f.look(t, 24*time.Hour)
	f.signalAt(25*time.Hour, migrations.SignalRetryStep, migrations.RetryRequest{StepName: "one"})
	f.event(26*time.Hour, "one", api.StepEventStatusSucceeded, nil)

	_, c := f.run(t)
	require.NoError(t, f.env.GetWorkflowError())
	require.Empty(t, later.Attention)
	require.Len(t, l.id, 1, "the retry of a step that has not failed is ignored")
	require.Equal(t, api.CandidateStatusCompleted, c.Status)
}

// next is a fresh test environment on f's store and clock, for the execution a continue-as-new
// starts with in.
func (f *fixture) next(in migrations.RunInput) *fixture {
	var suite testsuite.WorkflowTestSuite
	g := &fixture{env: suite.NewTestWorkflowEnvironment(), store: f.store, in: in}
	g.env.SetStartTime(f.env.Now())
	g.acts = execution.NewActivities(f.store, nil)
	execution.Register(g.env, g.acts)
	return g
}

// continuation is the input a run continued as new with.
func continuation(t *testing.T, err error) migrations.RunInput {
	t.Helper()
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(err, &can), "the run continued as new: %v", err)
	require.Equal(t, execution.WorkflowName, can.WorkflowType.Name)
	var next migrations.RunInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.NotNil(t, next.Continued)
	return next
}

// TestContinueAsNewMidStepAndComplete: a run whose history is full continues as new in the
// middle of a pending step with its own timeout, carrying the step's state, its deadline and a
// signal it had not handled yet; the next execution picks up there (same read-model execution,
// same dispatch id, no second dispatch), goes overdue on time, and completes.
func TestContinueAsNewMidStepAndComplete(t *testing.T) {
	f := newFixture(t, "one", "two")
	f.in.Steps[0].Timeout = "1h"
	l := f.acceptDispatches()
	f.event(time.Minute, "one", api.StepEventStatusPending, map[string]string{"prUrl": "u"})
	f.env.RegisterDelayedCallback(func() {
		f.env.SetCurrentHistoryLength(execution.DefaultContinueAfter)
		// Two events in one workflow task: the first is handled, the second is carried over.
		f.env.SignalWorkflow(migrations.SignalStepEvent, migrations.StepEvent{StepName: "one", Status: api.StepEventStatusPending, Metadata: map[string]string{"checks": "1/2"}})
		f.env.SignalWorkflow(migrations.SignalStepEvent, migrations.StepEvent{StepName: "one", Status: api.StepEventStatusPending, Metadata: map[string]string{"checks": "2/2"}})
	}, 10*time.Minute)
	f.env.ExecuteWorkflow(execution.WorkflowName, f.in)
	require.True(t, f.env.IsWorkflowCompleted())
	next := continuation(t, f.env.GetWorkflowError())
	before, err := f.store.GetRun(context.Background(), "m", "c")
	require.NoError(t, err)
	c := next.Continued
	require.Equal(t, before.ExecutionID, c.ExecutionID)
	require.Equal(t, 1, c.Executions)
	require.Equal(t, 0, c.Step)
	require.Equal(t, api.StepStatusPending, c.State.Status)
	require.Equal(t, c.State.AcknowledgedAt.Add(time.Hour), c.Deadline)
	require.Len(t, c.Events, 1, "the unhandled signal is carried")
	require.Equal(t, "2/2", c.Events[0].Metadata["checks"])
	require.Len(t, l.id, 1)

	// The next execution, in a fresh environment on the same store.
	g := f.next(next)
	l2 := g.acceptDispatches()
	resumed, resumedStep := g.look(t, time.Minute)
	overdue, _ := g.look(t, 51*time.Minute) // an hour after the dispatch was accepted
	g.event(52*time.Minute, "one", api.StepEventStatusMerged, nil)
	g.event(53*time.Minute, "two", api.StepEventStatusSucceeded, nil)
	run, cand := g.run(t)
	require.NoError(t, g.env.GetWorkflowError())
	require.Empty(t, resumed.Attention)
	require.Equal(t, "2/2", resumedStep.Metadata["checks"], "the carried event was handled")
	require.Equal(t, "u", resumedStep.Metadata["prUrl"])
	require.Equal(t, api.AttentionOverdue, overdue.Attention)
	require.Len(t, l2.id, 1, "only step two is dispatched after continuing")
	require.Equal(t, before.ExecutionID, run.ExecutionID, "the read model's execution id is stable")
	require.Equal(t, migrations.DispatchID(before.ExecutionID, "two", 1), l2.id[0])
	require.Equal(t, api.CandidateStatusCompleted, cand.Status)
	require.Equal(t, api.StepStatusMerged, run.Steps[0].Status)
}

// TestContinueAsNewDuringBackoff: a run that continues as new while waiting out a dispatch
// back-off dispatches again when the back-off ends, keeping the attempt count and the give-up
// clock, so the bound on retries holds across executions.
func TestContinueAsNewDuringBackoff(t *testing.T) {
	f := newFixture(t, "one")
	calls := 0
	f.env.OnActivity(f.acts.Dispatch, mock.Anything, mock.Anything).Return(func(context.Context, execution.DispatchInput) error {
		calls++
		return errors.New("connection refused")
	})
	f.env.RegisterDelayedCallback(func() { f.env.SetCurrentHistoryLength(execution.DefaultContinueAfter) }, 30*time.Minute)
	f.env.ExecuteWorkflow(execution.WorkflowName, f.in)
	next := continuation(t, f.env.GetWorkflowError())
	c := next.Continued
	require.False(t, c.RetryAt.IsZero(), "continued during a back-off")
	require.Equal(t, calls, c.Attempt)
	require.Equal(t, calls, c.State.Attempts)

	g := f.next(next)
	g.env.RegisterDelayedCallback(g.env.CancelWorkflow, 2*time.Hour)
	var first time.Time
	more := 0
	g.env.OnActivity(g.acts.Dispatch, mock.Anything, mock.Anything).Return(func(_ context.Context, in execution.DispatchInput) error {
		if more == 0 {
			first = g.env.Now()
			require.Equal(t, c.Attempt+1, in.Attempt)
		}
		more++
		return errors.New("connection refused")
	})
	start := g.env.Now()
	run, _ := g.run(t)
	require.LessOrEqual(t, first.Sub(start), time.Minute, "the back-off resumes where it was")
	require.Equal(t, api.StepStatusFailed, run.Steps[0].Status, "gave up an hour after the first attempt")
	require.Contains(t, run.Steps[0].LastError, "gave up after")
	require.Less(t, calls+more, 80)
}

// TestCancelStartsTheNotice: a cancelled run starts the cancel notice with the steps it had
// started, their status and metadata (the PR to close), and does not wait for it to finish.
func TestCancelStartsTheNotice(t *testing.T) {
	f := newFixture(t, "one", "two")
	f.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "m__c"})
	f.acceptDispatches()
	var got execution.CancelNoticeInput
	f.env.OnWorkflow(execution.CancelNoticeWorkflowName, mock.Anything, mock.Anything).Return(func(_ workflow.Context, in execution.CancelNoticeInput) error {
		got = in
		return nil
	})
	f.event(time.Second, "one", api.StepEventStatusSucceeded, nil)
	f.event(2*time.Second, "two", api.StepEventStatusPending, map[string]string{"prUrl": "u"})
	f.env.RegisterDelayedCallback(f.env.CancelWorkflow, 3*time.Second)

	_, c := f.run(t)
	require.Equal(t, api.CandidateStatusNotStarted, c.Status)
	require.Equal(t, "m__c", got.RunID)
	require.Equal(t, "m", got.MigrationID)
	require.Len(t, got.Steps, 2)
	require.Equal(t, api.StepStatusSucceeded, got.Steps[0].Status)
	require.Equal(t, api.CancelledStep{StepName: "two", Status: api.StepStatusPending, DispatchId: got.Steps[1].DispatchId, Metadata: map[string]string{"prUrl": "u"}}, got.Steps[1])
	require.NotEmpty(t, got.Steps[1].DispatchId)
}

// TestCancelNoticeOutcomes: the notice's outcome lands on the run: done on a 2xx, not supported
// on a 404, failed with the migrator's reason on a refusal or once the retries run out.
func TestCancelNoticeOutcomes(t *testing.T) {
	for name, tc := range map[string]struct {
		answer func(calls int) error
		want   api.RunCancellationStatus
		words  string
	}{
		"accepted after an outage": {answer: func(calls int) error {
			if calls < 3 {
				return temporal.NewApplicationError("connection refused", "CancelNoticeFailed")
			}
			return nil
		}, want: api.RunCancellationStatusDone},
		"not taking part": {answer: func(int) error { return nil }, want: api.RunCancellationStatusNotSupported},
		"refused": {answer: func(int) error {
			return temporal.NewNonRetryableApplicationError("migrator answered 403: no", "MigratorRejected", nil)
		}, want: api.RunCancellationStatusFailed, words: "403"},
		"down for good": {answer: func(int) error {
			return temporal.NewApplicationError("connection refused", "CancelNoticeFailed")
		}, want: api.RunCancellationStatusFailed, words: "connection refused"},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, "one")
			ctx := context.Background()
			require.NoError(t, f.store.BeginRun(ctx, migrations.RunRecord{RunID: "m__c", ExecutionID: "e1", MigrationID: "m", CandidateID: "c", Status: api.RunStatusRunning, StepNames: []string{"one"}, StartedAt: time.Now()}))
			require.NoError(t, f.store.FinishRun(ctx, "m", "c", "e1", api.RunStatusCancelled, api.CandidateStatusNotStarted, time.Now()))
			calls := 0
			f.env.OnActivity(f.acts.NotifyCancel, mock.Anything, mock.Anything).Return(func(context.Context, execution.CancelNoticeInput) (api.RunCancellationStatus, error) {
				calls++
				if err := tc.answer(calls); err != nil {
					return "", err
				}
				if tc.want == api.RunCancellationStatusNotSupported {
					return api.RunCancellationStatusNotSupported, nil
				}
				return api.RunCancellationStatusDone, nil
			})
			f.env.ExecuteWorkflow(execution.CancelNoticeWorkflowName, execution.CancelNoticeInput{MigrationID: "m", CandidateID: "c", RunID: "m__c", ExecutionID: "e1"})
			require.True(t, f.env.IsWorkflowCompleted())
			require.NoError(t, f.env.GetWorkflowError())
			run, err := f.store.GetRun(ctx, "m", "c")
			require.NoError(t, err)
			require.NotNil(t, run.Cancellation)
			require.Equal(t, tc.want, run.Cancellation.Status)
			require.Contains(t, run.Cancellation.Error, tc.words)
			if name == "down for good" {
				require.Greater(t, calls, 5, "retried while the migrator is down")
			}
		})
	}
}

// TestCoalescedCallbacksKeepTheirOwnFields: callbacks that arrive together are applied one by
// one, each with only its own fields (a pending event's message is not the failure's reason).
func TestCoalescedCallbacksKeepTheirOwnFields(t *testing.T) {
	f := newFixture(t, "one")
	f.acceptDispatches()
	f.env.RegisterDelayedCallback(func() {
		f.env.SignalWorkflow(migrations.SignalStepEvent, migrations.StepEvent{StepName: "one", Status: api.StepEventStatusPending, Metadata: map[string]string{"message": "rebasing"}})
		f.env.SignalWorkflow(migrations.SignalStepEvent, migrations.StepEvent{StepName: "one", Status: api.StepEventStatusPending, DispatchID: "an-earlier-dispatch", Metadata: map[string]string{"stale": "yes"}})
		f.env.SignalWorkflow(migrations.SignalStepEvent, migrations.StepEvent{StepName: "one", Status: api.StepEventStatusFailed, Metadata: map[string]string{"reason": "conflict"}})
	}, time.Minute)
	failed, failedStep := f.look(t, 2*time.Minute)
	f.signalAt(3*time.Minute, migrations.SignalRetryStep, migrations.RetryRequest{StepName: "one"})
	f.event(4*time.Minute, "one", api.StepEventStatusSucceeded, nil)

	_, c := f.run(t)
	require.NoError(t, f.env.GetWorkflowError())
	require.Equal(t, api.AttentionFailed, failed.Attention)
	require.Equal(t, "conflict", failedStep.LastError)
	require.Empty(t, failedStep.Metadata["stale"], "an ignored event leaves nothing behind")
	require.Equal(t, api.CandidateStatusCompleted, c.Status)
}

// noticeNotifier answers cancel notices with a scripted HTTP status (0: accepted).
type noticeNotifier struct {
	status int
	got    []api.CancelRunRequest
}

func (n *noticeNotifier) DispatchStep(context.Context, string, api.DispatchStepRequest) error {
	return nil
}

func (n *noticeNotifier) CancelRun(_ context.Context, _ string, req api.CancelRunRequest) error {
	n.got = append(n.got, req)
	if n.status != 0 {
		return answered(n.status)
	}
	return nil
}

// answered is a migrator's HTTP answer other than 2xx.
type answered int

func (a answered) Error() string       { return fmt.Sprintf("migrator answered %d", int(a)) }
func (a answered) MigratorStatus() int { return int(a) }
func (answered) Timeout() bool         { return false }
func (answered) Refused() bool         { return false }

// TestNotifyCancel: the notice goes to the migrator with the run's steps; a 404 is "not
// supported", a 403 a refusal not retried, a 503 retried; and a notice whose candidate has
// begun another run is not sent at all, so it cannot undo the new run's work.
func TestNotifyCancel(t *testing.T) {
	steps := []api.CancelledStep{{StepName: "one", Status: api.StepStatusPending, Metadata: map[string]string{"prUrl": "u"}}}
	for name, tc := range map[string]struct {
		status    int
		execution string
		want      api.RunCancellationStatus
		errType   string // "" when no error
		sent      bool
	}{
		"accepted":      {status: 0, execution: "e1", want: api.RunCancellationStatusDone, sent: true},
		"not supported": {status: 404, execution: "e1", want: api.RunCancellationStatusNotSupported, sent: true},
		"refused":       {status: 403, execution: "e1", errType: "MigratorRejected", sent: true},
		"down":          {status: 503, execution: "e1", errType: "CancelNoticeFailed", sent: true},
		"superseded":    {status: 0, execution: "e0", errType: "Superseded", sent: false},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, "one")
			ctx := context.Background()
			require.NoError(t, f.store.BeginRun(ctx, migrations.RunRecord{RunID: "m__c", ExecutionID: "e1", MigrationID: "m", CandidateID: "c", Status: api.RunStatusRunning, StepNames: []string{"one"}, StartedAt: time.Now()}))
			n := &noticeNotifier{status: tc.status}
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestActivityEnvironment()
			acts := execution.NewActivities(f.store, n)
			env.RegisterActivity(acts)
			v, err := env.ExecuteActivity(acts.NotifyCancel, execution.CancelNoticeInput{MigrationID: "m", CandidateID: "c", RunID: "m__c", ExecutionID: tc.execution, Steps: steps})
			if tc.errType != "" {
				var appErr *temporal.ApplicationError
				require.ErrorAs(t, err, &appErr)
				require.Equal(t, tc.errType, appErr.Type())
			} else {
				require.NoError(t, err)
				var got api.RunCancellationStatus
				require.NoError(t, v.Get(&got))
				require.Equal(t, tc.want, got)
			}
			require.Equal(t, tc.sent, len(n.got) == 1)
			if tc.sent {
				require.Equal(t, api.CancelRunRequest{CallbackId: "m__c", MigrationId: "m", Candidate: n.got[0].Candidate, Steps: steps}, n.got[0])
				require.Equal(t, "c", n.got[0].Candidate.Id)
			}
		})
	}
}
