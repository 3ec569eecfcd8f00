package e2e

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/examples/gobump"
	"github.com/drover-dev/drover/pkg/api"
)

// TestExampleMigratorOnRealRepositories runs examples/gobump against the real server over
// temporary git repositories: discovery, a dry run, then a whole run in which the test merges
// the branch and marks the review done, as an operator would. The file the run commits must be
// the dry run's "after".
func TestExampleMigratorOnRealRepositories(t *testing.T) {
	_, a := startDrover(t, newStore(t, "sqlite"))
	workspace := filepath.Join(t.TempDir(), "repos")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	require.NoError(t, gobump.CreateDemoWorkspace(ctx, workspace))

	srv := httptest.NewUnstartedServer(nil)
	b, err := gobump.New(gobump.Options{Workspace: workspace, Drover: a.Base, URL: "http://" + srv.Listener.Addr().String(),
		PollEvery: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	srv.Config.Handler = b.Migrator().Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	require.NoError(t, b.Start(ctx))

	mid := gobump.MigrationID
	cs := candidates(t, a, mid)
	require.Len(t, cs, 4, "gateway is on Go 1.26 already and is not a candidate")
	require.Equal(t, "1.21", cs["billing"].Metadata["goVersion"])
	_, ok := cs["gateway"]
	require.False(t, ok)

	resp := a.Do(t, http.MethodPost, "/migrations/"+mid+"/dry-run", map[string]any{"candidate": map[string]string{"id": "billing"}})
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	var dr api.DryRunResult
	resp.JSON(t, &dr)
	diff := dr.Steps[0].Files[0]
	require.Equal(t, "module example.com/billing\n\ngo 1.21\n", diff.Before)
	require.Equal(t, "module example.com/billing\n\ngo 1.26\n", diff.After)
	repo := filepath.Join(workspace, "billing")
	status, err := exec.Command("git", "-C", repo, "status", "--porcelain").Output()
	require.NoError(t, err)
	require.Empty(t, string(status), "a dry run does not touch the repository")

	resp = a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/billing/start", api.StartRunRequest{Inputs: map[string]string{"reviewer": "ana"}})
	require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	st := waitStep(t, a, mid, "billing", "pull-request", api.StepStatusPending)
	require.Contains(t, st.Metadata["instructions"], "merge "+gobump.Branch)
	committed, err := exec.Command("git", "-C", repo, "show", gobump.Branch+":go.mod").Output()
	require.NoError(t, err)
	require.Equal(t, diff.After, string(committed), "the run commits exactly what the dry run showed")
	msg, err := exec.Command("git", "-C", repo, "log", "-1", "--format=%B", gobump.Branch).Output()
	require.NoError(t, err)
	require.Contains(t, string(msg), "Reviewer: ana")

	out, err := exec.Command("git", "-C", repo, "merge", "-q", gobump.Branch).CombinedOutput()
	require.NoError(t, err, string(out))
	waitStep(t, a, mid, "billing", "pull-request", api.StepStatusMerged)
	st = waitStep(t, a, mid, "billing", "review", api.StepStatusPending)
	require.Contains(t, st.Metadata["instructions"], "ana")
	require.Equal(t, http.StatusAccepted, event(t, a, mid+"__billing", "billing", "review", api.StepEventStatusSucceeded, nil).Status)
	waitCandidate(t, a, mid, "billing", api.CandidateStatusCompleted)

	// A forged candidate cannot point the migrator at a repository outside its workspace.
	outside := filepath.Join(t.TempDir(), "outside")
	require.NoError(t, gobump.CreateDemoWorkspace(ctx, outside))
	resp = a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates", api.CandidateSubmission{Candidates: []api.CandidateInput{
		{Id: "forged", Kind: "go-module", Metadata: map[string]string{"path": filepath.Join(outside, "search")}}}})
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	resp = a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/forged/start", api.StartRunRequest{Inputs: map[string]string{"reviewer": "eve"}})
	require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	st = waitStep(t, a, mid, "forged", "branch", api.StepStatusFailed)
	require.Contains(t, st.LastError, "no repository")
	out, err = exec.Command("git", "-C", filepath.Join(outside, "search"), "branch", "--list", gobump.Branch).CombinedOutput()
	require.NoError(t, err)
	require.Empty(t, string(out), "the repository outside the workspace was not touched")

	onMain, err := os.ReadFile(filepath.Join(repo, "go.mod"))
	require.NoError(t, err)
	require.Equal(t, diff.After, string(onMain))
	branches, err := exec.Command("git", "-C", repo, "branch", "--list", gobump.Branch).Output()
	require.NoError(t, err)
	require.Empty(t, string(branches), "cleanup deleted the branch")
}
