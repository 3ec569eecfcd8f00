// Package concurrency checks the run guards under concurrent requests, under the race
// detector: two Drover servers (in this process, so -race sees them) share real Redis and a
// real Temporal server (a `drover dev` process, so this package does not link the server).
package concurrency

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/drover-dev/drover/internal/app"
	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/migrations/store"
	"github.com/drover-dev/drover/internal/testsupport"
	"github.com/drover-dev/drover/pkg/api"
)

const taskQueue = "concurrency-test" // not the dev process's own queue: only our servers' workers poll it

type cluster struct {
	apis     []*testsupport.API
	temporal client.Client
	mig      *testsupport.Migrator
}

// newCluster starts a `drover dev` process for its Temporal server, then n Drover servers
// sharing one store.
func newCluster(t *testing.T, n int, st migrations.MigrationStore) *cluster {
	t.Helper()
	dev := testsupport.StartDev(t, t.TempDir())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := &cluster{mig: testsupport.NewMigrator(t)}
	for range n {
		c, err := app.DialTemporal(ctx, dev.TemporalHostPort, "default", log)
		require.NoError(t, err)
		r, err := app.Start(app.Config{Addr: "127.0.0.1:0", TaskQueue: taskQueue, Logger: log, CancelWait: 20 * time.Second, Trust: app.LoopbackTrust()}, st, c,
			func() error { c.Close(); return nil })
		require.NoError(t, err)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = r.Stop(ctx)
		})
		cl.apis = append(cl.apis, testsupport.NewAPI(r.URL))
	}
	c, err := app.DialTemporal(ctx, dev.TemporalHostPort, "default", log)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	cl.temporal = c
	return cl
}

func redisStore(t *testing.T) migrations.MigrationStore {
	rc := redis.NewClient(&redis.Options{Addr: testsupport.Redis(t)})
	t.Cleanup(func() { _ = rc.Close() })
	return store.NewRedisStore(rc, "drover")
}

func sqliteStore(t *testing.T) migrations.MigrationStore {
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "drover.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func announce(t *testing.T, a *testsupport.API, mid, migratorURL string, candidates int, steps ...string) {
	t.Helper()
	ann := api.MigrationAnnouncement{Id: mid, Name: mid, Description: "concurrency", MigratorUrl: migratorURL}
	for _, s := range steps {
		ann.Steps = append(ann.Steps, api.StepDefinition{Name: s, MigratorApp: "race"})
	}
	for i := range candidates {
		ann.Candidates = append(ann.Candidates, api.CandidateInput{Id: fmt.Sprintf("c%d", i), Kind: "service"})
	}
	resp := a.Do(t, http.MethodPost, "/registry/announce", ann)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
}

// concurrently runs f(i) for i in [0, n) at once and returns the results.
func concurrently(n int, f func(i int) testsupport.Response) []testsupport.Response {
	out := make([]testsupport.Response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

func countStatus(rs []testsupport.Response) map[int]int {
	out := map[int]int{}
	for _, r := range rs {
		out[r.Status]++
	}
	return out
}

// TestFiftyConcurrentStarts: 50 concurrent starts of one candidate give one run, one 202 and
// 49 × 409, with one server and with the requests spread over two servers.
func TestFiftyConcurrentStarts(t *testing.T) {
	cases := []struct {
		name    string
		servers int
		store   func(*testing.T) migrations.MigrationStore
	}{
		{"one server, redis", 1, redisStore},
		{"one server, sqlite", 1, sqliteStore},
		{"two servers, shared redis", 2, redisStore},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := newCluster(t, tc.servers, tc.store(t))
			mid := fmt.Sprintf("starts-%d", i)
			announce(t, cl.apis[0], mid, cl.mig.URL, 1, "one", "two")
			results := concurrently(50, func(i int) testsupport.Response {
				a := cl.apis[i%len(cl.apis)]
				return a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/c0/start", nil)
			})
			require.Equal(t, map[int]int{http.StatusAccepted: 1, http.StatusConflict: 49}, countStatus(results))
			for _, r := range results {
				if r.Status == http.StatusConflict {
					require.Contains(t, r.Error(), "already running")
				}
			}
			require.Equal(t, "one", cl.mig.NextDispatch(t, 20*time.Second).StepName)
			cl.mig.NoDispatch(t, time.Second)
			require.Len(t, cl.mig.Dispatches(), 1)
		})
	}
}

