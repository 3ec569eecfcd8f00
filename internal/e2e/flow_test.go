package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/testsupport"
	"github.com/drover-dev/drover/pkg/api"
)

const waitFor = 20 * time.Second

func announcement(id, migratorURL string) api.MigrationAnnouncement {
	return api.MigrationAnnouncement{
		Id:             id,
		Name:           "Rename topics " + id,
		Description:    "Moves every service to the new topic names.",
		Overview:       []string{"Change"},
		Phases:         []api.OverviewPhase{{Name: "Change", Steps: []string{"branch", "pr", "cleanup"}}},
		RequiredInputs: []api.RequiredInput{{Name: "team", Label: "Owning team"}},
		MigratorUrl:    migratorURL,
		Steps: []api.StepDefinition{{Name: "branch", MigratorApp: "topics"}, {Name: "pr", MigratorApp: "topics", Type: "pull-request", Config: map[string]string{"draft": "true"}},
			{Name: "cleanup", MigratorApp: "topics-cleaner"}},
		Candidates: []api.CandidateInput{
			{Id: "svc-a", Kind: "service", Metadata: map[string]string{"repo": "org/svc-a", "team": "payments"}},
			{Id: "svc-b", Kind: "service", Metadata: map[string]string{"repo": "org/svc-b"}},
			{Id: "svc-c", Kind: "service", Steps: []api.StepDefinition{{Name: "only-step", MigratorApp: "topics"}}},
		},
	}
}

