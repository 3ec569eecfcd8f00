package e2e

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/app"
	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/testsupport"
	"github.com/drover-dev/drover/pkg/api"
)

// rolloutMigration announces migration mid with n one-step candidates (svc-00 …) and no
// required inputs, and returns their ids.
func rolloutMigration(t *testing.T, a *testsupport.API, mid, migratorURL string, n int) []string {
	t.Helper()
	ann := announcement(mid, migratorURL)
	ann.RequiredInputs = nil
	ann.Steps = ann.Steps[:1]
	ann.Phases = []api.OverviewPhase{{Name: "Change", Steps: []string{"branch"}}}
	ann.Candidates = nil
	var ids []string
	for i := range n {
		id := fmt.Sprintf("svc-%02d", i)
		ids = append(ids, id)
		ann.Candidates = append(ann.Candidates, api.CandidateInput{Id: id, Kind: "service"})
	}
	resp := a.Do(t, http.MethodPost, "/registry/announce", ann)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	return ids
}

// answerStep calls back for dispatch d with status, the reason "CI is red" going with it.
func answerStep(t *testing.T, a *testsupport.API, d api.DispatchStepRequest, status api.StepEventStatus) {
	t.Helper()
	resp := a.Do(t, http.MethodPost, "/event/"+d.CallbackId, api.StepStatusEvent{StepName: d.StepName, CandidateId: d.Candidate.Id, Status: status,
		DispatchId: d.DispatchId, Metadata: map[string]string{"error": "CI is red"}})
	require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
}

func createRollout(t *testing.T, a *testsupport.API, mid string, req api.RolloutRequest) api.Rollout {
	t.Helper()
	resp := a.Do(t, http.MethodPost, "/migrations/"+mid+"/rollouts", req)
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	var ro api.Rollout
	resp.JSON(t, &ro)
	return ro
}

