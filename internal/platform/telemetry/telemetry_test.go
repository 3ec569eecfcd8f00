package telemetry_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/migrations/store"
	"github.com/drover-dev/drover/internal/migrations/store/storetest"
	"github.com/drover-dev/drover/internal/platform/telemetry"
	"github.com/drover-dev/drover/pkg/api"
)

func sqlite(tb testing.TB) *store.SQLiteStore {
	tb.Helper()
	st, err := store.OpenSQLite(filepath.Join(tb.TempDir(), "drover.db"))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = st.Close() })
	return st
}

// scrape returns the metrics as Prometheus would read them.
func scrape(t *testing.T, m *telemetry.Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(raw)
}

// requireLine asserts that the exposition has a sample line starting with want (name, labels,
// value).
func requireLine(t *testing.T, text, want string) {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, want) {
			return
		}
	}
	require.Failf(t, "no such sample", "want a line starting %q in:\n%s", want, grep(text, strings.SplitN(want, "{", 2)[0]))
}

func grep(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The instrumented store is still a store: the whole conformance suite passes through it.
func TestInstrumentedStoreConforms(t *testing.T) {
	storetest.RunConformance(t, func(tb testing.TB) migrations.MigrationStore { return telemetry.New().Store(sqlite(tb)) })
}

func TestRunAndStepMetrics(t *testing.T) {
	ctx := context.Background()
	m := telemetry.New()
	st := m.Store(sqlite(t))
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	require.NoError(t, st.SaveMigration(ctx, api.Migration{Id: "m1", Name: "M", MigratorUrl: "http://x", CreatedAt: t0, UpdatedAt: t0,
		Steps: []api.StepDefinition{{Name: "open-pr", MigratorApp: "a"}, {Name: "review", MigratorApp: "a"}}}))
	require.NoError(t, st.MergeCandidates(ctx, "m1", []api.CandidateInput{{Id: "c1", Kind: "svc"}, {Id: "c2", Kind: "svc"}}, t0))
	for _, c := range []string{"c1", "c2"} {
		require.NoError(t, st.BeginRun(ctx, migrations.RunRecord{RunID: "m1__" + c, ExecutionID: "e-" + c, MigrationID: "m1", CandidateID: c,
			Status: api.RunStatusRunning, StepNames: []string{"open-pr", "review"}, StartedAt: t0}))
	}
	// c1: open-pr answered after 2 s, then pending (a pull request) until 60 s: merged.
	pending := api.StepState{StepName: "open-pr", Status: api.StepStatusPending, StartedAt: t0, AcknowledgedAt: t0.Add(2 * time.Second)}
	require.NoError(t, st.PutStepState(ctx, "m1", "c1", "e-c1", pending, ""))
	merged := pending
	merged.Status, merged.FinishedAt = api.StepStatusMerged, t0.Add(time.Minute)
	require.NoError(t, st.PutStepState(ctx, "m1", "c1", "e-c1", merged, ""))
	require.NoError(t, st.FinishRun(ctx, "m1", "c1", "e-c1", api.RunStatusCompleted, api.CandidateStatusCompleted, t0.Add(time.Minute)))
	// c2: open-pr failed after 3 s, and the run stays open.
	failed := api.StepState{StepName: "open-pr", Status: api.StepStatusFailed, StartedAt: t0, FinishedAt: t0.Add(3 * time.Second), LastError: "boom"}
	require.NoError(t, st.PutStepState(ctx, "m1", "c2", "e-c2", failed, api.AttentionFailed))
	// A write that fails counts as a store error, not as a run.
	err := st.FinishRun(ctx, "no-such", "c9", "e", api.RunStatusCompleted, api.CandidateStatusCompleted, t0)
	require.Error(t, err)

	text := scrape(t, m)
	requireLine(t, text, `drover_runs_started_total{migration="m1"} 2`)
	requireLine(t, text, `drover_runs_finished_total{migration="m1",status="completed"} 1`)
	requireLine(t, text, `drover_steps_finished_total{migration="m1",outcome="merged",step="open-pr"} 1`)
	requireLine(t, text, `drover_steps_finished_total{migration="m1",outcome="failed",step="open-pr"} 1`)
	requireLine(t, text, `drover_step_duration_seconds_sum{migration="m1",outcome="merged",step="open-pr"} 60`)
	requireLine(t, text, `drover_step_duration_seconds_sum{migration="m1",outcome="failed",step="open-pr"} 3`)
	requireLine(t, text, `drover_step_wait_seconds_sum{migration="m1",on="migrator",step="open-pr"} 2`)
	requireLine(t, text, `drover_step_wait_seconds_sum{migration="m1",on="person",step="open-pr"} 58`)
	requireLine(t, text, `drover_store_operation_errors_total{operation="FinishRun"} 1`)
	requireLine(t, text, `drover_store_operation_duration_seconds_count{operation="PutStepState"} 3`)
	require.NotContains(t, text, `c1"`, "a candidate id is never a label")
	require.NotContains(t, text, "no-such", "a failed write counts no run")
}

// gauges is a GaugeSource answering as told.
type gauges struct {
	gs  []migrations.MigrationGauge
	err error
}

func (g *gauges) read(context.Context) ([]migrations.MigrationGauge, error) { return g.gs, g.err }

func TestStateIsReadAtScrape(t *testing.T) {
	m := telemetry.New()
	src := &gauges{gs: []migrations.MigrationGauge{{ID: "m1", Running: 3, Attention: map[api.Attention]int{api.AttentionSilent: 2}}}}
	require.NoError(t, m.Register(telemetry.State(src.read)))
	text := scrape(t, m)
	requireLine(t, text, `drover_open_runs{migration="m1"} 3`)
	requireLine(t, text, `drover_attention{kind="silent",migration="m1"} 2`)
	requireLine(t, text, `drover_attention{kind="failed",migration="m1"} 0`)
	requireLine(t, text, `drover_store_up 1`)

	src.gs, src.err = nil, errors.New("redis: connection refused")
	text = scrape(t, m)
	requireLine(t, text, `drover_store_up 0`)
	require.NotContains(t, text, "drover_open_runs{", "no stale figures when the read model does not answer")
}

func TestHTTPMetricsHaveBoundedLabels(t *testing.T) {
	m := telemetry.New()
	m.ObserveHTTP("/event/:runId", http.MethodPost, 202, 30*time.Millisecond)
	m.ObserveHTTP("", http.MethodGet, 404, time.Millisecond)
	m.ObserveHTTP("", "BREW", 405, time.Millisecond)
	text := scrape(t, m)
	requireLine(t, text, `drover_http_requests_total{code="202",method="POST",route="/event/:runId"} 1`)
	requireLine(t, text, `drover_http_requests_total{code="404",method="GET",route="unmatched"} 1`)
	requireLine(t, text, `drover_http_requests_total{code="405",method="other",route="unmatched"} 1`)
	requireLine(t, text, `drover_http_request_duration_seconds_count{method="POST",route="/event/:runId"} 1`)
}

func TestTemporalSDKMetrics(t *testing.T) {
	m := telemetry.New()
	h := m.Temporal().WithTags(map[string]string{"namespace": "default", "task_queue": "drover"})
	h.Counter("temporal_request").Inc(2)
	h.WithTags(map[string]string{"operation": "StartWorkflowExecution", "workflow_id": "m1__c1"}).Counter("temporal_request").Inc(1)
	h.Gauge("temporal_num_pollers").Update(2)
	h.WithTags(map[string]string{"workflow_type": "drover.Run"}).Timer("temporal_workflow_task_execution_latency").Record(250 * time.Millisecond)
	text := scrape(t, m)
	requireLine(t, text, `temporal_request_total{activity_type="",namespace="default",operation="",poller_type="",status_code="",task_queue="drover",worker_type="",workflow_type=""} 2`)
	requireLine(t, text, `temporal_request_total{activity_type="",namespace="default",operation="StartWorkflowExecution"`)
	requireLine(t, text, `temporal_num_pollers{`)
	requireLine(t, text, `temporal_workflow_task_execution_latency_seconds_sum{activity_type="",namespace="default",operation="",poller_type="",status_code="",task_queue="drover",worker_type="",workflow_type="drover.Run"} 0.25`)
	require.NotContains(t, text, "m1__c1", "a workflow id is never a label")
}