// consistent waits until no request is in flight and checks that the candidate's stored status
// agrees with its run in Temporal.
func consistent(t *testing.T, cl *cluster, mid, cid string) (api.CandidateStatus, enumspb.WorkflowExecutionStatus) {
	t.Helper()
	var status api.CandidateStatus
	var wf enumspb.WorkflowExecutionStatus
	testsupport.Eventually(t, 20*time.Second, func() (bool, string) {
		resp := cl.apis[0].Do(t, http.MethodGet, "/migrations/"+mid+"/candidates", nil)
		var cs []api.Candidate
		resp.JSON(t, &cs)
		for _, c := range cs {
			if c.Id == cid {
				status = c.Status
			}
		}
		desc, err := cl.temporal.DescribeWorkflowExecution(context.Background(), migrations.RunID(mid, cid), "")
		if err != nil {
			return false, err.Error()
		}
		wf = desc.GetWorkflowExecutionInfo().GetStatus()
		ok := (status == api.CandidateStatusRunning && wf == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING) ||
			(status == api.CandidateStatusNotStarted && wf == enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED) ||
			(status == api.CandidateStatusCompleted && wf == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED)
		return ok, fmt.Sprintf("candidate %s is %s but its run is %s", cid, status, wf)
	})
	return status, wf
}

// TestCancelRacingStart: a start and a cancel sent together never leave a candidate whose
// status contradicts its run.
func TestCancelRacingStart(t *testing.T) {
	cl := newCluster(t, 2, redisStore(t))
	const n = 8
	announce(t, cl.apis[0], "cancel-start", cl.mig.URL, n, "one")
	for i := range n {
		cid := fmt.Sprintf("c%d", i)
		base := "/migrations/cancel-start/candidates/" + cid
		results := concurrently(2, func(j int) testsupport.Response {
			if j == 0 {
				return cl.apis[0].Do(t, http.MethodPost, base+"/start", nil)
			}
			time.Sleep(time.Duration(i) * 3 * time.Millisecond) // vary the interleaving
			return cl.apis[1].Do(t, http.MethodPost, base+"/cancel", nil)
		})
		require.Equal(t, http.StatusAccepted, results[0].Status, string(results[0].Body))
		require.Contains(t, []int{http.StatusNoContent, http.StatusConflict}, results[1].Status, string(results[1].Body))
		status, _ := consistent(t, cl, "cancel-start", cid)
		if results[1].Status == http.StatusNoContent {
			require.Equal(t, api.CandidateStatusNotStarted, status)
		}
	}
}

// TestCancelRacingCompletion: the last step's success and a cancel sent together end either
// as completed (cancel answers 409) or as cancelled (candidate back to not_started).
func TestCancelRacingCompletion(t *testing.T) {
	cl := newCluster(t, 2, sqliteStore(t))
	const n = 8
	announce(t, cl.apis[0], "cancel-done", cl.mig.URL, n, "only")
	outcomes := map[api.CandidateStatus]int{}
	for i := range n {
		cid := fmt.Sprintf("c%d", i)
		base := "/migrations/cancel-done/candidates/" + cid
		require.Equal(t, http.StatusAccepted, cl.apis[0].Do(t, http.MethodPost, base+"/start", nil).Status)
		d := cl.mig.NextDispatch(t, 20*time.Second)
		require.Equal(t, cid, d.Candidate.Id)
		testsupport.Eventually(t, 20*time.Second, func() (bool, string) {
			r := cl.apis[0].Do(t, http.MethodGet, base+"/steps", nil)
			return r.Status == http.StatusOK, fmt.Sprintf("steps answered %d", r.Status)
		})
		results := concurrently(2, func(j int) testsupport.Response {
			if j == 0 {
				return cl.apis[0].Do(t, http.MethodPost, "/event/"+d.CallbackId, api.StepStatusEvent{StepName: "only", CandidateId: cid, Status: api.StepEventStatusSucceeded})
			}
			time.Sleep(time.Duration(i) * 2 * time.Millisecond)
			return cl.apis[1].Do(t, http.MethodPost, base+"/cancel", nil)
		})
		status, _ := consistent(t, cl, "cancel-done", cid)
		outcomes[status]++
		switch results[1].Status {
		case http.StatusNoContent:
			require.Equal(t, api.CandidateStatusNotStarted, status)
		case http.StatusConflict:
			require.Equal(t, api.CandidateStatusCompleted, status, string(results[1].Body))
		default:
			t.Fatalf("cancel answered %d: %s", results[1].Status, results[1].Body)
		}
	}
	t.Logf("outcomes: %v", outcomes)
}
