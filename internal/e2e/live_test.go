package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/testsupport"
	"github.com/drover-dev/drover/pkg/api"
)

// awaitLive reads s until an event satisfies want and returns it (and the last id read).
func awaitLive(t *testing.T, s *testsupport.Stream, want func(api.LiveEvent) bool) api.LiveEvent {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	var seen []string
	for {
		raw := s.NextEvent(t, time.Until(deadline))
		var ev api.LiveEvent
		require.NoError(t, json.Unmarshal([]byte(raw.Data), &ev), raw.Data)
		require.Equal(t, raw.ID, string(ev.Id))
		if want(ev) {
			return ev
		}
		seen = append(seen, string(ev.Kind)+" "+ev.CandidateId+" "+ev.StepName+" "+string(ev.StepStatus))
		require.True(t, time.Now().Before(deadline), "no such event; saw %v", seen)
	}
}

// TestLiveEventsAcrossReplicas: two `drover serve` replicas share Redis and Temporal; a client
// of one follows, live, a run driven entirely through the other, resumes from its last event
// id on the other replica after a disconnect, and an open stream does not hold up a
// replica's graceful shutdown.
func TestLiveEventsAcrossReplicas(t *testing.T) {
	const adminToken = "drv_live-test-admin"
	temporal := testsupport.StartDev(t, t.TempDir())
	redisAddr := testsupport.Redis(t)
	serve := func() *testsupport.DevProcess {
		return testsupport.StartDrover(t, "serve", "--addr", "127.0.0.1:0", "--temporal-address", temporal.TemporalHostPort,
			"--redis-addr", redisAddr, "--task-queue", "live-test", "--redis-prefix", "live",
			"--admin-token", adminToken, "--migrator-allow", "127.0.0.1")
	}
	a, b := serve(), serve()
	onA, onB := testsupport.NewAPI(a.URL).As(adminToken), testsupport.NewAPI(b.URL).As(adminToken)
	mig := testsupport.NewMigrator(t)
	var cred api.CreatedMigratorCredential
	resp := onA.Do(t, http.MethodPost, "/admin/migrators", map[string]any{"name": "live migrator", "migrations": []string{"live-*"}})
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	resp.JSON(t, &cred)
	migrator := testsupport.NewAPI(a.URL).Signed(cred.Secret)
	mig.RequireSignature(t, cred.Secret)

	anon := testsupport.NewAPI(b.URL).Stream(t, "/events", nil)
	require.Equal(t, http.StatusUnauthorized, anon.Status, "a stream needs a viewer: %s", anon.Body)

	follow := onB.Stream(t, "/events", nil)
	require.Equal(t, http.StatusOK, follow.Status, string(follow.Body))
	const mid = "live-replicas"
	ann := announcement(mid, mig.URL)
	ann.Steps = ann.Steps[:1]
	require.Equal(t, http.StatusOK, migrator.Do(t, http.MethodPost, "/registry/announce", ann).Status)
	awaitLive(t, follow, func(ev api.LiveEvent) bool { return ev.Kind == api.LiveEventKindMigration && ev.MigrationId == mid })

	started := time.Now()
	require.Equal(t, http.StatusAccepted, onA.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/start", map[string]any{"inputs": map[string]string{"team": "payments"}}).Status)
	running := awaitLive(t, follow, func(ev api.LiveEvent) bool {
		return ev.Kind == api.LiveEventKindCandidate && ev.CandidateId == "svc-a" && ev.CandidateStatus == api.CandidateStatusRunning
	})
	t.Logf("a run started through replica A reached a client of replica B after %s", time.Since(started).Round(time.Millisecond))
	require.Equal(t, mid, running.MigrationId)
	d := mig.NextDispatch(t, waitFor)
	last := awaitLive(t, follow, func(ev api.LiveEvent) bool { return ev.Kind == api.LiveEventKindStep && ev.StepName == "branch" })

	// B counts its open stream (the refused one is not counted); A has none.
	require.Contains(t, string(onB.Do(t, http.MethodGet, "/metrics", nil).Body), "\ndrover_live_streams 1\n")
	require.Contains(t, string(onA.Do(t, http.MethodGet, "/metrics", nil).Body), "\ndrover_live_streams 0\n")

	// B's client goes away; the run finishes meanwhile; it comes back, on A, from its last id.
	follow.Close()
	require.Equal(t, http.StatusAccepted, event(t, migrator, d.CallbackId, "svc-a", "branch", api.StepEventStatusSucceeded, nil).Status)
	waitCandidate(t, onA, mid, "svc-a", api.CandidateStatusCompleted)
	resumed := onA.Stream(t, "/migrations/"+mid+"/events", http.Header{"Last-Event-Id": {string(last.Id)}})
	require.Equal(t, http.StatusOK, resumed.Status, string(resumed.Body))
	awaitLive(t, resumed, func(ev api.LiveEvent) bool {
		return ev.Kind == api.LiveEventKindStep && ev.StepStatus == api.StepStatusSucceeded
	})
	done := awaitLive(t, resumed, func(ev api.LiveEvent) bool { return ev.Kind == api.LiveEventKindCandidate && ev.CandidateId == "svc-a" })
	require.Equal(t, api.CandidateStatusCompleted, done.CandidateStatus)
	require.Equal(t, api.RunStatusCompleted, done.RunStatus)

	// An open stream ends with its replica's graceful stop instead of holding it up.
	open := onB.Stream(t, "/events", nil)
	require.Equal(t, http.StatusOK, open.Status)
	require.True(t, b.Terminate(15*time.Second), "replica B did not stop with a stream open:\n%s", b.Logs())
	require.Equal(t, 0, b.ExitCode(), b.Logs())
	for {
		ev, ok := open.Next(t, waitFor)
		if !ok {
			break
		}
		require.NotEmpty(t, ev.Comment, "only comments before the end: %+v", ev)
	}
}