func getRollout(t *testing.T, a *testsupport.API, mid, id string) api.Rollout {
	t.Helper()
	resp := a.Do(t, http.MethodGet, "/migrations/"+mid+"/rollouts/"+id, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	var ro api.Rollout
	resp.JSON(t, &ro)
	return ro
}

// waitRollout waits until the rollout's read model satisfies ok, and returns it.
func waitRollout(t *testing.T, a *testsupport.API, mid, id string, timeout time.Duration, ok func(api.Rollout) bool) api.Rollout {
	t.Helper()
	var ro api.Rollout
	testsupport.Eventually(t, timeout, func() (bool, string) {
		ro = getRollout(t, a, mid, id)
		return ok(ro), fmt.Sprintf("rollout %s is %s (%s): %d started, %d running, %d completed, %d failed", id, ro.Status, ro.PausedReason, ro.Started, ro.Running, ro.Completed, ro.Failed)
	})
	return ro
}

func fastRollouts(c *app.Config) { c.RolloutPoll = 100 * time.Millisecond }

// TestRolloutOnRealTemporal creates a rollout through the API on the embedded Temporal with the
// real worker, store and an HTTP migrator: 20 candidates with maxConcurrent 3 never have more
// than 3 runs open, as the migrator sees it from the dispatches it receives and the callbacks it
// sends, and all complete.
func TestRolloutOnRealTemporal(t *testing.T) {
	const n, limit = 20, 3
	mig := testsupport.NewMigrator(t)
	// A short history limit: the rollout continues as new a few times on its way.
	r, a := startDrover(t, newStore(t, "sqlite"), fastRollouts, func(c *app.Config) { c.ContinueAfter = 60 })
	mid := migrationID(t, "sqlite")
	ids := rolloutMigration(t, a, mid, mig.URL, n)

	// The migrator's side: a run is open from its dispatch until the migrator's callback.
	var mu sync.Mutex
	open, most := 0, 0
	done := make(chan struct{})
	var work sync.WaitGroup
	go func() {
		defer close(done)
		for range n {
			d := mig.NextDispatch(t, time.Minute)
			mu.Lock()
			open++
			most = max(most, open)
			mu.Unlock()
			work.Add(1)
			go func() { // each run takes the migrator a while, all of them at once
				defer work.Done()
				time.Sleep(300 * time.Millisecond)
				mu.Lock()
				open--
				mu.Unlock()
				resp := a.Do(t, http.MethodPost, "/event/"+d.CallbackId, api.StepStatusEvent{StepName: d.StepName, CandidateId: d.Candidate.Id, Status: api.StepEventStatusSucceeded, DispatchId: d.DispatchId})
				require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
			}()
		}
		work.Wait()
	}()

	ro := createRollout(t, a, mid, api.RolloutRequest{MaxConcurrent: limit})
	require.Equal(t, n, ro.Total, "every not_started candidate")
	ro = waitRollout(t, a, mid, ro.Id, 2*time.Minute, func(ro api.Rollout) bool { return ro.Status == api.RolloutStatusCompleted })
	<-done
	require.LessOrEqual(t, most, limit, "never more than maxConcurrent open on the migrator's side")
	require.Equal(t, limit, most, "the rollout uses its slots")
	require.Equal(t, n, ro.Completed)
	t.Logf("%d candidates through one rollout with maxConcurrent %d: at most %d open at the migrator", n, limit, most)
	for _, id := range ids {
		waitCandidate(t, a, mid, id, api.CandidateStatusCompleted)
	}
	recordHistories(t, r.Client, migrations.RolloutWorkflowID(mid, ro.Id), "rollout-completed")
}

// TestRolloutPausesOnFailuresAndResumes: a failing migrator pauses the rollout after
// pauseAfterFailures; once it has recovered, retry-failed and resume finish the rollout.
func TestRolloutPausesOnFailuresAndResumes(t *testing.T) {
	mig := testsupport.NewMigrator(t)
	r, a := startDrover(t, newStore(t, "sqlite"), fastRollouts)
	mid := migrationID(t, "sqlite")
	rolloutMigration(t, a, mid, mig.URL, 6)
	answer := func(d api.DispatchStepRequest, status api.StepEventStatus, md map[string]string) {
		t.Helper()
		resp := a.Do(t, http.MethodPost, "/event/"+d.CallbackId, api.StepStatusEvent{StepName: d.StepName, CandidateId: d.Candidate.Id, Status: status, DispatchId: d.DispatchId, Metadata: md})
		require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	}

	// A failed run keeps its slot, so that exactly the first two runs start before the pause.
	ro := createRollout(t, a, mid, api.RolloutRequest{MaxConcurrent: 2, FailedHoldsSlot: true, PauseAfterFailures: 2})
	failed := map[string]bool{}
	for range 2 {
		d := mig.NextDispatch(t, waitFor)
		failed[d.Candidate.Id] = true
		answer(d, api.StepEventStatusFailed, map[string]string{"error": "the code host is down"})
	}
	ro = waitRollout(t, a, mid, ro.Id, waitFor, func(ro api.Rollout) bool { return ro.Status == api.RolloutStatusPaused })
	require.Equal(t, "2 runs failed (pauseAfterFailures 2)", ro.PausedReason)
	require.Equal(t, 2, ro.Failed)
	require.Equal(t, api.RolloutWaitResume, ro.WaitingFor)
	mig.NoDispatch(t, time.Second) // paused: nothing more starts

	// The migrator recovers: one action retries both failed steps; the rollout stays paused.
	resp := a.Do(t, http.MethodPost, "/migrations/"+mid+"/rollouts/"+ro.Id+"/retry-failed", nil)
	require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	var res api.RetryFailedResult
	resp.JSON(t, &res)
	require.Equal(t, 2, res.Retried, "%+v", res)
	for range 2 {
		d := mig.NextDispatch(t, waitFor)
		require.True(t, failed[d.Candidate.Id], "only the failed runs are dispatched again, not %s", d.Candidate.Id)
		answer(d, api.StepEventStatusSucceeded, nil)
	}
	ro = waitRollout(t, a, mid, ro.Id, waitFor, func(ro api.Rollout) bool { return ro.Completed == 2 })
	require.Equal(t, api.RolloutStatusPaused, ro.Status, "a retry does not resume the rollout")
	mig.NoDispatch(t, 500*time.Millisecond)

	resp = a.Do(t, http.MethodPost, "/migrations/"+mid+"/rollouts/"+ro.Id+"/resume", nil)
	require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	for range 4 {
		d := mig.NextDispatch(t, waitFor)
		require.False(t, failed[d.Candidate.Id])
		answer(d, api.StepEventStatusSucceeded, nil)
	}
	ro = waitRollout(t, a, mid, ro.Id, waitFor, func(ro api.Rollout) bool { return ro.Status == api.RolloutStatusCompleted })
	require.Equal(t, 6, ro.Completed)
	require.Equal(t, 0, ro.Failed)
	require.Empty(t, ro.PausedReason)
	recordHistories(t, r.Client, migrations.RolloutWorkflowID(mid, ro.Id), "rollout-paused-then-resumed")

	resp = a.Do(t, http.MethodPost, "/migrations/"+mid+"/rollouts/"+ro.Id+"/pause", nil)
	require.Equal(t, http.StatusConflict, resp.Status, "a completed rollout takes no commands: %s", resp.Body)
}

// TestRolloutCancelWithItsRuns: cancel with cancelRuns stops the rollout and cancels its open
// runs; the candidates it had not started stay not_started.
func TestRolloutCancelWithItsRuns(t *testing.T) {
	mig := testsupport.NewMigrator(t)
	r, a := startDrover(t, newStore(t, "sqlite"), fastRollouts)
	mid := migrationID(t, "sqlite")
	rolloutMigration(t, a, mid, mig.URL, 4)
	ro := createRollout(t, a, mid, api.RolloutRequest{MaxConcurrent: 1})
	d := mig.NextDispatch(t, waitFor)
	waitCandidate(t, a, mid, d.Candidate.Id, api.CandidateStatusRunning)

	resp := a.Do(t, http.MethodPost, "/migrations/"+mid+"/rollouts/"+ro.Id+"/cancel", api.CancelRolloutRequest{CancelRuns: true})
	require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	ro = waitRollout(t, a, mid, ro.Id, waitFor, func(ro api.Rollout) bool { return ro.Status == api.RolloutStatusCancelled })
	waitCandidate(t, a, mid, d.Candidate.Id, api.CandidateStatusNotStarted)
	require.Equal(t, 4, ro.Cancelled, "its run was cancelled, and the three it had not started will not be: %+v", ro)
	mig.NoDispatch(t, 500*time.Millisecond)
	for id, c := range candidates(t, a, mid) {
		require.Equal(t, api.CandidateStatusNotStarted, c.Status, id)
	}
	recordHistories(t, r.Client, migrations.RolloutWorkflowID(mid, ro.Id), "rollout-cancelled-with-runs")
}

// TestRolloutSurvivesDevRestart kills `drover dev` mid-rollout and starts it again on the same
// data directory: the rollout goes on, every candidate runs exactly once, and all complete.
func TestRolloutSurvivesDevRestart(t *testing.T) {
	const n = 6
	dataDir := t.TempDir()
	mig := testsupport.NewMigrator(t)
	mid := "rollout-restart"
	p := testsupport.StartDev(t, dataDir)
	a := testsupport.NewAPI(p.URL)
	rolloutMigration(t, a, mid, mig.URL, n)
	ro := createRollout(t, a, mid, api.RolloutRequest{MaxConcurrent: 2})

	dispatches := map[string]map[string]bool{} // candidate → its dispatch ids
	seen := func(d api.DispatchStepRequest) {
		if dispatches[d.Candidate.Id] == nil {
			dispatches[d.Candidate.Id] = map[string]bool{}
		}
		dispatches[d.Candidate.Id][d.DispatchId] = true
	}
	answer := func(d api.DispatchStepRequest) {
		t.Helper()
		resp := a.Do(t, http.MethodPost, "/event/"+d.CallbackId, api.StepStatusEvent{StepName: d.StepName, CandidateId: d.Candidate.Id, Status: api.StepEventStatusSucceeded, DispatchId: d.DispatchId})
		require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	}
	first, second := mig.NextDispatch(t, waitFor), mig.NextDispatch(t, waitFor)
	seen(first)
	seen(second)
	answer(first)
	waitCandidate(t, a, mid, first.Candidate.Id, api.CandidateStatusCompleted)

	p.Kill() // one run open, one completed, the rest waiting

	p = testsupport.StartDev(t, dataDir)
	a = testsupport.NewAPI(p.URL)
	answer(second) // its run's callback is still good
	for len(dispatches) < n {
		d := mig.NextDispatch(t, time.Minute)
		if dispatches[d.Candidate.Id][d.DispatchId] {
			continue // the same dispatch delivered again (an activity cut short by the kill)
		}
		seen(d)
		answer(d)
	}
	ro = waitRollout(t, a, mid, ro.Id, time.Minute, func(ro api.Rollout) bool { return ro.Status == api.RolloutStatusCompleted })
	require.Equal(t, n, ro.Completed)
	require.Equal(t, n, ro.Started)
	require.Zero(t, ro.Skipped)
	for id, ds := range dispatches {
		require.Len(t, ds, 1, "candidate %s was dispatched more than once: %v", id, ds)
	}
	for id, c := range candidates(t, a, mid) {
		require.Equal(t, api.CandidateStatusCompleted, c.Status, id)
	}
}
