package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/migrations/execution"
	"github.com/drover-dev/drover/internal/migrations/rollout"
	"github.com/drover-dev/drover/internal/testsupport"
	"github.com/drover-dev/drover/pkg/api"
)

// TestRolloutOnRealTemporal runs the rollout workflow on the embedded Temporal with the real
// worker, store and an HTTP migrator (the API that creates rollouts comes later, so the test
// starts the workflow itself): 20 candidates with maxConcurrent 3 never have more than 3 runs
// open, as the migrator sees it from the dispatches it receives and the callbacks it sends, and
// all complete.
func TestRolloutOnRealTemporal(t *testing.T) {
	const n, limit = 20, 3
	mig := testsupport.NewMigrator(t)
	r, a := startDrover(t, newStore(t, "sqlite"))
	mid := migrationID(t, "sqlite")
	ann := announcement(mid, mig.URL)
	ann.RequiredInputs = nil
	ann.Steps = ann.Steps[:1]
	ann.Candidates = nil
	var ids []string
	for i := range n {
		id := fmt.Sprintf("svc-%02d", i)
		ids = append(ids, id)
		ann.Candidates = append(ann.Candidates, api.CandidateInput{Id: id, Kind: "service"})
	}
	require.Equal(t, http.StatusOK, a.Do(t, http.MethodPost, "/registry/announce", ann).Status)

	// The migrator's side: a run is open from its dispatch until the migrator's callback.
	var mu sync.Mutex
	open, most := 0, 0
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
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

	in := migrations.RolloutInput{MigrationID: mid, RolloutID: "r1", Plan: rollout.Plan{MaxConcurrent: limit}, Candidates: ids, CreatedAt: time.Now(), Poll: 100 * time.Millisecond}
	run, err := r.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "rollout__" + mid + "__r1", TaskQueue: "tq-" + nonQueueChars.ReplaceAllString(t.Name(), "-")}, execution.RolloutWorkflowName, in)
	require.NoError(t, err)
	require.NoError(t, run.Get(ctx, nil))
	<-done
	require.LessOrEqual(t, most, limit, "never more than maxConcurrent open on the migrator's side")
	require.Equal(t, limit, most, "the rollout uses its slots")
	t.Logf("%d candidates through one rollout with maxConcurrent %d: at most %d open at the migrator", n, limit, most)
	for _, id := range ids {
		waitCandidate(t, a, mid, id, api.CandidateStatusCompleted)
	}
}