func candidates(t *testing.T, a *testsupport.API, mid string) map[string]api.Candidate {
	t.Helper()
	resp := a.Do(t, http.MethodGet, "/migrations/"+mid+"/candidates", nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	var cs []api.Candidate
	resp.JSON(t, &cs)
	out := map[string]api.Candidate{}
	for _, c := range cs {
		out[c.Id] = c
	}
	return out
}

func steps(t *testing.T, a *testsupport.API, mid, cid string) (int, api.RunSteps) {
	t.Helper()
	resp := a.Do(t, http.MethodGet, fmt.Sprintf("/migrations/%s/candidates/%s/steps", mid, cid), nil)
	var rs api.RunSteps
	if resp.Status == http.StatusOK {
		resp.JSON(t, &rs)
	}
	return resp.Status, rs
}

func waitCandidate(t *testing.T, a *testsupport.API, mid, cid string, want api.CandidateStatus) {
	t.Helper()
	testsupport.Eventually(t, waitFor, func() (bool, string) {
		got := candidates(t, a, mid)[cid].Status
		return got == want, fmt.Sprintf("candidate %s is %s, want %s", cid, got, want)
	})
}

func waitStep(t *testing.T, a *testsupport.API, mid, cid, step string, want api.StepStatus) api.StepState {
	t.Helper()
	var found api.StepState
	testsupport.Eventually(t, waitFor, func() (bool, string) {
		code, rs := steps(t, a, mid, cid)
		for _, s := range rs.Steps {
			if s.StepName == step {
				found = s
				return s.Status == want, fmt.Sprintf("step %s is %s, want %s", step, s.Status, want)
			}
		}
		return false, fmt.Sprintf("step %s not started (steps answered %d)", step, code)
	})
	return found
}

func event(t *testing.T, a *testsupport.API, runID, cid, step string, status api.StepEventStatus, md map[string]string) testsupport.Response {
	t.Helper()
	return a.Do(t, http.MethodPost, "/event/"+runID, api.StepStatusEvent{StepName: step, CandidateId: cid, Status: status, Metadata: md})
}

func migrationID(t *testing.T, kind string) string {
	return strings.ToLower(nonQueueChars.ReplaceAllString(t.Name(), "-")) + "-" + kind
}

// TestWholeRun walks one candidate through every kind of step outcome, against each store.
func TestWholeRun(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			mig := testsupport.NewMigrator(t)
			r, a := startDrover(t, newStore(t, kind))
			mid := migrationID(t, kind)

			resp := a.Do(t, http.MethodPost, "/registry/announce", announcement(mid, mig.URL))
			require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
			require.JSONEq(t, `{"status":"SUCCESS"}`, string(resp.Body))

			resp = a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates", api.CandidateSubmission{Candidates: []api.CandidateInput{
				{Id: "svc-d", Kind: "service"},
			}})
			require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
			cs := candidates(t, a, mid)
			require.Len(t, cs, 4)
			for _, c := range cs {
				require.Equal(t, api.CandidateStatusNotStarted, c.Status)
			}

			// Dry run: the server sends the stored candidate, its steps and the operator's inputs.
			resp = a.Do(t, http.MethodPost, "/migrations/"+mid+"/dry-run", map[string]any{
				"candidate": map[string]any{"id": "svc-a", "kind": "forged", "metadata": map[string]string{"repo": "evil/repo"}},
				"inputs":    map[string]string{"team": "checkout"},
			})
			require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
			var dr api.DryRunResult
			resp.JSON(t, &dr)
			require.Len(t, dr.Steps, 3)
			require.Equal(t, "branch.yaml", dr.Steps[0].Files[0].Path)
			sent := mig.DryRuns()[0]
			require.Equal(t, "service", sent.Candidate.Kind)
			require.Equal(t, "org/svc-a", sent.Candidate.Metadata["repo"])
			require.Equal(t, "checkout", sent.Candidate.Metadata["team"])
			require.Equal(t, []string{"branch", "pr", "cleanup"}, stepNames(sent.Steps))

			// Start with an input; the first dispatch carries it.
			resp = a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/start", api.StartRunRequest{Inputs: map[string]string{"team": "platform"}})
			require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
			var acc api.RunAccepted
			resp.JSON(t, &acc)
			runID := mid + "__svc-a"
			require.Equal(t, runID, acc.RunId)

			d := mig.NextDispatch(t, waitFor)
			require.Equal(t, "branch", d.StepName)
			require.Equal(t, runID, d.CallbackId)
			require.Equal(t, "branch", d.EventName)
			require.Equal(t, mid, d.MigrationId)
			require.Equal(t, mig.URL, d.MigratorUrl)
			require.Equal(t, "platform", d.Candidate.Metadata["team"])
			require.Equal(t, "org/svc-a", d.Candidate.Metadata["repo"])
			waitCandidate(t, a, mid, "svc-a", api.CandidateStatusRunning)

			// Starting again while running is a conflict.
			resp = a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/start", nil)
			require.Equal(t, http.StatusConflict, resp.Status)
			require.Contains(t, resp.Error(), "already running")

			// pending keeps the step waiting and shows its metadata.
			resp = event(t, a, runID, "svc-a", "branch", api.StepEventStatusPending, map[string]string{"prUrl": "https://git.example/pr/1"})
			require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
			st := waitStep(t, a, mid, "svc-a", "branch", api.StepStatusPending)
			require.Equal(t, "https://git.example/pr/1", st.Metadata["prUrl"])
			require.Equal(t, api.Candidate{Id: "svc-a", Kind: "service", Status: api.CandidateStatusRunning}, st.Candidate)
			mig.NoDispatch(t, 300*time.Millisecond)

			// merged ends the step and dispatches the next one.
			resp = event(t, a, runID, "svc-a", "branch", api.StepEventStatusMerged, nil)
			require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
			d = mig.NextDispatch(t, waitFor)
			require.Equal(t, "pr", d.StepName)
			require.Equal(t, "pull-request", d.Type)
			require.Equal(t, "true", d.Config["draft"])
			require.Equal(t, "topics", d.MigratorApp, "the step's migratorApp")
			st = waitStep(t, a, mid, "svc-a", "branch", api.StepStatusMerged)
			require.Equal(t, "https://git.example/pr/1", st.Metadata["prUrl"], "metadata survives the end of the step")
			require.False(t, st.FinishedAt.IsZero())

			// A duplicate of the recorded outcome is accepted with no effect.
			resp = event(t, a, runID, "svc-a", "branch", api.StepEventStatusMerged, nil)
			require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
			require.Contains(t, string(resp.Body), "duplicate")
			mig.NoDispatch(t, 300*time.Millisecond)

			// failed keeps the migrator's message and waits for a retry.
			resp = event(t, a, runID, "svc-a", "pr", api.StepEventStatusFailed, map[string]string{"error": "CI is red: lint failed"})
			require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
			st = waitStep(t, a, mid, "svc-a", "pr", api.StepStatusFailed)
			require.Equal(t, "CI is red: lint failed", st.LastError)
			mig.NoDispatch(t, 300*time.Millisecond)

			// The candidate list shows the run at a glance, written with the step's state: the
			// failed step needs an operator, and the attention filter finds it.
			run := candidates(t, a, mid)["svc-a"].Run
			require.Equal(t, api.RunSummary{Status: api.RunStatusRunning, StartedAt: run.StartedAt, StepName: "pr",
				StepStatus: api.StepStatusFailed, Attention: api.AttentionFailed}, run)
			require.False(t, run.StartedAt.IsZero())
			resp = a.Do(t, http.MethodGet, "/migrations/"+mid+"/candidates?attention=true", nil)
			require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
			var needy []api.Candidate
			resp.JSON(t, &needy)
			require.Len(t, needy, 1)
			require.Equal(t, "svc-a", needy[0].Id)

			// Only the failed step can be retried.
			resp = a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/retry-step", api.RetryStepRequest{StepName: "branch"})
			require.Equal(t, http.StatusConflict, resp.Status)
			require.Contains(t, resp.Error(), "not failed")
			resp = a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/retry-step", api.RetryStepRequest{StepName: "pr"})
			require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
			d = mig.NextDispatch(t, waitFor)
			require.Equal(t, "pr", d.StepName)

			// Inputs changed during the run reach the next dispatch.
			resp = a.Do(t, http.MethodPatch, "/migrations/"+mid+"/candidates/svc-a/inputs", api.UpdateInputsRequest{Inputs: map[string]string{"team": "search"}})
			require.Equal(t, http.StatusNoContent, resp.Status, string(resp.Body))

			resp = event(t, a, runID, "svc-a", "pr", api.StepEventStatusSucceeded, nil)
			require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
			d = mig.NextDispatch(t, waitFor)
			require.Equal(t, "cleanup", d.StepName)
			require.Equal(t, "search", d.Candidate.Metadata["team"])

			// An event for a step that is not the one waiting is a conflict.
			resp = event(t, a, runID, "svc-a", "pr", api.StepEventStatusPending, nil)
			require.Equal(t, http.StatusConflict, resp.Status)

			resp = event(t, a, runID, "svc-a", "cleanup", api.StepEventStatusSucceeded, nil)
			require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
			waitCandidate(t, a, mid, "svc-a", api.CandidateStatusCompleted)
			code, rs := steps(t, a, mid, "svc-a")
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, api.RunStatusCompleted, rs.Status)
			require.Equal(t, []string{"branch", "pr", "cleanup"}, stateNames(rs.Steps))
			require.Equal(t, api.StepStatusSucceeded, rs.Steps[2].Status)
			mig.NoDispatch(t, 300*time.Millisecond)

			// A completed candidate cannot start again, even when re-announced.
			resp = a.Do(t, http.MethodPost, "/registry/announce", announcement(mid, mig.URL))
			require.Equal(t, http.StatusOK, resp.Status)
			require.Equal(t, api.CandidateStatusCompleted, candidates(t, a, mid)["svc-a"].Status)
			resp = a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/start", nil)
			require.Equal(t, http.StatusConflict, resp.Status)
			require.Contains(t, resp.Error(), "completed")

			var m api.Migration
			resp = a.Do(t, http.MethodGet, "/migrations/"+mid, nil)
			require.Equal(t, http.StatusOK, resp.Status)
			resp.JSON(t, &m)
			require.Equal(t, api.CandidateCounts{NotStarted: 3, Completed: 1}, m.Counts)
			run = candidates(t, a, mid)["svc-a"].Run
			require.Equal(t, api.RunStatusCompleted, run.Status)
			require.Equal(t, "cleanup", run.StepName)
			require.Empty(t, run.Attention)
			if kind == "sqlite" {
				recordHistories(t, r.Client, mid+"__svc-a", "completed-after-a-failure")
			}
		})
	}
}

