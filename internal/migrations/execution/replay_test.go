package execution_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/migrations/execution"
)

// TestReplayRecordedHistories replays histories of real runs, recorded from earlier builds,
// against the current workflow code: a change that would break runs in flight (a new command
// sequence without workflow.GetVersion, or a payload the code can no longer decode) fails here.
//
//   - v0-pending-manual.json: recorded with testdata/record at 8691a6d, before the exact
//     contract; its steps' config holds a boolean and a list, which StepConfig must still decode.
//   - v1-pending-manual-review.json: the exact contract's shapes (migratorApp, string config,
//     type manual-review).
//   - v2-bounded-retries.json: a run with the bounded-dispatch-retries version marker.
//   - v3-*.json: recorded by the end-to-end tests (DROVER_RECORD_HISTORIES, see the README) with
//     the step-timeouts and continue-as-new markers, one per path: completed after a failure,
//     rejected then retried, gave up then retried, silent then retried, pending then cancelled,
//     cancelled mid-dispatch, and a run continued as new (its first, second and last execution).
//   - v4-*.json: the cancel paths again, with the cancel-notice marker and the notice's start.
//   - v5-*.json: step-timeouts version 2 (callbacks heard before timers that fire with them):
//     completed after a failure, silent then retried, both cancel paths, continued as new.
//   - v5-rollout-*.json: the rollout workflow's first version: completed (continued as new on
//     the way: its first, second and last execution), paused by failures then resumed, and
//     cancelled with its runs.
//   - v6-rollout-*.json: the same paths with the rollout-follow-open marker (it asks only about
//     its open runs).
//   - v6-notify-*.json: the notification workflow's first version: delivered after a retry, and
//     refused (not retried).
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/replay/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			hist, err := client.HistoryFromJSON(mustOpen(t, f), client.HistoryJSONOptions{})
			require.NoError(t, err)
			// A workflow's id is its run's (or rollout's) id, which the workflow uses (e.g. in
			// its cancel notice's id): replay under the id the input names, not a stand-in.
			start := hist.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes()
			dc := converter.GetDefaultDataConverter()
			r := worker.NewWorkflowReplayer()
			var id string
			switch name := start.GetWorkflowType().GetName(); name {
			case execution.WorkflowName:
				var in migrations.RunInput
				require.NoError(t, dc.FromPayloads(start.GetInput(), &in))
				id = migrations.RunID(in.MigrationID, in.CandidateID)
				r.RegisterWorkflowWithOptions(execution.Run, workflow.RegisterOptions{Name: execution.WorkflowName})
			case execution.RolloutWorkflowName:
				var in migrations.RolloutInput
				require.NoError(t, dc.FromPayloads(start.GetInput(), &in))
				id = migrations.RolloutWorkflowID(in.MigrationID, in.RolloutID)
				r.RegisterWorkflowWithOptions(execution.Rollout, workflow.RegisterOptions{Name: execution.RolloutWorkflowName})
			case execution.NotifyWorkflowName:
				var in migrations.DeliveryInput
				require.NoError(t, dc.FromPayloads(start.GetInput(), &in))
				id = "drover-notify/" + in.WebhookID + "/" + in.Notification.Id
				r.RegisterWorkflowWithOptions(execution.Notify, workflow.RegisterOptions{Name: execution.NotifyWorkflowName})
			default:
				t.Fatalf("a history of workflow %q, which the replay test does not know", name)
			}
			require.NoError(t, r.ReplayWorkflowHistoryWithOptions(nil, hist, worker.ReplayWorkflowHistoryOptions{
				OriginalExecution: workflow.Execution{ID: id},
			}))
		})
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	return f
}
