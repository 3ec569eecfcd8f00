package execution_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/migrations/execution"
	"github.com/drover-dev/drover/internal/migrations/store"
	"github.com/drover-dev/drover/pkg/api"
)

// These tests drive the workflow in Temporal's test environment, whose clock jumps over
// timers, to check timing edges: callbacks racing the dispatch, back-off, cancellation.
// Local activities run for real against the SQLite store; Dispatch is mocked.

type fixture struct {
	env   *testsuite.TestWorkflowEnvironment
	store migrations.MigrationStore
	acts  *execution.Activities
	in    migrations.RunInput
}

func newFixture(t *testing.T, steps ...string) *fixture {
	t.Helper()
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "drover.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	defs := make([]api.StepDefinition, len(steps))
	for i, s := range steps {
		defs[i] = api.StepDefinition{Name: s}
	}
	require.NoError(t, st.SaveMigration(ctx, api.Migration{Id: "m", Name: "M", MigratorUrl: "http://127.0.0.1:1", Steps: defs, CreatedAt: time.Now()}))
	require.NoError(t, st.MergeCandidates(ctx, "m", []api.CandidateInput{{Id: "c", Kind: "service"}}, time.Now()))

	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	acts := execution.NewActivities(st, nil)
	execution.Register(env, acts)
	return &fixture{env: env, store: st, acts: acts, in: migrations.RunInput{MigrationID: "m", CandidateID: "c", Steps: defs}}
}

func (f *fixture) signalAt(d time.Duration, name string, payload any) {
	f.env.RegisterDelayedCallback(func() { f.env.SignalWorkflow(name, payload) }, d)
}

func (f *fixture) event(d time.Duration, step string, status api.StepEventStatus, md map[string]string) {
	f.signalAt(d, migrations.SignalStepEvent, migrations.StepEvent{StepName: step, Status: status, Metadata: md})
}

func (f *fixture) run(t *testing.T) (migrations.RunRecord, api.Candidate) {
	t.Helper()
	f.env.ExecuteWorkflow(execution.WorkflowName, f.in)
	require.True(t, f.env.IsWorkflowCompleted())
	run, err := f.store.GetRun(context.Background(), "m", "c")
	require.NoError(t, err)
	c, err := f.store.GetCandidate(context.Background(), "m", "c")
	require.NoError(t, err)
	return run, c
}

func TestCallbackBeforeDispatchReturns(t *testing.T) {
	f := newFixture(t, "one", "two")
	var dispatched []string
	f.env.OnActivity(f.acts.Dispatch, mock.Anything, mock.Anything).
		After(10 * time.Second). // the migrator is slow to acknowledge...
		Return(func(_ context.Context, in execution.DispatchInput) error {
			dispatched = append(dispatched, in.Step.Name)
			return nil
		})
	// ...but calls back before its acknowledgement arrives.
	f.event(time.Second, "one", api.StepEventStatusSucceeded, nil)
	f.event(12*time.Second, "two", api.StepEventStatusMerged, map[string]string{"prUrl": "u"})

	run, c := f.run(t)
	require.NoError(t, f.env.GetWorkflowError())
	require.Equal(t, api.RunStatusCompleted, run.Status)
	require.Equal(t, api.CandidateStatusCompleted, c.Status)
	require.Equal(t, api.StepStatusSucceeded, run.Steps[0].Status)
	require.Equal(t, api.StepStatusMerged, run.Steps[1].Status)
	require.Equal(t, "u", run.Steps[1].Metadata["prUrl"])
	require.Contains(t, dispatched, "one")
}

func TestDispatchBackoffRecordsAttempts(t *testing.T) {
	f := newFixture(t, "one")
	var at []time.Time
	calls := 0
	f.env.OnActivity(f.acts.Dispatch, mock.Anything, mock.Anything).Return(func(_ context.Context, in execution.DispatchInput) error {
		calls++
		at = append(at, f.env.Now())
		if calls <= 3 {
			return temporal.NewApplicationError("migrator at x answered 503: busy", "DispatchFailed")
		}
		return nil
	})
	var seen api.StepState
	f.env.RegisterDelayedCallback(func() {
		run, err := f.store.GetRun(context.Background(), "m", "c")
		require.NoError(t, err)
		seen = run.Steps[0]
	}, 2500*time.Millisecond) // after the second failure, before the third attempt
	f.event(time.Minute, "one", api.StepEventStatusSucceeded, nil)

	run, _ := f.run(t)
	require.NoError(t, f.env.GetWorkflowError())
	require.Equal(t, 4, calls)
	require.Equal(t, 2, seen.Attempts)
	require.Contains(t, seen.LastError, "503")
	require.Equal(t, api.StepStatusInProgress, seen.Status)
	// 1 s, then 2 s, then 4 s between attempts.
	require.InDelta(t, time.Second, at[1].Sub(at[0]), float64(100*time.Millisecond))
	require.InDelta(t, 2*time.Second, at[2].Sub(at[1]), float64(100*time.Millisecond))
	require.InDelta(t, 4*time.Second, at[3].Sub(at[2]), float64(100*time.Millisecond))
	require.Equal(t, api.StepStatusSucceeded, run.Steps[0].Status)
	require.Empty(t, run.Steps[0].LastError)
}

