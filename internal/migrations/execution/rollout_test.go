package execution_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/migrations/execution"
	"github.com/drover-dev/drover/internal/migrations/rollout"
	"github.com/drover-dev/drover/pkg/api"
)

// fleet is a fake of the rollout's ports: candidates whose runs take runFor from their start,
// and fail when the test says so. It records what the rollout did and what it saw.
type fleet struct {
	mu        sync.Mutex
	now       func() time.Time
	runFor    time.Duration
	order     []string
	started   map[string]time.Time
	status    map[string]api.CandidateStatus
	failing   map[string]bool
	cancelled []string
	snaps     []api.Rollout
	maxOpen   int // the most runs open at once, as seen when the rollout starts one
}

func newFleet(env *testsuite.TestWorkflowEnvironment, n int, runFor time.Duration) *fleet {
	f := &fleet{now: env.Now, runFor: runFor, started: map[string]time.Time{}, status: map[string]api.CandidateStatus{}, failing: map[string]bool{}}
	for i := range n {
		id := fmt.Sprintf("c%02d", i)
		f.order = append(f.order, id)
		f.status[id] = api.CandidateStatusNotStarted
	}
	return f
}

// settle ends the runs whose time has come (callers hold mu).
func (f *fleet) settle() {
	for id, at := range f.started {
		if f.status[id] == api.CandidateStatusRunning && !f.failing[id] && !f.now().Before(at.Add(f.runFor)) {
			f.status[id] = api.CandidateStatusCompleted
		}
	}
}

func (f *fleet) Start(_ context.Context, _, id string, _ map[string]string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settle()
	if f.status[id] != api.CandidateStatusNotStarted {
		return "", migrations.Conflict(migrations.ErrCandidateRunning, "candidate %s is already running", id)
	}
	f.status[id], f.started[id] = api.CandidateStatusRunning, f.now()
	open := 0
	for _, s := range f.status {
		if s == api.CandidateStatusRunning {
			open++
		}
	}
	f.maxOpen = max(f.maxOpen, open)
	return "m__" + id, nil
}

func (f *fleet) Cancel(_ context.Context, _, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status[id] = api.CandidateStatusNotStarted
	f.cancelled = append(f.cancelled, id)
	return true, nil
}

func (f *fleet) ListCandidates(context.Context, string) ([]api.Candidate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settle()
	out := make([]api.Candidate, 0, len(f.order))
	for _, id := range f.order {
		c := api.Candidate{Id: id, Status: f.status[id]}
		if f.failing[id] && c.Status == api.CandidateStatusRunning {
			c.Run.Attention = api.AttentionFailed
		}
		out = append(out, c)
	}
	return out, nil
}

func (f *fleet) PutRollout(_ context.Context, s api.Rollout) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snaps = append(f.snaps, s)
	return nil
}

func (f *fleet) set(id string, st api.CandidateStatus, failing bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status[id], f.failing[id] = st, failing
	if st == api.CandidateStatusRunning {
		f.started[id] = f.now()
	}
}

func (f *fleet) startTimes() map[string]time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]time.Time{}
	for k, v := range f.started {
		out[k] = v
	}
	return out
}

func (f *fleet) last() api.Rollout {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snaps[len(f.snaps)-1]
}

func rolloutEnv(t *testing.T, n int, runFor time.Duration, start time.Time) (*testsuite.TestWorkflowEnvironment, *fleet) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	if !start.IsZero() {
		env.SetStartTime(start)
	}
	f := newFleet(env, n, runFor)
	execution.RegisterRollouts(env, execution.NewRolloutActivities(f))
	return env, f
}

func rolloutInput(f *fleet, p rollout.Plan) migrations.RolloutInput {
	return migrations.RolloutInput{MigrationID: "m", RolloutID: "r1", Plan: p, Candidates: f.order}
}

