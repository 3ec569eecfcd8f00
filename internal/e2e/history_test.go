package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
)

// RecordEnv names the directory end-to-end tests write the histories of their runs to, for the
// workflow replay tests (see the README, "Recording a replay fixture"); unset, nothing is written.
const RecordEnv = "DROVER_RECORD_HISTORIES"

// recordPrefix starts the names of the fixtures this build records; a change to the workflow's
// commands gets a new one, so that the histories of earlier builds stay as they were.
const recordPrefix = "v6-"

// executions returns the histories of a run's executions, oldest first, following its
// continue-as-new chain from the first execution.
func executions(t *testing.T, c client.Client, runID, firstExecution string) []*historypb.History {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*historypb.History
	for exec := firstExecution; exec != ""; {
		h := &historypb.History{}
		it := c.GetWorkflowHistory(ctx, runID, exec, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatalf("history of %s/%s: %v", runID, exec, err)
			}
			h.Events = append(h.Events, ev)
		}
		out = append(out, h)
		exec = ""
		if last := h.Events[len(h.Events)-1]; last.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW {
			exec = last.GetWorkflowExecutionContinuedAsNewEventAttributes().GetNewExecutionRunId()
		}
	}
	return out
}

// firstExecution is the run id of the run's first execution (that is, of its current chain).
func firstExecution(t *testing.T, c client.Client, runID string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	desc, err := c.DescribeWorkflowExecution(ctx, runID, "")
	if err != nil {
		t.Fatalf("describe %s: %v", runID, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if f := info.GetFirstRunId(); f != "" {
		return f
	}
	return info.GetExecution().GetRunId()
}

// recordHistories writes the run's histories as replay fixtures named name when RecordEnv is set.
func recordHistories(t *testing.T, c client.Client, runID, name string) {
	t.Helper()
	dir := os.Getenv(RecordEnv)
	if dir == "" {
		return
	}
	// A continued run keeps its first execution, the one after it and its last: enough to
	// replay every way an execution starts and ends.
	hs := executions(t, c, runID, firstExecution(t, c, runID))
	name = recordPrefix + name
	files := map[int]string{0: name + ".json"}
	if len(hs) > 1 {
		files[1] = name + "-next.json"
		files[len(hs)-1] = name + "-last.json"
	}
	for i, file := range files {
		h := hs[i]
		raw, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, file), append(raw, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %d events to %s", len(h.Events), file)
	}
}