func TestRejectedDispatchFailsStepUntilRetried(t *testing.T) {
	f := newFixture(t, "one")
	calls := 0
	f.env.OnActivity(f.acts.Dispatch, mock.Anything, mock.Anything).Return(func(context.Context, execution.DispatchInput) error {
		calls++
		if calls == 1 {
			return temporal.NewNonRetryableApplicationError("migrator at x answered 422: unknown step", "MigratorRejected", nil)
		}
		return nil
	})
	var failed api.StepState
	f.env.RegisterDelayedCallback(func() {
		run, _ := f.store.GetRun(context.Background(), "m", "c")
		failed = run.Steps[0]
	}, time.Hour)
	// Events and retries for the wrong step are ignored while the step waits.
	f.event(2*time.Hour, "one", api.StepEventStatusSucceeded, nil)
	f.signalAt(3*time.Hour, migrations.SignalRetryStep, migrations.RetryRequest{StepName: "other"})
	f.signalAt(4*time.Hour, migrations.SignalRetryStep, migrations.RetryRequest{StepName: "one"})
	f.event(5*time.Hour, "one", api.StepEventStatusSucceeded, nil)

	run, c := f.run(t)
	require.NoError(t, f.env.GetWorkflowError())
	require.Equal(t, api.StepStatusFailed, failed.Status)
	require.Contains(t, failed.LastError, "unknown step")
	require.Equal(t, 2, calls, "no dispatch between the failure and the retry")
	require.Equal(t, api.CandidateStatusCompleted, c.Status)
	require.Equal(t, api.StepStatusSucceeded, run.Steps[0].Status)
}

func TestMigratorFailureKeepsMessageAndDuplicateDoesNotAdvanceTwice(t *testing.T) {
	f := newFixture(t, "one", "two", "three")
	var dispatched []string
	f.env.OnActivity(f.acts.Dispatch, mock.Anything, mock.Anything).Return(func(_ context.Context, in execution.DispatchInput) error {
		dispatched = append(dispatched, in.Step.Name)
		return nil
	})
	f.event(time.Second, "one", api.StepEventStatusFailed, map[string]string{"error": "tests are red", "prUrl": "u"})
	var failed, retried api.StepState
	f.env.RegisterDelayedCallback(func() {
		run, _ := f.store.GetRun(context.Background(), "m", "c")
		failed = run.Steps[0]
	}, 2*time.Second)
	f.signalAt(3*time.Second, migrations.SignalRetryStep, migrations.RetryRequest{StepName: "one"})
	f.env.RegisterDelayedCallback(func() {
		run, _ := f.store.GetRun(context.Background(), "m", "c")
		retried = run.Steps[0]
	}, 3500*time.Millisecond)
	f.event(4*time.Second, "one", api.StepEventStatusSucceeded, nil)
	f.event(5*time.Second, "one", api.StepEventStatusSucceeded, nil) // duplicate: must not end step two
	var mid migrations.RunRecord
	f.env.RegisterDelayedCallback(func() { mid, _ = f.store.GetRun(context.Background(), "m", "c") }, 6*time.Second)
	f.event(7*time.Second, "two", api.StepEventStatusSucceeded, nil)
	f.event(8*time.Second, "three", api.StepEventStatusSucceeded, nil)

	run, _ := f.run(t)
	require.NoError(t, f.env.GetWorkflowError())
	require.Equal(t, "tests are red", failed.LastError)
	require.Equal(t, api.StepStatusFailed, failed.Status)
	require.Equal(t, api.StepStatusInProgress, retried.Status)
	require.Equal(t, map[string]string{"prUrl": "u"}, retried.Metadata, "a retry drops the failed try's reason, keeps its links")
	require.Len(t, mid.Steps, 2)
	require.Equal(t, api.StepStatusInProgress, mid.Steps[1].Status)
	require.Equal(t, []string{"one", "one", "two", "three"}, dispatched)
	require.Equal(t, api.RunStatusCompleted, run.Status)
}