// TestRolloutKeepsConcurrencyAndCompletes: 20 candidates with maxConcurrent 3 never have more
// than 3 runs open, and all complete.
func TestRolloutKeepsConcurrencyAndCompletes(t *testing.T) {
	env, f := rolloutEnv(t, 20, 3*time.Minute, time.Time{})
	env.ExecuteWorkflow(execution.RolloutWorkflowName, rolloutInput(f, rollout.Plan{MaxConcurrent: 3}))
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, 3, f.maxOpen)
	require.Len(t, f.startTimes(), 20)
	last := f.last()
	require.Equal(t, api.RolloutStatusCompleted, last.Status)
	require.Equal(t, 20, last.Completed)
	require.Equal(t, 20, last.Total)
	require.Equal(t, 3, last.MaxConcurrent, "the view carries the plan")
}

// TestRolloutWavesAndRate: a canary of 1, then 2, then the rest, at most 2 starts a minute; each
// wave waits for the one before to complete.
func TestRolloutWavesAndRate(t *testing.T) {
	env, f := rolloutEnv(t, 6, 10*time.Minute, time.Time{})
	env.ExecuteWorkflow(execution.RolloutWorkflowName, rolloutInput(f, rollout.Plan{Waves: []int{1, 2}, StartsPerMinute: 2}))
	require.NoError(t, env.GetWorkflowError())
	at := f.startTimes()
	done := func(id string) time.Time { return at[id].Add(10 * time.Minute) }
	require.False(t, at["c01"].Before(done("c00")), "wave 2 starts after the canary completed")
	require.GreaterOrEqual(t, at["c02"].Sub(at["c01"]), 30*time.Second, "2 starts a minute")
	for _, id := range []string{"c03", "c04", "c05"} {
		require.False(t, at[id].Before(done("c01")) || at[id].Before(done("c02")), "%s started before wave 2 completed", id)
	}
	require.GreaterOrEqual(t, at["c05"].Sub(at["c03"]), time.Minute)
}

// TestRolloutWaitsForTheWindow: started on a Tuesday evening with a weekday 09:00–17:00 window
// in Berlin, the rollout starts nothing until Wednesday 09:00 and says it waits for the window.
func TestRolloutWaitsForTheWindow(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	start := time.Date(2026, 12, 1, 18, 0, 0, 0, berlin)
	env, f := rolloutEnv(t, 2, time.Minute, start)
	var waiting api.Rollout
	env.RegisterDelayedCallback(func() { waiting = f.last() }, time.Hour)
	env.ExecuteWorkflow(execution.RolloutWorkflowName, rolloutInput(f, rollout.Plan{
		Window: &rollout.Window{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "09:00", End: "17:00", TimeZone: "Europe/Berlin"},
	}))
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, api.RolloutStatusWaitingForWindow, waiting.Status)
	require.Equal(t, api.RolloutWaitWindow, waiting.WaitingFor)
	require.Equal(t, "Europe/Berlin", waiting.Window.TimeZone)
	require.True(t, waiting.Until.Equal(time.Date(2026, 12, 2, 9, 0, 0, 0, berlin)), "until %s", waiting.Until)
	require.True(t, f.startTimes()["c00"].Equal(time.Date(2026, 12, 2, 9, 0, 0, 0, berlin)), "started %s", f.startTimes()["c00"])
}

// TestRolloutPausesOnFailuresAndResumes: a failing migrator pauses the rollout after
// pauseAfterFailures; once the runs are fixed and an operator resumes it, it carries on.
func TestRolloutPausesOnFailuresAndResumes(t *testing.T) {
	env, f := rolloutEnv(t, 6, 5*time.Minute, time.Time{})
	f.failing["c00"], f.failing["c01"] = true, true
	var paused api.Rollout
	env.RegisterDelayedCallback(func() { paused = f.last() }, 30*time.Minute)
	env.RegisterDelayedCallback(func() {
		f.set("c00", api.CandidateStatusCompleted, false) // retried, and fixed
		f.set("c01", api.CandidateStatusCompleted, false)
		env.SignalWorkflow(migrations.SignalRolloutControl, migrations.RolloutControl{Action: migrations.ActionResume})
	}, time.Hour)
	env.ExecuteWorkflow(execution.RolloutWorkflowName, rolloutInput(f, rollout.Plan{MaxConcurrent: 2, PauseAfterFailures: 2}))
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, api.RolloutStatusPaused, paused.Status)
	require.Contains(t, paused.PausedReason, "2 runs failed")
	require.Equal(t, 2, paused.Failed)
	require.Len(t, f.startTimes(), 6)
	at := f.startTimes()
	for _, id := range []string{"c02", "c03", "c04", "c05"} {
		require.GreaterOrEqual(t, at[id].Sub(at["c00"]), time.Hour, "%s started while paused", id)
	}
	require.Equal(t, api.RolloutStatusCompleted, f.last().Status)
}

