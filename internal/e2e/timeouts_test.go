package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/app"
	"github.com/drover-dev/drover/internal/testsupport"
	"github.com/drover-dev/drover/pkg/api"
)

// finishRun reports every remaining step of svc-a's run succeeded, answering each dispatch with
// its own dispatch id, and waits for the candidate to complete.
func finishRun(t *testing.T, a *testsupport.API, mig *testsupport.Migrator, mid string, d api.DispatchStepRequest) {
	t.Helper()
	for {
		resp := a.Do(t, http.MethodPost, "/event/"+d.CallbackId, api.StepStatusEvent{StepName: d.StepName, CandidateId: "svc-a", Status: api.StepEventStatusSucceeded, DispatchId: d.DispatchId})
		require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
		if d.StepName == "cleanup" {
			break
		}
		d = mig.NextDispatch(t, waitFor)
	}
	waitCandidate(t, a, mid, "svc-a", api.CandidateStatusCompleted)
}

// TestSilentStepIsVisibleAndRetried: a migrator that accepts a dispatch and loses it (its
// callback never comes) leaves the step silent once the callback timeout passes: counted in the
// migration's attention, listed by the attention filter with the time it waits since. The
// operator's retry dispatches it again with a new dispatch id, and the run completes.
func TestSilentStepIsVisibleAndRetried(t *testing.T) {
	const timeout = 2 * time.Second
	mig := testsupport.NewMigrator(t)
	r, a := startDrover(t, newStore(t, "sqlite"), func(c *app.Config) { c.CallbackTimeout = timeout })
	mid := migrationID(t, "sqlite")
	require.Equal(t, http.StatusOK, a.Do(t, http.MethodPost, "/registry/announce", announcement(mid, mig.URL)).Status)

	started := time.Now()
	require.Equal(t, http.StatusAccepted, a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/start", nil).Status)
	lost := mig.NextDispatch(t, waitFor) // accepted, and its callback is lost
	var silentAfter time.Duration
	testsupport.Eventually(t, waitFor, func() (bool, string) {
		run := candidates(t, a, mid)["svc-a"].Run
		silentAfter = time.Since(started)
		return run.Attention == api.AttentionSilent, fmt.Sprintf("attention %q", run.Attention)
	})
	t.Logf("silent %s after the start, with a callback timeout of %s", silentAfter.Round(10*time.Millisecond), timeout)
	require.GreaterOrEqual(t, silentAfter, timeout)

	resp := a.Do(t, http.MethodGet, "/migrations/"+mid, nil)
	var m api.Migration
	resp.JSON(t, &m)
	require.Equal(t, 1, m.Counts.Attention, "the silent step counts as attention")
	resp = a.Do(t, http.MethodGet, "/migrations/"+mid+"/candidates?attention=true", nil)
	var needy []api.Candidate
	resp.JSON(t, &needy)
	require.Len(t, needy, 1)
	require.Equal(t, api.AttentionSilent, needy[0].Run.Attention)
	require.False(t, needy[0].Run.WaitingSince.IsZero())
	require.False(t, needy[0].Run.WaitingSince.Before(started.Add(-time.Second)))
	_, rs := steps(t, a, mid, "svc-a")
	require.Equal(t, api.StepStatusInProgress, rs.Steps[0].Status)
	require.False(t, rs.Steps[0].TimedOutAt.IsZero())

	resp = a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/retry-step", api.RetryStepRequest{StepName: "branch"})
	require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	again := mig.NextDispatch(t, waitFor)
	require.Equal(t, "branch", again.StepName)
	require.NotEqual(t, lost.DispatchId, again.DispatchId, "a retry is a new dispatch")
	// The lost callback, arriving late, belongs to the old dispatch and is refused.
	late := a.Do(t, http.MethodPost, "/event/"+lost.CallbackId, api.StepStatusEvent{StepName: "branch", CandidateId: "svc-a", Status: api.StepEventStatusSucceeded, DispatchId: lost.DispatchId})
	require.Equal(t, http.StatusConflict, late.Status, string(late.Body))
	finishRun(t, a, mig, mid, again)
	recordHistories(t, r.Client, lost.CallbackId, "silent-then-retried")
}

// TestMigratorDownLongerThanRetries: dispatching to a migrator that stays down stops after
// --dispatch-retry-for, failing the step with the last error; the operator's retry after the
// migrator recovers completes the run.
func TestMigratorDownLongerThanRetries(t *testing.T) {
	mig := testsupport.NewMigrator(t)
	r, a := startDrover(t, newStore(t, "sqlite"), func(c *app.Config) { c.DispatchRetryFor = 3 * time.Second })
	mid := migrationID(t, "sqlite")
	require.Equal(t, http.StatusOK, a.Do(t, http.MethodPost, "/registry/announce", announcement(mid, mig.URL)).Status)
	mig.FailNextDispatches(503, 503, 503, 503, 503, 503, 503, 503) // more than 3 s of back-off needs

	require.Equal(t, http.StatusAccepted, a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/start", nil).Status)
	st := waitStep(t, a, mid, "svc-a", "branch", api.StepStatusFailed)
	require.Contains(t, st.LastError, "gave up after")
	require.Contains(t, st.LastError, "503")
	require.Equal(t, api.AttentionFailed, candidates(t, a, mid)["svc-a"].Run.Attention)
	mig.NoDispatch(t, 2*time.Second) // no attempts after giving up

	mig.Recover()
	resp := a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/retry-step", api.RetryStepRequest{StepName: "branch"})
	require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	d := mig.NextDispatch(t, waitFor)
	require.True(t, strings.HasSuffix(d.DispatchId, "/2"), "the retry is try 2: %s", d.DispatchId)
	finishRun(t, a, mig, mid, d)
	recordHistories(t, r.Client, d.CallbackId, "gave-up-then-retried")
}

// startContinuingRun starts svc-a on a Drover whose runs continue as new at limit events, and
// returns its first dispatch and the id of the run's first execution.
func startContinuingRun(t *testing.T, kind string, limit int) (*app.Running, *testsupport.API, *testsupport.Migrator, string, api.DispatchStepRequest, string) {
	t.Helper()
	mig := testsupport.NewMigrator(t)
	r, a := startDrover(t, newStore(t, kind), func(c *app.Config) { c.ContinueAfter = limit })
	mid := migrationID(t, kind)
	require.Equal(t, http.StatusOK, a.Do(t, http.MethodPost, "/registry/announce", announcement(mid, mig.URL)).Status)
	require.Equal(t, http.StatusAccepted, a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/start", nil).Status)
	d := mig.NextDispatch(t, waitFor)
	return r, a, mig, mid, d, firstExecution(t, r.Client, d.CallbackId)
}

// TestLongRunContinuesAsNew: a run that takes many progress reports continues as new before its
// history reaches the limit, and goes on in the next execution where it was: each execution's
// history stays within the bound, the read model's execution (and so the dispatch ids) stays
// the same, and the run completes.
func TestLongRunContinuesAsNew(t *testing.T) {
	const limit, reports, burst = 100, 200, 10
	r, a, mig, mid, d, first := startContinuingRun(t, "redis", limit)

	// The migrator reports progress in bursts, as a busy one would; the run keeps up.
	progress := func(n int) string { return fmt.Sprintf("%d/%d", n, reports) }
	for i := 1; i <= reports; i++ {
		resp := a.Do(t, http.MethodPost, "/event/"+d.CallbackId, api.StepStatusEvent{StepName: "branch", CandidateId: "svc-a",
			Status: api.StepEventStatusPending, DispatchId: d.DispatchId, Metadata: map[string]string{"progress": progress(i)}})
		require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
		if i%burst == 0 {
			testsupport.Eventually(t, waitFor, func() (bool, string) {
				_, rs := steps(t, a, mid, "svc-a")
				got := rs.Steps[0].Metadata["progress"]
				return got == progress(i), "progress " + got
			})
		}
	}
	mig.NoDispatch(t, 500*time.Millisecond) // continuing does not dispatch the step again
	finishRun(t, a, mig, mid, d)

	hs := executions(t, r.Client, d.CallbackId, first)
	require.GreaterOrEqual(t, len(hs), 2, "the run continued as new")
	longest := 0
	for _, h := range hs {
		longest = max(longest, len(h.Events))
	}
	t.Logf("%d progress reports: %d executions, the longest history %d events (limit %d)", reports, len(hs), longest, limit)
	// The bound: the limit, the signals of one burst arriving during a workflow task, and the
	// few events of the task that continues.
	require.LessOrEqual(t, longest, limit+burst+12, "an execution's history stays within the bound")
	_, rs := steps(t, a, mid, "svc-a")
	for _, s := range rs.Steps {
		require.True(t, strings.HasPrefix(s.DispatchId, first+"/"), "dispatch ids keep the first execution: %s", s.DispatchId)
	}
	recordHistories(t, r.Client, d.CallbackId, "continued-as-new")
}

// TestCancelAfterContinuing: a run that has continued as new is cancelled like any other: cancel
// reaches its current execution (204, candidate back to not_started), and the cancel notice
// names every step the run had started, those finished before the continuation too.
func TestCancelAfterContinuing(t *testing.T) {
	r, a, mig, mid, d, first := startContinuingRun(t, "sqlite", 60)
	require.Equal(t, http.StatusAccepted, a.Do(t, http.MethodPost, "/event/"+d.CallbackId, api.StepStatusEvent{StepName: "branch", CandidateId: "svc-a", Status: api.StepEventStatusSucceeded, DispatchId: d.DispatchId}).Status)
	pr := mig.NextDispatch(t, waitFor)
	for i := 1; len(executions(t, r.Client, d.CallbackId, first)) < 2; i++ {
		require.Less(t, i, 200, "the run did not continue as new")
		resp := a.Do(t, http.MethodPost, "/event/"+d.CallbackId, api.StepStatusEvent{StepName: "pr", CandidateId: "svc-a",
			Status: api.StepEventStatusPending, DispatchId: pr.DispatchId, Metadata: map[string]string{"progress": fmt.Sprint(i)}})
		require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	}

	resp := a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/cancel", nil)
	require.Equal(t, http.StatusNoContent, resp.Status, string(resp.Body))
	require.Equal(t, api.CandidateStatusNotStarted, candidates(t, a, mid)["svc-a"].Status)
	testsupport.Eventually(t, waitFor, func() (bool, string) {
		_, rs := steps(t, a, mid, "svc-a")
		return rs.Cancellation.Status == api.RunCancellationStatusNotSupported, fmt.Sprintf("cancellation %+v", rs.Cancellation)
	})
	notices := mig.CancelRuns()
	require.Len(t, notices, 1)
	require.Equal(t, []string{"branch", "pr"}, []string{notices[0].Steps[0].StepName, notices[0].Steps[1].StepName})
	require.Equal(t, api.StepStatusSucceeded, notices[0].Steps[0].Status, "the step finished before continuing is named")
	require.Equal(t, pr.DispatchId, notices[0].Steps[1].DispatchId)
}