func TestCancelDuringBackoffResetsCandidate(t *testing.T) {
	f := newFixture(t, "one", "two")
	calls := 0
	f.env.OnActivity(f.acts.Dispatch, mock.Anything, mock.Anything).Return(func(context.Context, execution.DispatchInput) error {
		calls++
		return errors.New("connection refused")
	})
	f.env.RegisterDelayedCallback(f.env.CancelWorkflow, 90*time.Second)

	run, c := f.run(t)
	var canceled *temporal.CanceledError
	require.ErrorAs(t, f.env.GetWorkflowError(), &canceled)
	require.Equal(t, api.RunStatusCancelled, run.Status)
	require.Equal(t, api.CandidateStatusNotStarted, c.Status)
	require.False(t, run.FinishedAt.IsZero())
	n := calls
	require.GreaterOrEqual(t, n, 5) // 1+2+4+8+16+32 s of back-off fit before the cancel
	require.Len(t, run.Steps, 1, "step two was never dispatched")
}

// TestPendingDuringBackoff: a dispatch that failed although the migrator got it, then the
// migrator's pending during the back-off: no further dispatch, and the run goes on normally.
func TestPendingDuringBackoff(t *testing.T) {
	f := newFixture(t, "one", "two")
	calls := map[string]int{}
	f.env.OnActivity(f.acts.Dispatch, mock.Anything, mock.Anything).Return(func(_ context.Context, in execution.DispatchInput) error {
		calls[in.Step.Name]++
		if in.Step.Name == "one" && calls["one"] == 1 {
			return temporal.NewApplicationError("dispatch did not answer in time", "DispatchFailed")
		}
		return nil
	})
	f.event(500*time.Millisecond, "one", api.StepEventStatusPending, map[string]string{"prUrl": "u"})
	f.event(time.Minute, "one", api.StepEventStatusMerged, nil)
	f.event(2*time.Minute, "two", api.StepEventStatusSucceeded, nil)

	run, c := f.run(t)
	require.NoError(t, f.env.GetWorkflowError())
	require.Equal(t, api.CandidateStatusCompleted, c.Status)
	require.Equal(t, 1, calls["one"], "no dispatch after the migrator reported pending")
	require.Equal(t, api.StepStatusMerged, run.Steps[0].Status)
	require.Equal(t, "u", run.Steps[0].Metadata["prUrl"])
}

// TestRunSummaryAttention: the workflow writes, with each step state, the attention the run
// needs, so the candidate's run summary says when an operator is needed and why.
func TestRunSummaryAttention(t *testing.T) {
	f := newFixture(t, "one", "review")
	f.in.Steps[1].Manual = true
	calls := 0
	f.env.OnActivity(f.acts.Dispatch, mock.Anything, mock.Anything).Return(func(_ context.Context, in execution.DispatchInput) error {
		calls++
		if in.Step.Name == "one" && calls <= 3 {
			return temporal.NewApplicationError("migrator at x answered 503: busy", "DispatchFailed")
		}
		return nil
	})
	seen := map[string]api.RunSummary{}
	look := func(d time.Duration, name string) {
		f.env.RegisterDelayedCallback(func() {
			c, err := f.store.GetCandidate(context.Background(), "m", "c")
			require.NoError(t, err)
			seen[name] = c.Run
		}, d)
	}
	// Attempts at 0 s, 1 s and 3 s fail; the fourth, at 7 s, is accepted.
	look(2*time.Second, "two failed dispatches")
	look(5*time.Second, "three failed dispatches")
	f.event(10*time.Second, "one", api.StepEventStatusSucceeded, nil)
	look(11*time.Second, "manual step dispatched")
	f.event(12*time.Second, "review", api.StepEventStatusPending, nil)
	look(13*time.Second, "manual step pending")
	f.event(14*time.Second, "review", api.StepEventStatusFailed, map[string]string{"error": "rejected by the reviewer"})
	look(15*time.Second, "manual step failed")
	f.signalAt(16*time.Second, migrations.SignalRetryStep, migrations.RetryRequest{StepName: "review"})
	look(17*time.Second, "manual step retried")
	f.event(18*time.Second, "review", api.StepEventStatusSucceeded, nil)

	_, c := f.run(t)
	require.NoError(t, f.env.GetWorkflowError())
	type want struct {
		step      string
		status    api.StepStatus
		attention api.Attention
	}
	for name, w := range map[string]want{
		"two failed dispatches":   {"one", api.StepStatusInProgress, ""},
		"three failed dispatches": {"one", api.StepStatusInProgress, api.AttentionRetrying},
		"manual step dispatched":  {"review", api.StepStatusInProgress, ""},
		"manual step pending":     {"review", api.StepStatusPending, api.AttentionWaiting},
		"manual step failed":      {"review", api.StepStatusFailed, api.AttentionFailed},
		"manual step retried":     {"review", api.StepStatusInProgress, ""},
	} {
		got := seen[name]
		require.Equal(t, api.RunStatusRunning, got.Status, name)
		require.Equal(t, w, want{got.StepName, got.StepStatus, got.Attention}, name)
	}
	require.Equal(t, api.RunStatusCompleted, c.Run.Status)
	require.Equal(t, "review", c.Run.StepName)
	require.Equal(t, api.StepStatusSucceeded, c.Run.StepStatus)
	require.Empty(t, c.Run.Attention)
	require.False(t, c.Run.FinishedAt.IsZero())
	require.False(t, c.Run.StartedAt.After(c.Run.FinishedAt))
}