// TestRolloutSkipsAndCancels: a candidate started by hand is skipped, not started twice; an
// operator's cancel with cancelRuns cancels the open runs and starts nothing more.
func TestRolloutSkipsAndCancels(t *testing.T) {
	env, f := rolloutEnv(t, 5, time.Hour, time.Time{})
	f.status["c01"] = api.CandidateStatusRunning // started by hand before the rollout got to it
	f.started["c01"] = env.Now()
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(migrations.SignalRolloutControl, migrations.RolloutControl{Action: migrations.ActionCancel, CancelRuns: true})
	}, 10*time.Minute)
	env.ExecuteWorkflow(execution.RolloutWorkflowName, rolloutInput(f, rollout.Plan{MaxConcurrent: 2}))
	require.NoError(t, env.GetWorkflowError())
	last := f.last()
	require.Equal(t, api.RolloutStatusCancelled, last.Status)
	require.Equal(t, 1, last.Skipped, "%+v", last.Members)
	require.Equal(t, api.RolloutMemberStatusSkipped, last.Members[1].Status)
	require.ElementsMatch(t, []string{"c00", "c02"}, f.cancelled, "the rollout's own open runs, not the one started by hand")
	require.NotContains(t, f.startTimes(), "c03")
}

// TestRolloutWindowAcrossDaylightSaving: a nightly 02:30–04:00 Berlin window on the night the
// clocks skip 02:00–03:00 opens at 03:30 summer time (01:30 UTC), and the rollout starts then.
func TestRolloutWindowAcrossDaylightSaving(t *testing.T) {
	start := time.Date(2026, 3, 28, 23, 0, 0, 0, time.UTC)
	env, f := rolloutEnv(t, 1, time.Minute, start)
	env.ExecuteWorkflow(execution.RolloutWorkflowName, rolloutInput(f, rollout.Plan{
		Window: &rollout.Window{Start: "02:30", End: "04:00", TimeZone: "Europe/Berlin"},
	}))
	require.NoError(t, env.GetWorkflowError())
	got := f.startTimes()["c00"]
	require.True(t, got.Equal(time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)), "started %s", got.UTC())
}

