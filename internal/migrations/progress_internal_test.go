package migrations

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/pkg/api"
)

func TestProgressSeries(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	minute := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	cand := func(id string, run api.RunSummary) api.Candidate {
		return api.Candidate{Id: id, Kind: "service", Status: api.CandidateStatusRunning, Run: run}
	}
	// a started at 0 and completed at 5; b started at 2 and is still running; c started at 4
	// and was cancelled at 6 (started, never completed); d never ran.
	cs := []api.Candidate{
		cand("a", api.RunSummary{Status: api.RunStatusCompleted, StartedAt: minute(0), FinishedAt: minute(5)}),
		cand("b", api.RunSummary{Status: api.RunStatusRunning, StartedAt: minute(2)}),
		cand("c", api.RunSummary{Status: api.RunStatusCancelled, StartedAt: minute(4), FinishedAt: minute(6)}),
		{Id: "d", Kind: "service", Status: api.CandidateStatusNotStarted},
	}
	point := func(m, started, completed int) api.ProgressPoint {
		return api.ProgressPoint{At: minute(m), Started: started, Completed: completed}
	}

	cases := []struct {
		name   string
		cs     []api.Candidate
		points int
		now    time.Time
		want   []api.ProgressPoint
	}{
		{"nothing ever started", cs[3:], 60, minute(10), []api.ProgressPoint{}},
		{"no candidates", nil, 60, minute(10), []api.ProgressPoint{}},
		{"evenly spaced up to now, cumulative", cs, 6, minute(10), []api.ProgressPoint{
			point(0, 1, 0), point(2, 2, 0), point(4, 3, 0), point(6, 3, 1), point(8, 3, 1), point(10, 3, 1),
		}},
		{"two points: the first start and now", cs, 2, minute(10), []api.ProgressPoint{point(0, 1, 0), point(10, 3, 1)}},
		{"a start exactly at now", cs[1:2], 3, minute(2), []api.ProgressPoint{point(2, 1, 0)}},
		{"now behind a recorded time ends at that time", cs[:1], 2, minute(1), []api.ProgressPoint{point(0, 1, 0), point(5, 1, 1)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := progressSeries(tc.cs, tc.points, tc.now)
			require.Equal(t, len(tc.cs), got.Total)
			require.Equal(t, tc.want, got.Points)
		})
	}

	t.Run("points never share an instant", func(t *testing.T) {
		got := progressSeries(cs[1:2], 500, minute(2).Add(3*time.Nanosecond))
		require.Equal(t, 4, len(got.Points))
		for i := 1; i < len(got.Points); i++ {
			require.True(t, got.Points[i].At.After(got.Points[i-1].At))
		}
	})
	t.Run("a long span keeps exact spacing", func(t *testing.T) {
		now := minute(2).Add(10 * 365 * 24 * time.Hour)
		got := progressSeries(cs[1:2], 500, now)
		require.Equal(t, 500, len(got.Points))
		require.Equal(t, now, got.Points[499].At)
		require.Equal(t, minute(2), got.Points[0].At)
		step := got.Points[1].At.Sub(got.Points[0].At)
		for i := 1; i < len(got.Points); i++ {
			require.InDelta(t, float64(step), float64(got.Points[i].At.Sub(got.Points[i-1].At)), 1)
		}
	})
}