// TestCancelledRunSummary: cancelling a run that needs attention returns the candidate to
// not_started, with a cancelled summary that needs nobody.
func TestCancelledRunSummary(t *testing.T) {
	f := newFixture(t, "one")
	f.env.OnActivity(f.acts.Dispatch, mock.Anything, mock.Anything).Return(nil)
	f.event(time.Second, "one", api.StepEventStatusFailed, nil)
	var before api.RunSummary
	f.env.RegisterDelayedCallback(func() {
		c, err := f.store.GetCandidate(context.Background(), "m", "c")
		require.NoError(t, err)
		before = c.Run
	}, 2*time.Second)
	f.env.RegisterDelayedCallback(f.env.CancelWorkflow, 3*time.Second)

	_, c := f.run(t)
	require.Equal(t, api.AttentionFailed, before.Attention)
	require.Equal(t, api.CandidateStatusNotStarted, c.Status)
	require.Equal(t, api.RunStatusCancelled, c.Run.Status)
	require.Equal(t, api.StepStatusFailed, c.Run.StepStatus)
	require.Empty(t, c.Run.Attention)
}

// TestDispatchGivesUpAfterTheBound: a migrator that stays down does not keep a run retrying
// for ever: after DispatchGiveUpAfter the step fails with the last error (a bounded history),
// and the operator's retry starts a new try that can succeed.
func TestDispatchGivesUpAfterTheBound(t *testing.T) {
	f := newFixture(t, "one")
	down := true
	calls := 0
	f.env.OnActivity(f.acts.Dispatch, mock.Anything, mock.Anything).Return(func(context.Context, execution.DispatchInput) error {
		calls++
		if down {
			return temporal.NewApplicationError("migrator at x is unreachable: connection refused", "DispatchFailed")
		}
		return nil
	})
	var failed api.StepState
	var callsWhenFailed int
	f.env.RegisterDelayedCallback(func() {
		run, _ := f.store.GetRun(context.Background(), "m", "c")
		failed, callsWhenFailed = run.Steps[0], calls
		down = false
	}, 3*time.Hour)
	f.signalAt(4*time.Hour, migrations.SignalRetryStep, migrations.RetryRequest{StepName: "one"})
	f.event(5*time.Hour, "one", api.StepEventStatusSucceeded, nil)

	run, c := f.run(t)
	require.NoError(t, f.env.GetWorkflowError())
	require.Equal(t, api.StepStatusFailed, failed.Status, "%+v", failed)
	require.Contains(t, failed.LastError, "gave up after")
	require.Contains(t, failed.LastError, "connection refused")
	// 1, 2, 4, 8, 16, 32 s, then a minute apart: about 65 attempts in the hour, none after.
	require.Less(t, callsWhenFailed, 80)
	require.Greater(t, callsWhenFailed, 50)
	require.Equal(t, callsWhenFailed+1, calls, "one dispatch for the operator's retry")
	require.Equal(t, api.CandidateStatusCompleted, c.Status)
	require.Equal(t, api.StepStatusSucceeded, run.Steps[0].Status)
}

// TestRunsStartedBeforeTheBoundKeepRetrying: a run whose history predates the version guard
// keeps the behaviour it started with (the replay tests check the command sequence itself).
func TestRunsStartedBeforeTheBoundKeepRetrying(t *testing.T) {
	f := newFixture(t, "one")
	f.env.OnGetVersion("bounded-dispatch-retries", workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	f.env.OnActivity(f.acts.Dispatch, mock.Anything, mock.Anything).Return(temporal.NewApplicationError("connection refused", "DispatchFailed"))
	var seen api.StepState
	f.env.RegisterDelayedCallback(func() {
		run, _ := f.store.GetRun(context.Background(), "m", "c")
		seen = run.Steps[0]
	}, 3*time.Hour)
	f.event(3*time.Hour+time.Second, "one", api.StepEventStatusSucceeded, nil)
	run, _ := f.run(t)
	require.NoError(t, f.env.GetWorkflowError())
	require.Equal(t, api.StepStatusInProgress, seen.Status, "%+v", seen)
	require.Greater(t, seen.Attempts, 150)
	require.Equal(t, api.StepStatusSucceeded, run.Steps[0].Status)
}
