package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/testsupport"
	"github.com/drover-dev/drover/pkg/api"
)

// TestServe runs the production mode, `drover serve`, against an external Temporal (a drover
// dev process stands in for a cluster) and a real Redis: a run completes, /readyz reports the
// dependencies, and a Redis outage is answered with 503, not 500.
func TestServe(t *testing.T) {
	temporal := testsupport.StartDev(t, t.TempDir())
	redisAddr := testsupport.Redis(t)
	p := testsupport.StartDrover(t, "serve", "--addr", "127.0.0.1:0", "--temporal-address", temporal.TemporalHostPort,
		"--redis-addr", redisAddr, "--task-queue", "serve-test", "--redis-prefix", "serve")
	a := testsupport.NewAPI(p.URL)
	mig := testsupport.NewMigrator(t)

	resp := a.Do(t, http.MethodGet, "/readyz", nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	require.JSONEq(t, `{"status":"ready","checks":{"store":"ok","temporal":"ok"}}`, string(resp.Body))

	mid := "serve-mode"
	ann := announcement(mid, mig.URL)
	ann.Steps = ann.Steps[:1]
	require.Equal(t, http.StatusOK, a.Do(t, http.MethodPost, "/registry/announce", ann).Status)
	require.Equal(t, http.StatusAccepted, a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/start", nil).Status)
	d := mig.NextDispatch(t, waitFor)
	require.Equal(t, http.StatusAccepted, event(t, a, d.CallbackId, "svc-a", "branch", api.StepEventStatusSucceeded, nil).Status)
	waitCandidate(t, a, mid, "svc-a", api.CandidateStatusCompleted)

	// The state is in Redis under the configured prefix.
	rc := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rc.Close()
	keys, err := rc.Keys(context.Background(), "serve:*").Result()
	require.NoError(t, err)
	require.NotEmpty(t, keys)

	// Redis goes away: readiness says so and reads answer 503 with the cause.
	_ = rc.Do(context.Background(), "SHUTDOWN", "NOSAVE").Err()
	testsupport.Eventually(t, 10*time.Second, func() (bool, string) {
		r := a.Do(t, http.MethodGet, "/readyz", nil)
		return r.Status == http.StatusServiceUnavailable, string(r.Body)
	})
	resp = a.Do(t, http.MethodGet, "/migrations/"+mid+"/candidates", nil)
	require.Equal(t, http.StatusServiceUnavailable, resp.Status, string(resp.Body))
	require.NotEmpty(t, resp.Error())

	require.True(t, p.Terminate(30*time.Second), "drover serve did not stop on SIGTERM:\n%s", p.Logs())
}
