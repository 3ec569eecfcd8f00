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

// TestOverviewOf: the overview sums the migrations' figures day by day, projects the latest of
// their completions, and names each one's slowest and most failing step.
func TestOverviewOf(t *testing.T) {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	since := time.Date(2026, 5, 9, 0, 0, 0, 0, time.UTC)
	fail := func(cid string, h int) api.HistoryEvent {
		return api.HistoryEvent{CandidateId: cid, Kind: api.HistoryFailed, At: now.Add(-time.Duration(h) * time.Hour), Error: cid}
	}
	a := api.Insights{MigrationId: "a", Total: 10, Remaining: 4, Completed: 6, CompletedPerDay: 2, ProjectedCompletion: now.Add(48 * time.Hour),
		Days:           []api.DayInsight{{Day: "2026-05-09", Started: 3, Completed: 2, Remaining: 6}, {Day: "2026-05-10", Started: 1, Completed: 2, Failed: 1, Remaining: 4}},
		Steps:          []api.StepInsight{{StepName: "open-pr", Failed: 1, P95Seconds: 60}, {StepName: "review", P95Seconds: 3600}},
		RecentFailures: []api.HistoryEvent{fail("a1", 1)}}
	b := api.Insights{MigrationId: "b", Total: 5, Remaining: 5, CompletedPerDay: 0.5, ProjectedCompletion: now.Add(240 * time.Hour),
		Days:           []api.DayInsight{{Day: "2026-05-09", Remaining: 5}, {Day: "2026-05-10", Failed: 3, Remaining: 5}},
		Steps:          []api.StepInsight{{StepName: "bump", Failed: 3, P95Seconds: 10}},
		RecentFailures: []api.HistoryEvent{fail("b1", 3), fail("b2", 0)}}
	ms := []api.Migration{{Id: "a", Name: "A"}, {Id: "b", Name: "B"}}
	got := overviewOf(ms, []api.Insights{a, b}, since, now)

	require.Equal(t, [3]int{15, 9, 6}, [3]int{got.Total, got.Remaining, got.Completed}, "total, remaining, completed")
	require.InDelta(t, 2.5, got.CompletedPerDay, 1e-9)
	require.Equal(t, now.Add(240*time.Hour), got.ProjectedCompletion, "done when the slowest is done")
	require.Equal(t, []api.DayInsight{{Day: "2026-05-09", Started: 3, Completed: 2, Remaining: 11}, {Day: "2026-05-10", Started: 1, Completed: 2, Failed: 4, Remaining: 9}}, got.Days)
	require.Equal(t, []api.MigrationInsight{
		{MigrationId: "a", Name: "A", Total: 10, Remaining: 4, Completed: 6, Failed: 1, CompletedPerDay: 2, ProjectedCompletion: now.Add(48 * time.Hour), SlowestStep: "review", MostFailingStep: "open-pr"},
		{MigrationId: "b", Name: "B", Total: 5, Remaining: 5, Failed: 3, CompletedPerDay: 0.5, ProjectedCompletion: now.Add(240 * time.Hour), SlowestStep: "bump", MostFailingStep: "bump"},
	}, got.Migrations)
	var order []string
	for _, f := range got.RecentFailures {
		order = append(order, f.MigrationId+"/"+f.Error)
	}
	require.Equal(t, []string{"b/b2", "a/a1", "b/b1"}, order, "newest first, across migrations")

	// One migration with candidates left and no recent completions: no overall projection.
	b.ProjectedCompletion, b.CompletedPerDay = time.Time{}, 0
	require.True(t, overviewOf(ms, []api.Insights{a, b}, since, now).ProjectedCompletion.IsZero())
	// Nothing left anywhere: done now.
	a.Remaining, b.Remaining = 0, 0
	require.Equal(t, now, overviewOf(ms, []api.Insights{a, b}, since, now).ProjectedCompletion)
	// No migrations at all.
	empty := overviewOf(nil, nil, since, now)
	require.True(t, empty.ProjectedCompletion.IsZero())
	require.Equal(t, []api.DayInsight{}, empty.Days)
}