// TestCancelMidRun cancels a run while its step waits, then starts the candidate afresh.
func TestCancelMidRun(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			mig := testsupport.NewMigrator(t)
			r, a := startDrover(t, newStore(t, kind))
			mid := migrationID(t, kind)
			require.Equal(t, http.StatusOK, a.Do(t, http.MethodPost, "/registry/announce", announcement(mid, mig.URL)).Status)
			runID := mid + "__svc-a"

			require.Equal(t, http.StatusAccepted, a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/start", nil).Status)
			first := mig.NextDispatch(t, waitFor)
			require.Equal(t, "branch", first.StepName)
			require.NotEmpty(t, first.DispatchId)
			require.Equal(t, http.StatusAccepted, event(t, a, runID, "svc-a", "branch", api.StepEventStatusPending, map[string]string{"prUrl": "u"}).Status)
			waitStep(t, a, mid, "svc-a", "branch", api.StepStatusPending)

			resp := a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/cancel", nil)
			require.Equal(t, http.StatusNoContent, resp.Status, string(resp.Body))
			require.Equal(t, api.CandidateStatusNotStarted, candidates(t, a, mid)["svc-a"].Status, "not_started as soon as cancel answers")
			code, rs := steps(t, a, mid, "svc-a")
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, api.RunStatusCancelled, rs.Status)
			// The migrator is told, answers 404 (it has no /cancel-run), and the run says so.
			testsupport.Eventually(t, waitFor, func() (bool, string) {
				_, rs = steps(t, a, mid, "svc-a")
				return rs.Cancellation.Status == api.RunCancellationStatusNotSupported, fmt.Sprintf("cancellation %+v", rs.Cancellation)
			})
			if kind == "sqlite" {
				recordHistories(t, r.Client, runID, "pending-then-cancelled")
			}

			// The run takes no more events and dispatches nothing more.
			resp = event(t, a, runID, "svc-a", "branch", api.StepEventStatusSucceeded, nil)
			require.Equal(t, http.StatusConflict, resp.Status, string(resp.Body))
			mig.NoDispatch(t, 500*time.Millisecond)

			// Cancelling again, or retrying, is a conflict.
			resp = a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/cancel", nil)
			require.Equal(t, http.StatusConflict, resp.Status)
			require.Contains(t, resp.Error(), "not running")
			resp = a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/retry-step", api.RetryStepRequest{StepName: "branch"})
			require.Equal(t, http.StatusConflict, resp.Status)

			// A new start works and begins from the first step with a clean history.
			require.Equal(t, http.StatusAccepted, a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/start", nil).Status)
			second := mig.NextDispatch(t, waitFor)
			require.Equal(t, "branch", second.StepName)
			require.NotEqual(t, first.DispatchId, second.DispatchId, "a new run gets new dispatch ids")
			st := waitStep(t, a, mid, "svc-a", "branch", api.StepStatusInProgress)
			require.Empty(t, st.Metadata["prUrl"])
			waitCandidate(t, a, mid, "svc-a", api.CandidateStatusRunning)

			// A late callback of the cancelled run is refused, not taken for the new run's.
			late := a.Do(t, http.MethodPost, "/event/"+runID, api.StepStatusEvent{StepName: "branch", CandidateId: "svc-a", Status: api.StepEventStatusSucceeded, DispatchId: first.DispatchId})
			require.Equal(t, http.StatusConflict, late.Status, string(late.Body))
			require.Contains(t, late.Error(), "earlier")
			ok := a.Do(t, http.MethodPost, "/event/"+runID, api.StepStatusEvent{StepName: "branch", CandidateId: "svc-a", Status: api.StepEventStatusSucceeded, DispatchId: second.DispatchId})
			require.Equal(t, http.StatusAccepted, ok.Status, string(ok.Body))
			require.Equal(t, "pr", mig.NextDispatch(t, waitFor).StepName)
		})
	}
}

