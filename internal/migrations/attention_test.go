package migrations_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

func TestAttention(t *testing.T) {
	auto := api.StepDefinition{Name: "pr"}
	manual := api.StepDefinition{Name: "review", Manual: true}
	review := api.StepDefinition{Name: "review", Type: migrations.ManualReviewType}
	otherType := api.StepDefinition{Name: "review", Type: "pull-request"}
	state := func(status api.StepStatus, attempts int, lastError string) api.StepState {
		return api.StepState{StepName: "pr", Status: status, Attempts: attempts, LastError: lastError}
	}
	cases := []struct {
		name string
		step api.StepState
		def  api.StepDefinition
		want api.Attention
	}{
		{"failed", state(api.StepStatusFailed, 1, "CI is red"), auto, api.AttentionFailed},
		{"failed manual step", state(api.StepStatusFailed, 0, ""), manual, api.AttentionFailed},
		{"failed without a message", state(api.StepStatusFailed, 0, ""), auto, api.AttentionFailed},
		{"pending manual step waits for a person", state(api.StepStatusPending, 1, ""), manual, api.AttentionWaiting},
		{"pending automatic step waits for the migrator", state(api.StepStatusPending, 1, ""), auto, ""},
		{"pending manual-review step waits for a person", state(api.StepStatusPending, 1, ""), review, api.AttentionWaiting},
		{"pending step of another type waits for the migrator", state(api.StepStatusPending, 1, ""), otherType, ""},
		{"in progress manual-review step not yet acknowledged", state(api.StepStatusInProgress, 0, ""), review, ""},
		{"in progress manual step not yet acknowledged", state(api.StepStatusInProgress, 0, ""), manual, ""},
		{"third failed dispatch", state(api.StepStatusInProgress, 3, "migrator answered 503"), auto, api.AttentionRetrying},
		{"many failed dispatches", state(api.StepStatusInProgress, 12, "connection refused"), manual, api.AttentionRetrying},
		{"second failed dispatch", state(api.StepStatusInProgress, 2, "migrator answered 503"), auto, ""},
		{"attempts without an error", state(api.StepStatusInProgress, 5, ""), auto, ""},
		{"succeeded", state(api.StepStatusSucceeded, 4, ""), manual, ""},
		{"merged", state(api.StepStatusMerged, 1, ""), auto, ""},
		{"pending after failed dispatches", state(api.StepStatusPending, 3, "timeout"), auto, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, migrations.Attention(tc.step, tc.def))
		})
	}
}

func TestNeedsAttention(t *testing.T) {
	running := api.Candidate{Id: "a", Status: api.CandidateStatusRunning, Run: api.RunSummary{Status: api.RunStatusRunning, Attention: api.AttentionFailed}}
	require.True(t, migrations.NeedsAttention(running))
	calm := running
	calm.Run.Attention = ""
	require.False(t, migrations.NeedsAttention(calm))
	done := running
	done.Status = api.CandidateStatusCompleted
	require.False(t, migrations.NeedsAttention(done), "only running candidates need an operator")
}
