package e2e

import (
	"net/http"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/testsupport"
	"github.com/drover-dev/drover/pkg/api"
)

// TestRunHistory: on real Temporal and Redis, a run that fails, is retried and completes, and a
// run cancelled while it waits and then started again, leave every event in the candidates'
// histories, in order, each run told apart.
func TestRunHistory(t *testing.T) {
	mig := testsupport.NewMigrator(t)
	_, a := startDrover(t, newStore(t, "redis"))
	mid := migrationID(t, "redis")
	rolloutMigration(t, a, mid, mig.URL, 2)
	post := func(path string, body any, want int) {
		t.Helper()
		resp := a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/"+path, body)
		require.Equal(t, want, resp.Status, string(resp.Body))
	}
	// history reads every event of a candidate, oldest first, without the acknowledgements (when
	// the migrator's answer to a dispatch lands before or after its callback is up to timing).
	history := func(cid string) (kinds []api.HistoryEventKind, evs []api.HistoryEvent) {
		t.Helper()
		resp := a.Do(t, http.MethodGet, "/migrations/"+mid+"/candidates/"+cid+"/history", nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		var page api.HistoryPage
		resp.JSON(t, &page)
		slices.Reverse(page.Events)
		for _, e := range page.Events {
			if e.Kind != api.HistoryAcknowledged {
				kinds = append(kinds, e.Kind)
				evs = append(evs, e)
			}
		}
		return kinds, evs
	}

	post("svc-00/start", nil, http.StatusAccepted)
	answerStep(t, a, mig.NextDispatch(t, waitFor), api.StepEventStatusFailed)
	waitStep(t, a, mid, "svc-00", "branch", api.StepStatusFailed)
	post("svc-00/retry-step", api.RetryStepRequest{StepName: "branch"}, http.StatusAccepted)
	answerStep(t, a, mig.NextDispatch(t, waitFor), api.StepEventStatusSucceeded)
	waitCandidate(t, a, mid, "svc-00", api.CandidateStatusCompleted)
	kinds, evs := history("svc-00")
	require.Equal(t, []api.HistoryEventKind{api.HistoryRunStarted, api.HistoryDispatched, api.HistoryFailed, api.HistoryRetried,
		api.HistoryDispatched, api.HistorySucceeded, api.HistoryRunFinished}, kinds)
	require.Equal(t, "CI is red", evs[2].Error)
	require.Equal(t, 2, evs[5].Try)
	require.Equal(t, api.RunStatusCompleted, evs[6].RunStatus)
	for _, e := range evs[1:] {
		require.False(t, e.At.Before(evs[0].At), "%s before the run started", e.Kind)
	}

	post("svc-01/start", nil, http.StatusAccepted)
	mig.NextDispatch(t, waitFor)
	post("svc-01/cancel", nil, http.StatusNoContent)
	post("svc-01/start", nil, http.StatusAccepted)
	answerStep(t, a, mig.NextDispatch(t, waitFor), api.StepEventStatusSucceeded)
	waitCandidate(t, a, mid, "svc-01", api.CandidateStatusCompleted)
	kinds, evs = history("svc-01")
	require.Equal(t, []api.HistoryEventKind{api.HistoryRunStarted, api.HistoryDispatched, api.HistoryCancelled, api.HistoryRunFinished,
		api.HistoryRunStarted, api.HistoryDispatched, api.HistorySucceeded, api.HistoryRunFinished}, kinds)
	require.Equal(t, api.RunStatusCancelled, evs[3].RunStatus)
	require.NotEqual(t, evs[0].ExecutionId, evs[4].ExecutionId, "two runs")

	// Insights read the same history, across the migration's candidates.
	resp := a.Do(t, http.MethodGet, "/migrations/"+mid+"/insights", nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	var in api.Insights
	resp.JSON(t, &in)
	require.Len(t, in.Steps, 1)
	st := in.Steps[0]
	require.Equal(t, [4]int{3, 2, 1, 1}, [4]int{st.Finished, st.Succeeded, st.Failed, st.Retried}, "finished, succeeded, failed, retried")
	require.Greater(t, st.WaitingOnPeopleSeconds, 0.0, "the failed try waited for its retry")
	today := in.Days[len(in.Days)-1]
	require.Equal(t, [3]int{3, 2, 0}, [3]int{today.Started, today.Completed, today.Remaining}, "started, completed, remaining")
	require.Len(t, in.RecentFailures, 1)
	require.Equal(t, "svc-00", in.RecentFailures[0].CandidateId)
}
