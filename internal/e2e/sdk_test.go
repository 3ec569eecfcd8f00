package e2e

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/pkg/api"
	"github.com/drover-dev/drover/pkg/migrator"
	"github.com/drover-dev/drover/pkg/migrator/wire"
)

// TestSDKMigrator runs a migrator written with pkg/migrator against the real server: it
// announces itself, a step succeeds in its handler, the next reports pending with a PR URL and
// is completed later through the SDK, and the candidate completes.
func TestSDKMigrator(t *testing.T) {
	_, a := startDrover(t, newStore(t, "sqlite"))
	runs := make(chan string, 4)
	srv := httptest.NewUnstartedServer(nil)
	m, err := migrator.New(migrator.Config{
		Drover: a.Base, URL: "http://" + srv.Listener.Addr().String(),
		Definition: migrator.Definition{ID: "sdk", Name: "SDK", Description: "written with pkg/migrator",
			Steps: []wire.StepDefinition{{Name: "edit"}, {Name: "pr", Type: "pull-request"}}},
		Discover: func(context.Context) ([]wire.CandidateInput, error) {
			return []wire.CandidateInput{{Id: "repo-1", Kind: "repo", Metadata: map[string]string{"path": "/src/repo-1"}}}, nil
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
	require.NoError(t, m.Shutdown(ctx))
}