// TestCancelMidDispatch cancels while the migrator is unreachable and dispatch is retrying.
func TestCancelMidDispatch(t *testing.T) {
	mig := testsupport.NewMigrator(t)
	r, a := startDrover(t, newStore(t, "sqlite"))
	mid := migrationID(t, "sqlite")
	require.Equal(t, http.StatusOK, a.Do(t, http.MethodPost, "/registry/announce", announcement(mid, mig.URL)).Status)
	mig.FailNextDispatches(503, 503, 503, 503, 503, 503)

	require.Equal(t, http.StatusAccepted, a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/start", nil).Status)
	// The step shows the failing attempts while dispatch is retried.
	testsupport.Eventually(t, waitFor, func() (bool, string) {
		_, rs := steps(t, a, mid, "svc-a")
		if len(rs.Steps) == 0 {
			return false, "no step yet"
		}
		s := rs.Steps[0]
		return s.Attempts >= 2 && strings.Contains(s.LastError, "503"), fmt.Sprintf("attempts %d, last error %q", s.Attempts, s.LastError)
	})
	resp := a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/cancel", nil)
	require.Equal(t, http.StatusNoContent, resp.Status, string(resp.Body))
	require.Equal(t, api.CandidateStatusNotStarted, candidates(t, a, mid)["svc-a"].Status)
	mig.NoDispatch(t, 3*time.Second) // longer than the back-off: no retry after cancel
	recordHistories(t, r.Client, mid+"__svc-a", "cancelled-mid-dispatch")
}

// TestDispatchFailures: 5xx answers are retried with back-off; a 4xx fails
// the step with the migrator's message, and a retry dispatches again.
func TestDispatchFailures(t *testing.T) {
	mig := testsupport.NewMigrator(t)
	r, a := startDrover(t, newStore(t, "sqlite"))
	mid := migrationID(t, "sqlite")
	require.Equal(t, http.StatusOK, a.Do(t, http.MethodPost, "/registry/announce", announcement(mid, mig.URL)).Status)

	mig.FailNextDispatches(502, 500)
	require.Equal(t, http.StatusAccepted, a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/start", nil).Status)
	d := mig.NextDispatch(t, waitFor)
	require.Equal(t, "branch", d.StepName)
	require.Len(t, mig.Dispatches(), 1)

	_, rs := steps(t, a, mid, "svc-a")
	require.Equal(t, 2, rs.Steps[0].Attempts, "two failed attempts were recorded")

	mig.FailNextDispatches(422)
	require.Equal(t, http.StatusAccepted, event(t, a, d.CallbackId, "svc-a", "branch", api.StepEventStatusSucceeded, nil).Status)
	st := waitStep(t, a, mid, "svc-a", "pr", api.StepStatusFailed)
	require.Contains(t, st.LastError, "422")
	require.Contains(t, st.LastError, "scripted failure")
	mig.NoDispatch(t, 2*time.Second) // a 4xx is not retried

	require.Equal(t, http.StatusAccepted, a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-a/retry-step", api.RetryStepRequest{StepName: "pr"}).Status)
	require.Equal(t, "pr", mig.NextDispatch(t, waitFor).StepName)
	waitStep(t, a, mid, "svc-a", "pr", api.StepStatusInProgress)
	recordHistories(t, r.Client, mid+"__svc-a", "rejected-then-retried")
}

// TestPerCandidateSteps: a candidate's own steps replace the migration's.
func TestPerCandidateSteps(t *testing.T) {
	mig := testsupport.NewMigrator(t)
	_, a := startDrover(t, newStore(t, "redis"))
	mid := migrationID(t, "redis")
	require.Equal(t, http.StatusOK, a.Do(t, http.MethodPost, "/registry/announce", announcement(mid, mig.URL)).Status)
	resp := a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-c/start", api.StartRunRequest{Inputs: map[string]string{"team": "t"}})
	require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	d := mig.NextDispatch(t, waitFor)
	require.Equal(t, "only-step", d.StepName)
	require.Equal(t, http.StatusAccepted, event(t, a, d.CallbackId, "svc-c", "only-step", api.StepEventStatusSucceeded, nil).Status)
	waitCandidate(t, a, mid, "svc-c", api.CandidateStatusCompleted)
	_, rs := steps(t, a, mid, "svc-c")
	require.Equal(t, []string{"only-step"}, stateNames(rs.Steps))
	mig.NoDispatch(t, 300*time.Millisecond)
}

func stepNames(s []api.StepDefinition) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = x.Name
	}
	return out
}

func stateNames(s []api.StepState) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = x.StepName
	}
	return out
}
