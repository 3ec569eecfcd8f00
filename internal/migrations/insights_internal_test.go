package migrations

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/pkg/api"
)

// TestInsightsOf: a scripted history with known durations gives known figures.
func TestInsightsOf(t *testing.T) {
	day := func(d, h, m int) time.Time { return time.Date(2026, 5, d, h, m, 0, 0, time.UTC) }
	m := api.Migration{Id: "m", Steps: []api.StepDefinition{{Name: "open-pr"}, {Name: "review", Type: ManualReviewType}},
		Counts: api.CandidateCounts{NotStarted: 6, Running: 2, Completed: 2}}
	ev := func(cid string, kind api.HistoryEventKind, at time.Time, step string) api.HistoryEvent {
		return api.HistoryEvent{CandidateId: cid, Kind: kind, At: at, StepName: step}
	}
	outcome := func(cid string, kind api.HistoryEventKind, at time.Time, step string, started, acked time.Time) api.HistoryEvent {
		e := ev(cid, kind, at, step)
		e.StepStartedAt, e.AcknowledgedAt = started, acked
		return e
	}
	failed := func(cid string, at time.Time, msg string) api.HistoryEvent {
		e := ev(cid, api.HistoryFailed, at, "open-pr")
		e.Error = msg
		return e
	}
	finished := func(cid string, at time.Time) api.HistoryEvent {
		e := ev(cid, api.HistoryRunFinished, at, "")
		e.RunStatus = api.RunStatusCompleted
		return e
	}
	evs := []api.HistoryEvent{
		ev("c1", api.HistoryRunStarted, day(8, 10, 0), ""),
		outcome("c1", api.HistorySucceeded, day(8, 10, 10), "open-pr", day(8, 10, 0), day(8, 10, 1)),
		outcome("c1", api.HistorySucceeded, day(8, 12, 10), "review", day(8, 10, 10), day(8, 10, 15)),
		finished("c1", day(8, 12, 10)),
		ev("c2", api.HistoryRunStarted, day(9, 9, 0), ""),
		failed("c2", day(9, 9, 5), "CI is red"),
		ev("c2", api.HistoryRetried, day(9, 9, 35), "open-pr"),
		outcome("c2", api.HistoryMerged, day(9, 9, 40), "open-pr", day(9, 9, 0), day(9, 9, 36)),
		outcome("c2", api.HistorySucceeded, day(9, 10, 40), "review", day(9, 9, 40), day(9, 9, 41)),
		finished("c2", day(9, 10, 40)),
		ev("c3", api.HistoryRunStarted, day(10, 8, 0), ""),
		failed("c3", day(10, 8, 1), "conflict"),
	}
	now := day(10, 12, 0)
	got := insightsOf(m, evs, day(1, 0, 0), now)

	require.Equal(t, 10, got.Total)
	require.Equal(t, 8, got.Remaining)
	require.Equal(t, []api.StepInsight{
		{StepName: "open-pr", Finished: 4, Succeeded: 2, Failed: 2, Retried: 1, FailureRate: 0.5, RetryRate: 0.25,
			P50Seconds: 600, P95Seconds: 2400, MaxSeconds: 2400, WaitingOnPeopleSeconds: 1800},
		{StepName: "review", Finished: 2, Succeeded: 2, FailureRate: 0, P50Seconds: 3600, P95Seconds: 7200, MaxSeconds: 7200,
			WaitingOnPeopleSeconds: (115 + 59) * 60},
	}, got.Steps)

	require.Len(t, got.Days, 10)
	require.Equal(t, "2026-05-01", got.Days[0].Day)
	require.Equal(t, api.DayInsight{Day: "2026-05-08", Started: 1, Completed: 1, Remaining: 9}, got.Days[7])
	require.Equal(t, api.DayInsight{Day: "2026-05-09", Started: 1, Completed: 1, Failed: 1, Remaining: 8}, got.Days[8])
	require.Equal(t, api.DayInsight{Day: "2026-05-10", Started: 1, Failed: 1, Remaining: 8}, got.Days[9])
	require.Equal(t, 10, got.Days[0].Remaining)

	// 2 completions since the first start 50 hours ago: 8 remaining take 200 hours more.
	require.InDelta(t, 2/(50.0/24), got.CompletedPerDay, 1e-9)
	require.Equal(t, now.Add(200*time.Hour), got.ProjectedCompletion)

	require.Len(t, got.RecentFailures, 2)
	require.Equal(t, "conflict", got.RecentFailures[0].Error, "newest first")
	require.Equal(t, "CI is red", got.RecentFailures[1].Error)

	// Nothing completed: no projection.
	none := insightsOf(m, evs[10:], day(1, 0, 0), now)
	require.Zero(t, none.CompletedPerDay)
	require.True(t, none.ProjectedCompletion.IsZero())
}
