package migrations_test

import (
	"testing"
	"time"

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
	timedOut := func(status api.StepStatus) api.StepState {
		return api.StepState{StepName: "pr", Status: status, AcknowledgedAt: time.Unix(10, 0), TimedOutAt: time.Unix(70, 0)}
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
		{"accepted and silent", timedOut(api.StepStatusInProgress), auto, api.AttentionSilent},
		{"manual step silent", timedOut(api.StepStatusInProgress), manual, api.AttentionSilent},
		{"pending past its timeout", timedOut(api.StepStatusPending), auto, api.AttentionOverdue},
		{"manual step past its timeout is overdue, not only waiting", timedOut(api.StepStatusPending), manual, api.AttentionOverdue},
		{"failed after its timeout", timedOut(api.StepStatusFailed), auto, api.AttentionFailed},
		{"succeeded after its timeout", timedOut(api.StepStatusSucceeded), auto, ""},
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

func TestAttentionSinceAndRetryable(t *testing.T) {
	acked := time.Unix(10, 0)
	silent := api.StepState{Status: api.StepStatusInProgress, AcknowledgedAt: acked, TimedOutAt: time.Unix(70, 0)}
	require.Equal(t, acked, migrations.AttentionSince(silent, api.AttentionSilent))
	require.True(t, migrations.AttentionSince(silent, api.AttentionFailed).IsZero(), "only the kinds about time have a since")
	require.True(t, migrations.Retryable(silent))
	waiting := api.StepState{Status: api.StepStatusPending, AcknowledgedAt: acked}
	require.False(t, migrations.Retryable(waiting), "pending within its timeout")
	require.True(t, migrations.Retryable(api.StepState{Status: api.StepStatusFailed}))
	require.False(t, migrations.Retryable(api.StepState{Status: api.StepStatusSucceeded, TimedOutAt: time.Unix(70, 0)}))
}

func TestStepTimeout(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "30m": 30 * time.Minute, "1h30m": 90 * time.Minute, "1s": time.Second, "8760h": 8760 * time.Hour} {
		got, err := migrations.StepTimeout(api.StepDefinition{Timeout: in})
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for in, words := range map[string]string{"soon": "not a duration", "999ms": "outside", "8761h": "outside", "-5m": "outside"} {
		_, err := migrations.StepTimeout(api.StepDefinition{Timeout: in})
		require.ErrorContains(t, err, words, in)
	}
}