// TestMemberStatus: a run the rollout has just started is not taken for cancelled while its
// candidate does not show it yet (its workflow records its start a moment later), which would
// free its slot at once and let the rollout start more than maxConcurrent.
func TestMemberStatus(t *testing.T) {
	started := time.Unix(1000, 0)
	running := rollout.Member{ID: "a", Status: rollout.Running, Started: started}
	waiting := rollout.Member{ID: "a", Status: rollout.Waiting}
	cand := func(st api.CandidateStatus, run api.RunSummary) api.Candidate {
		return api.Candidate{Id: "a", Status: st, Run: run}
	}
	for name, tc := range map[string]struct {
		m    rollout.Member
		c    api.Candidate
		want rollout.Status
	}{
		"just started, not shown yet":      {running, cand(api.CandidateStatusNotStarted, api.RunSummary{}), rollout.Running},
		"an earlier run was cancelled":     {running, cand(api.CandidateStatusNotStarted, api.RunSummary{Status: api.RunStatusCancelled, StartedAt: started.Add(-time.Hour)}), rollout.Running},
		"its run was cancelled":            {running, cand(api.CandidateStatusNotStarted, api.RunSummary{Status: api.RunStatusCancelled, StartedAt: started.Add(time.Second)}), rollout.Cancelled},
		"running":                          {running, cand(api.CandidateStatusRunning, api.RunSummary{Status: api.RunStatusRunning}), rollout.Running},
		"failed step":                      {running, cand(api.CandidateStatusRunning, api.RunSummary{Status: api.RunStatusRunning, Attention: api.AttentionFailed}), rollout.Failed},
		"silent step is still running":     {running, cand(api.CandidateStatusRunning, api.RunSummary{Status: api.RunStatusRunning, Attention: api.AttentionSilent}), rollout.Running},
		"completed":                        {running, cand(api.CandidateStatusCompleted, api.RunSummary{Status: api.RunStatusCompleted}), rollout.Completed},
		"waiting, started by someone else": {waiting, cand(api.CandidateStatusRunning, api.RunSummary{Status: api.RunStatusRunning}), rollout.Skipped},
		"waiting, still not started":       {waiting, cand(api.CandidateStatusNotStarted, api.RunSummary{}), rollout.Waiting},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, execution.MemberStatus(tc.m, tc.c))
		})
	}
}

// TestRolloutWaitsForApproval: with approveWaves, the wave after the canary waits for an
// operator's approval however long it takes, and starts once it comes.
func TestRolloutWaitsForApproval(t *testing.T) {
	env, f := rolloutEnv(t, 4, 10*time.Minute, time.Time{})
	var waiting api.Rollout
	env.RegisterDelayedCallback(func() { waiting = f.last() }, 3*time.Hour)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(migrations.SignalRolloutControl, migrations.RolloutControl{Action: migrations.ActionApprove})
	}, 4*time.Hour)
	start := env.Now()
	env.ExecuteWorkflow(execution.RolloutWorkflowName, rolloutInput(f, rollout.Plan{Waves: []int{1}, ApproveWaves: true}))
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, api.RolloutStatusWaitingForApproval, waiting.Status)
	require.Equal(t, api.RolloutWaitApproval, waiting.WaitingFor)
	require.Equal(t, 1, waiting.Completed, "the canary completed")
	require.Equal(t, 1, waiting.Wave, "it waits to start the second wave")
	at := f.startTimes()
	for _, id := range []string{"c01", "c02", "c03"} {
		require.GreaterOrEqual(t, at[id].Sub(start), 4*time.Hour, "%s started before the approval", id)
	}
	require.Equal(t, api.RolloutStatusCompleted, f.last().Status)
	require.Equal(t, 4, f.last().Completed)
}

// TestStartRunsSkipsACandidateStartedMeanwhile: a candidate an operator starts between the
// rollout's look at its candidates and its start of them is skipped, not started twice (the
// engine refuses the second start, and the activity takes that for "skipped").
func TestStartRunsSkipsACandidateStartedMeanwhile(t *testing.T) {
	f := &fleet{now: time.Now, runFor: time.Hour, order: []string{"c00", "c01"}, started: map[string]time.Time{},
		status: map[string]api.CandidateStatus{"c00": api.CandidateStatusNotStarted, "c01": api.CandidateStatusNotStarted}, failing: map[string]bool{}}
	acts := execution.NewRolloutActivities(f)
	members := rollout.Assign(rollout.Plan{}, f.order)
	seen, err := acts.RolloutStatuses(context.Background(), "m", members)
	require.NoError(t, err)
	require.Equal(t, map[string]rollout.Status{"c00": rollout.Waiting, "c01": rollout.Waiting}, seen)
	f.set("c00", api.CandidateStatusRunning, false) // the operator's start, at the worst moment
	got, err := acts.StartRuns(context.Background(), "m", f.order, nil)
	require.NoError(t, err)
	require.Equal(t, map[string]rollout.Status{"c00": rollout.Skipped, "c01": rollout.Running}, got)
}
