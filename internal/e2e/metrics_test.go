package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/testsupport"
	"github.com/drover-dev/drover/pkg/api"
)

// TestMetricsAfterRuns scrapes GET /metrics of a real Drover after a run that failed once, was
// retried and completed, and one left failed: the run, step, dispatch, HTTP, open-run and
// attention figures are there, with the Temporal SDK's worker metrics, and no candidate id.
func TestMetricsAfterRuns(t *testing.T) {
	mig := testsupport.NewMigrator(t)
	_, a := startDrover(t, newStore(t, "sqlite"))
	mid := migrationID(t, "sqlite")
	rolloutMigration(t, a, mid, mig.URL, 2)
	start := func(cid string) {
		t.Helper()
		resp := a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/"+cid+"/start", nil)
		require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	}
	start("svc-00")
	answerStep(t, a, mig.NextDispatch(t, waitFor), api.StepEventStatusFailed)
	waitStep(t, a, mid, "svc-00", "branch", api.StepStatusFailed)
	resp := a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-00/retry-step", api.RetryStepRequest{StepName: "branch"})
	require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	answerStep(t, a, mig.NextDispatch(t, waitFor), api.StepEventStatusSucceeded)
	waitCandidate(t, a, mid, "svc-00", api.CandidateStatusCompleted)
	start("svc-01")
	answerStep(t, a, mig.NextDispatch(t, waitFor), api.StepEventStatusFailed)
	waitStep(t, a, mid, "svc-01", "branch", api.StepStatusFailed)

	resp = a.Do(t, http.MethodGet, "/metrics", nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	text := string(resp.Body)
	m := `migration="` + mid + `"`
	for _, want := range []string{
		`drover_runs_started_total{` + m + `} 2`,
		`drover_runs_finished_total{` + m + `,status="completed"} 1`,
		`drover_steps_finished_total{` + m + `,outcome="failed",step="branch"} 2`,
		`drover_steps_finished_total{` + m + `,outcome="succeeded",step="branch"} 1`,
		`drover_dispatch_attempts_total{kind="dispatch",` + m + `,result="ok"} 3`,
		`drover_step_duration_seconds_count{` + m + `,outcome="succeeded",step="branch"} 1`,
		`drover_open_runs{` + m + `} 1`,
		`drover_attention{kind="failed",` + m + `} 1`,
		`drover_http_requests_total{code="202",method="POST",route="/event/:runId"} 3`,
		`drover_temporal_call_duration_seconds_count{operation="StartRun",result="ok"} 2`,
		`drover_store_up 1`,
		`drover_live_events_published_total{result="ok"} `,
		`drover_live_streams 0`,
		`temporal_workflow_task_execution_latency_seconds_count{`,
		`temporal_activity_execution_latency_seconds_count{`,
		`go_goroutines `,
	} {
		require.True(t, hasLine(text, want), "no line starting %q in /metrics", want)
	}
	require.NotContains(t, text, `"svc-00"`, "a candidate id is never a label")

	// Every metric the Grafana dashboard in docs/ queries is one Drover exports.
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "grafana", "drover.json"))
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	require.NoError(t, json.Unmarshal(raw, &dash))
	require.NotEmpty(t, dash.Panels)
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, name := range metricNames.FindAllString(tg.Expr, -1) {
				require.True(t, hasLine(text, name+"{") || hasLine(text, name+" "), "panel %q queries %s, which /metrics does not have", p.Title, name)
			}
		}
	}
}

// metricNames finds the metric names in a PromQL expression (Drover's and the Temporal SDK's).
var metricNames = regexp.MustCompile(`\b(drover|temporal)_[a-z_]+\b`)

func hasLine(text, prefix string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}
