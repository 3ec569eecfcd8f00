package migrations_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

func TestStepHistory(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	min := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	accepted := api.StepState{StepName: "s", Status: api.StepStatusInProgress, StartedAt: min(0), UpdatedAt: min(1), AcknowledgedAt: min(1), DispatchId: "x/s/1"}
	silent := accepted
	silent.TimedOutAt, silent.UpdatedAt = min(10), min(10)
	redelivered := accepted
	redelivered.Redeliveries, redelivered.AcknowledgedAt, redelivered.UpdatedAt = 1, time.Time{}, min(10)
	pending := accepted
	pending.Status, pending.Metadata, pending.UpdatedAt = api.StepStatusPending, map[string]string{"prUrl": "u", "ci": "running"}, min(2)
	morePending := pending
	morePending.Metadata, morePending.UpdatedAt = map[string]string{"prUrl": "u", "ci": "green"}, min(3)
	overdue := morePending
	overdue.TimedOutAt, overdue.UpdatedAt = min(30), min(30)
	merged := morePending
	merged.Status, merged.FinishedAt, merged.UpdatedAt = api.StepStatusMerged, min(40), min(40)

	type ev struct {
		Kind api.HistoryEventKind
		At   time.Time
	}
	for _, tc := range []struct {
		name       string
		prev, next api.StepState
		want       []ev
	}{
		{"an accepted dispatch", api.StepState{StepName: "s", Status: api.StepStatusInProgress, StartedAt: min(0), UpdatedAt: min(0), DispatchId: "x/s/1"}, accepted, []ev{{api.HistoryAcknowledged, min(1)}}},
		{"silence", accepted, silent, []ev{{api.HistorySilent, min(10)}}},
		{"a redelivery", accepted, redelivered, []ev{{api.HistoryRedelivered, min(10)}}},
		{"pending", accepted, pending, []ev{{api.HistoryPending, min(2)}}},
		{"new metadata of a pending step", pending, morePending, []ev{{api.HistoryPending, min(3)}}},
		{"overdue", morePending, overdue, []ev{{api.HistoryOverdue, min(30)}}},
		{"merged", morePending, merged, []ev{{api.HistoryMerged, min(40)}}},
		{"the same state again", merged, merged, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []ev
			for _, e := range migrations.StepHistory("x", tc.prev, true, tc.next) {
				require.Equal(t, "x", e.ExecutionId)
				require.Equal(t, 1, e.Try)
				got = append(got, ev{e.Kind, e.At})
			}
			require.Equal(t, tc.want, got)
		})
	}
	// Only what changed goes with a pending event.
	evs := migrations.StepHistory("x", pending, true, morePending)
	require.Equal(t, map[string]string{"ci": "green"}, evs[0].Metadata)
	// A step that had not started is dispatched when it starts.
	evs = migrations.StepHistory("x", api.StepState{}, false, api.StepState{StepName: "s", Status: api.StepStatusInProgress, StartedAt: min(0), UpdatedAt: min(0), DispatchId: "x/s/1"})
	require.Len(t, evs, 1)
	require.Equal(t, api.HistoryDispatched, evs[0].Kind)
}
