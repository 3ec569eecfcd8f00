package e2e

import (
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/testsupport"
	"github.com/drover-dev/drover/pkg/api"
)

// TestServeRefusesToRunWithoutAuthentication: production mode does not start open by accident.
func TestServeRefusesToRunWithoutAuthentication(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, testsupport.DroverBinary(t), "serve", "--addr", "127.0.0.1:0", "--redis-addr", "127.0.0.1:1").CombinedOutput()
	require.Error(t, err, "drover serve started without authentication:\n%s", out)
	require.Contains(t, string(out), "drover serve needs operator authentication: set --admin-token (DROVER_ADMIN_TOKEN) or --oidc-issuer, or pass --insecure-no-auth")
	require.Equal(t, 1, strings.Count(strings.TrimSpace(string(out)), "\n")+1, "one line: %s", out)
}

// TestServe runs the production mode, `drover serve` with authentication, against an external
// Temporal (a drover dev process stands in for a cluster) and a real Redis: an admin sets up a
// migrator credential and an operator token; the migrator's signed announce and callbacks and
// Drover's signed dispatches carry a run to completion; anonymous, forged and hijacking
// requests are refused and audited; a Redis outage is answered with 503, not 500.
func TestServe(t *testing.T) {
	const adminToken = "drv_serve-test-admin"
	temporal := testsupport.StartDev(t, t.TempDir())
	redisAddr := testsupport.Redis(t)
	p := testsupport.StartDrover(t, "serve", "--addr", "127.0.0.1:0", "--temporal-address", temporal.TemporalHostPort,
		"--redis-addr", redisAddr, "--task-queue", "serve-test", "--redis-prefix", "serve",
		"--admin-token", adminToken, "--migrator-allow", "127.0.0.1")
	anon := testsupport.NewAPI(p.URL)
	admin := anon.As(adminToken)
	mig := testsupport.NewMigrator(t)

	resp := anon.Do(t, http.MethodGet, "/readyz", nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	require.JSONEq(t, `{"status":"ready","checks":{"store":"ok","temporal":"ok"}}`, string(resp.Body))

	// The admin's set-up: a credential for the migrator, a token for an operator.
	mid := "serve-mode"
	var cred api.CreatedMigratorCredential
	resp = admin.Do(t, http.MethodPost, "/admin/migrators", map[string]any{"name": "serve-mode migrator", "migrations": []string{"serve-*"}})
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	resp.JSON(t, &cred)
	var tok api.CreatedToken
	resp = admin.Do(t, http.MethodPost, "/admin/tokens", map[string]any{"name": "otto", "role": "operator", "expiresIn": "1h"})
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	resp.JSON(t, &tok)
	operator, migrator := anon.As(tok.Token), anon.Signed(cred.Secret)
	mig.RequireSignature(t, cred.Secret)

	ann := announcement(mid, mig.URL)
	ann.Steps = ann.Steps[:1]
	require.Equal(t, http.StatusUnauthorized, anon.Do(t, http.MethodPost, "/registry/announce", ann).Status, "an unsigned announce")
	require.Equal(t, http.StatusOK, migrator.Do(t, http.MethodPost, "/registry/announce", ann).Status)
	require.Equal(t, http.StatusUnauthorized, anon.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/start", nil).Status)
	require.Equal(t, http.StatusUnauthorized, anon.Do(t, http.MethodGet, "/migrations", nil).Status)
	require.Equal(t, http.StatusAccepted, operator.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/start", nil).Status)
	d := mig.NextDispatch(t, waitFor) // it verified Drover's signature
	require.Zero(t, mig.Refused())
	forged := event(t, anon, d.CallbackId, "svc-a", "branch", api.StepEventStatusSucceeded, map[string]string{"prUrl": "https://evil.example"})
	require.Equal(t, http.StatusUnauthorized, forged.Status, string(forged.Body))
	require.Equal(t, http.StatusAccepted, event(t, migrator, d.CallbackId, "svc-a", "branch", api.StepEventStatusSucceeded, nil).Status)
	waitCandidate(t, operator, mid, "svc-a", api.CandidateStatusCompleted)

	// Another credential, even one allowed the id's prefix, cannot take the migration over.
	var other api.CreatedMigratorCredential
	resp = admin.Do(t, http.MethodPost, "/admin/migrators", map[string]any{"name": "mallory", "migrations": []string{"serve-*"}})
	require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
	resp.JSON(t, &other)
	hijack := announcement(mid, "http://127.0.0.1:1")
	resp = anon.Signed(other.Secret).Do(t, http.MethodPost, "/registry/announce", hijack)
	require.Equal(t, http.StatusForbidden, resp.Status, string(resp.Body))
	var m api.Migration
	operator.Do(t, http.MethodGet, "/migrations/"+mid, nil).JSON(t, &m)
	require.Equal(t, mig.URL, m.MigratorUrl)
	// A migratorUrl at the cloud metadata service is refused at announcement.
	meta := announcement("serve-meta", "http://169.254.169.254/latest")
	resp = migrator.Do(t, http.MethodPost, "/registry/announce", meta)
	require.Equal(t, http.StatusBadRequest, resp.Status, string(resp.Body))
	require.Contains(t, resp.Error(), "link-local")

	// The audit log names who did what, refused attempts too.
	var audit api.AuditPage
	operator.Do(t, http.MethodGet, "/audit?migration="+mid, nil).JSON(t, &audit)
	seen := map[string]bool{}
	for _, e := range audit.Entries {
		seen[e.Action+" "+string(e.Outcome)+" "+strings.SplitN(e.Actor, ":", 2)[0]] = true
	}
	for _, want := range []string{"announceMigration refused anonymous", "announceMigration allowed migrator", "announceMigration refused migrator",
		"startRun refused anonymous", "startRun allowed operator", "postStepEvent refused anonymous", "postStepEvent allowed migrator"} {
		require.True(t, seen[want], "audit log lacks %q: %v", want, seen)
	}

	// The state is in Redis under the configured prefix, credentials as hashes only.
	rc := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rc.Close()
	keys, err := rc.Keys(context.Background(), "serve:*").Result()
	require.NoError(t, err)
	require.NotEmpty(t, keys)
	for _, k := range keys {
		if typ, _ := rc.Type(context.Background(), k).Result(); typ == "hash" {
			vals, _ := rc.HGetAll(context.Background(), k).Result()
			for _, v := range vals {
				require.NotContains(t, v, tok.Token, "an API token is stored in clear in %s", k)
			}
		}
	}

	// Redis goes away: readiness says so and reads answer 503 with the cause.
	_ = rc.Do(context.Background(), "SHUTDOWN", "NOSAVE").Err()
	testsupport.Eventually(t, 10*time.Second, func() (bool, string) {
		r := anon.Do(t, http.MethodGet, "/readyz", nil)
		return r.Status == http.StatusServiceUnavailable, string(r.Body)
	})
	resp = admin.Do(t, http.MethodGet, "/migrations/"+mid+"/candidates", nil)
	require.Equal(t, http.StatusServiceUnavailable, resp.Status, string(resp.Body))
	require.NotEmpty(t, resp.Error())

	require.True(t, p.Terminate(30*time.Second), "drover serve did not stop on SIGTERM:\n%s", p.Logs())
}
