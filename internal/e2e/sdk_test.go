package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/app"
	migratorpkg "github.com/drover-dev/drover/internal/migrations/migrator"
	"github.com/drover-dev/drover/internal/testsupport"
	"github.com/drover-dev/drover/pkg/api"
	"github.com/drover-dev/drover/pkg/migrator"
	"github.com/drover-dev/drover/pkg/migrator/wire"
)

// withAuth is a Drover that trusts nobody (as drover serve), but reaches loopback migrators.
func withAuth(c *app.Config) {
	c.Trust = app.Trust{AdminToken: authAdminToken, Guard: migratorpkg.Guard{AllowLoopback: true}}
}

const authAdminToken = "drv_e2e-admin"

// credential has the admin create a migrator credential for the given migration ids.
func credential(t *testing.T, a *testsupport.API, migrations ...string) string {
	t.Helper()
	var cred api.CreatedMigratorCredential
	r := a.As(authAdminToken).Do(t, http.MethodPost, "/admin/migrators", map[string]any{"name": t.Name(), "migrations": migrations})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	r.JSON(t, &cred)
	return cred.Secret
}

// TestSDKMigrator runs a migrator written with pkg/migrator against the real server with
// authentication on: it announces itself (signed with its credential), a step succeeds in its
// handler, the next reports pending with a PR URL and is completed later through the SDK, and
// the candidate completes; Drover's dispatches verify.
func TestSDKMigrator(t *testing.T) {
	_, anon := startDrover(t, newStore(t, "sqlite"), withAuth)
	a := anon.As(authAdminToken)
	secret := credential(t, anon, "sdk")
	runs := make(chan string, 4)
	cancels := make(chan migrator.CancelRequest, 1)
	srv := httptest.NewUnstartedServer(nil)
	m, err := migrator.New(migrator.Config{
		Drover: a.Base, URL: "http://" + srv.Listener.Addr().String(), Secret: secret,
		Definition: migrator.Definition{ID: "sdk", Name: "SDK", Description: "written with pkg/migrator",
			Steps: []wire.StepDefinition{{Name: "edit"}, {Name: "pr", Type: "pull-request"}}},
		Discover: func(context.Context) ([]wire.CandidateInput, error) {
			return []wire.CandidateInput{{Id: "repo-1", Kind: "repo", Metadata: map[string]string{"path": "/src/repo-1"}}, {Id: "repo-2", Kind: "repo"}}, nil
		},
		OnCancel: func(_ context.Context, req migrator.CancelRequest) error {
			cancels <- req
			return nil
		},
		Steps: map[string]migrator.StepFunc{
			"edit": func(_ context.Context, req migrator.StepRequest) (migrator.Result, error) {
				return migrator.Succeeded(map[string]string{"branch": "drover/" + req.Candidate.Id}), nil
			},
			"pull-request": func(_ context.Context, req migrator.StepRequest) (migrator.Result, error) {
				runs <- req.RunID
				return migrator.Pending(map[string]string{"prUrl": "https://git.example/pr/1"}), nil
			},
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	srv.Config.Handler = m.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, m.Start(ctx))

	require.Equal(t, http.StatusAccepted, a.Do(t, http.MethodPost, "/migrations/sdk/candidates/repo-1/start", nil).Status)
	runID := <-runs
	st := waitStep(t, a, "sdk", "repo-1", "pr", api.StepStatusPending)
	require.Equal(t, "https://git.example/pr/1", st.Metadata["prUrl"])
	require.NoError(t, m.Complete(ctx, runID, "pr", migrator.Merged(nil)))
	waitCandidate(t, a, "sdk", "repo-1", api.CandidateStatusCompleted)
	_, rs := steps(t, a, "sdk", "repo-1")
	require.Equal(t, "drover/repo-1", rs.Steps[0].Metadata["branch"])
	require.Equal(t, api.StepStatusMerged, rs.Steps[1].Status)

	// A cancelled run reaches the migrator's OnCancel with the steps it had started, so that it
	// can close the PR; the run says the migrator took part.
	require.Equal(t, http.StatusAccepted, a.Do(t, http.MethodPost, "/migrations/sdk/candidates/repo-2/start", nil).Status)
	<-runs
	waitStep(t, a, "sdk", "repo-2", "pr", api.StepStatusPending)
	require.Equal(t, http.StatusNoContent, a.Do(t, http.MethodPost, "/migrations/sdk/candidates/repo-2/cancel", nil).Status)
	var got migrator.CancelRequest
	select {
	case got = <-cancels:
	case <-ctx.Done():
		t.Fatal("OnCancel was not called")
	}
	require.Equal(t, "sdk__repo-2", got.RunID)
	require.Equal(t, "repo-2", got.Candidate.Id)
	require.Len(t, got.Steps, 2)
	require.Equal(t, "https://git.example/pr/1", got.Steps[1].Metadata["prUrl"])
	testsupport.Eventually(t, waitFor, func() (bool, string) {
		_, rs := steps(t, a, "sdk", "repo-2")
		return rs.Cancellation.Status == api.RunCancellationStatusDone, fmt.Sprintf("cancellation %+v", rs.Cancellation)
	})
	require.NoError(t, m.Shutdown(ctx))
}

// TestHelloMigratorWithAuth runs examples/hello-migrator, which signs on the bare standard
// library, against a Drover with authentication on: announced, previewed and run to the end.
func TestHelloMigratorWithAuth(t *testing.T) {
	_, anon := startDrover(t, newStore(t, "sqlite"), withAuth)
	a := anon.As(authAdminToken)
	secret := credential(t, anon, "hello-*")
	bin := filepath.Join(t.TempDir(), "hello-migrator")
	out, err := exec.Command("go", "build", "-o", bin, "../../examples/hello-migrator").CombinedOutput()
	require.NoError(t, err, "%s", out)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	cmd := exec.Command(bin, "-drover", a.Base, "-listen", addr, "-delay", "50ms", "-secret", secret)
	var logs strings.Builder
	cmd.Stderr = &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	testsupport.Eventually(t, waitFor, func() (bool, string) {
		r := a.Do(t, http.MethodGet, "/migrations/hello-rename", nil)
		return r.Status == http.StatusOK, fmt.Sprintf("%d %s\n%s", r.Status, r.Body, logs.String())
	})
	r := a.Do(t, http.MethodPost, "/migrations/hello-rename/dry-run", map[string]any{"candidate": map[string]any{"id": "search"}, "inputs": map[string]string{"team": "discovery"}})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	r = a.Do(t, http.MethodPost, "/migrations/hello-rename/candidates/search/start", map[string]any{"inputs": map[string]string{"team": "discovery"}})
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	waitCandidate(t, a, "hello-rename", "search", api.CandidateStatusCompleted)
	require.NotContains(t, logs.String(), "refused", "the migrator refused something Drover sent")
}
