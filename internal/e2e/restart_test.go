package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/testsupport"
	"github.com/drover-dev/drover/pkg/api"
)

// TestDevSurvivesRestart kills the whole `drover dev` process mid-run (as a crash would) and
// starts it again on the same data directory: the run resumes and completes.
func TestDevSurvivesRestart(t *testing.T) {
	dataDir := t.TempDir()
	mig := testsupport.NewMigrator(t)
	mid := "restart"

	p := testsupport.StartDev(t, dataDir)
	a := testsupport.NewAPI(p.URL)
	require.Equal(t, http.StatusOK, a.Do(t, http.MethodPost, "/registry/announce", announcement(mid, mig.URL)).Status)
	resp := a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/start", api.StartRunRequest{Inputs: map[string]string{"team": "infra"}})
	require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	d := mig.NextDispatch(t, waitFor)
	require.Equal(t, "branch", d.StepName)
	require.Equal(t, http.StatusAccepted, event(t, a, d.CallbackId, "svc-a", "branch", api.StepEventStatusPending, map[string]string{"prUrl": "https://git.example/pr/7"}).Status)
	waitStep(t, a, mid, "svc-a", "branch", api.StepStatusPending)

	p.Kill()

	p = testsupport.StartDev(t, dataDir)
	a = testsupport.NewAPI(p.URL)
	st := waitStep(t, a, mid, "svc-a", "branch", api.StepStatusPending)
	require.Equal(t, "https://git.example/pr/7", st.Metadata["prUrl"])
	require.Equal(t, api.CandidateStatusRunning, candidates(t, a, mid)["svc-a"].Status)

	require.Equal(t, http.StatusAccepted, event(t, a, d.CallbackId, "svc-a", "branch", api.StepEventStatusMerged, nil).Status)
	d = mig.NextDispatch(t, 60*time.Second)
	require.Equal(t, "pr", d.StepName)
	require.Equal(t, "infra", d.Candidate.Metadata["team"], "stored inputs survive the restart")
	require.Equal(t, http.StatusAccepted, event(t, a, d.CallbackId, "svc-a", "pr", api.StepEventStatusSucceeded, nil).Status)
	d = mig.NextDispatch(t, waitFor)
	require.Equal(t, "cleanup", d.StepName)

	// A graceful stop (SIGTERM) in between loses nothing either.
	require.True(t, p.Terminate(30*time.Second), "drover dev did not stop on SIGTERM:\n%s", p.Logs())
	require.Equal(t, 0, p.ExitCode(), p.Logs())
	p = testsupport.StartDev(t, dataDir)
	a = testsupport.NewAPI(p.URL)
	require.Equal(t, http.StatusAccepted, event(t, a, d.CallbackId, "svc-a", "cleanup", api.StepEventStatusSucceeded, nil).Status)
	waitCandidate(t, a, mid, "svc-a", api.CandidateStatusCompleted)
	_, rs := steps(t, a, mid, "svc-a")
	require.Equal(t, api.RunStatusCompleted, rs.Status)
	require.Equal(t, []string{"branch", "pr", "cleanup"}, stateNames(rs.Steps))
}
