package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/drover-dev/drover/internal/app"
	"github.com/drover-dev/drover/internal/platform/telemetry"
	"github.com/drover-dev/drover/internal/testsupport"
	"github.com/drover-dev/drover/pkg/api"
)

// TestTraceFromRequestToMigrator: an operator's start that carries a traceparent is one trace
// with the API request's span, the run's activities and the dispatch to the migrator, whose
// request carries the trace on (traceparent) to the migrator.
func TestTraceFromRequestToMigrator(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	mig := testsupport.NewMigrator(t)
	_, a := startDrover(t, newStore(t, "sqlite"), func(c *app.Config) { c.Tracing = telemetry.NewTracing(spans, "drover-test") })
	mid := migrationID(t, "sqlite")
	rolloutMigration(t, a, mid, mig.URL, 1)

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	traced := *a
	traced.Header = http.Header{"Traceparent": {"00-" + traceID + "-00f067aa0ba902b7-01"}}
	resp := traced.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-00/start", nil)
	require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	d := mig.NextDispatch(t, waitFor)
	require.Equal(t, http.StatusAccepted, event(t, a, d.CallbackId, "svc-00", d.StepName, api.StepEventStatusSucceeded, nil).Status)
	waitCandidate(t, a, mid, "svc-00", api.CandidateStatusCompleted)

	tps := mig.TraceParents()
	require.Len(t, tps, 1)
	require.True(t, strings.HasPrefix(tps[0], "00-"+traceID+"-"), "the dispatch carries the operator's trace on: %q", tps[0])

	names := map[string]bool{}
	for _, s := range spans.Ended() {
		if s.SpanContext().TraceID().String() == traceID {
			names[s.Name()] = true
		}
	}
	for _, want := range []string{
		"POST /migrations/:migrationId/candidates/:candidateId/start",
		"activity Dispatch",
		"POST migrator /dispatch-step",
	} {
		require.True(t, names[want], "span %q in the operator's trace; the trace has %v", want, names)
	}
	var callback bool
	for _, s := range spans.Ended() {
		callback = callback || s.Name() == "POST /event/:runId"
	}
	require.True(t, callback, "the migrator's callback is a span too (its own trace: it sent no traceparent)")
}
