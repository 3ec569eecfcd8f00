package migrations

import (
	"context"
	"slices"
	"time"

	"github.com/drover-dev/drover/pkg/api"
)

// Bounds of the progress series' number of points, mirrored in schemas/openapi.yaml.
const (
	DefaultProgressPoints = 60
	MinProgressPoints     = 2
	MaxProgressPoints     = 500
)

// Progress returns the migration's progress over time, for a chart: at most points points (0
// means DefaultProgressPoints) evenly spaced from the earliest start of a candidate's latest
// run until now, each counting the latest runs that had started, and that had completed, by
// then. It is computed from the cached candidate list, so polling it costs no store read while
// the migration does not change.
func (s *Service) Progress(ctx context.Context, migrationID string, points int) (api.Progress, error) {
	if points == 0 {
		points = DefaultProgressPoints
	}
	if points < MinProgressPoints || points > MaxProgressPoints {
		return api.Progress{}, Invalid("points", "%d is out of range: expected %d to %d", points, MinProgressPoints, MaxProgressPoints)
	}
	cs, err := s.candidateList(ctx, migrationID)
	if err != nil {
		return api.Progress{}, err
	}
	return progressSeries(cs, points, s.now().UTC()), nil
}

// progressSeries builds the series of Progress over cs's run summaries as of now. A run counts
// as started from its StartedAt, and as completed from its FinishedAt when its status is
// completed. When now is behind a recorded time (clocks of different hosts), the series ends
// at the latest recorded time instead, so that its last point counts every run.
func progressSeries(cs []api.Candidate, points int, now time.Time) api.Progress {
	out := api.Progress{Total: len(cs), Points: []api.ProgressPoint{}}
	starts, completions := runTimes(cs)
	if len(starts) == 0 {
		return out
	}
	first := starts[0]
	end := now
	for _, last := range []time.Time{starts[len(starts)-1], lastOf(completions)} {
		if last.After(end) {
			end = last
		}
	}
	span := end.Sub(first)
	n := points
	if int64(span) < int64(n-1) {
		n = int(span) + 1 // no two points at the same instant
	}
	started, completed := 0, 0
	for i := range n {
		at := end
		if i < n-1 {
			at = first.Add(spaced(span, i, n-1))
		}
		for started < len(starts) && !starts[started].After(at) {
			started++
		}
		for completed < len(completions) && !completions[completed].After(at) {
			completed++
		}
		out.Points = append(out.Points, api.ProgressPoint{At: at, Started: started, Completed: completed})
	}
	return out
}

// runTimes returns, sorted, the start times of the candidates' latest runs and the finish
// times of those that completed.
func runTimes(cs []api.Candidate) (starts, completions []time.Time) {
	for _, c := range cs {
		if c.Run.StartedAt.IsZero() {
			continue
		}
		starts = append(starts, c.Run.StartedAt)
		if c.Run.Status == api.RunStatusCompleted && !c.Run.FinishedAt.IsZero() {
			completions = append(completions, c.Run.FinishedAt)
		}
	}
	slices.SortFunc(starts, time.Time.Compare)
	slices.SortFunc(completions, time.Time.Compare)
	return starts, completions
}

// spaced is i/parts of span, exactly, without overflowing for long spans.
func spaced(span time.Duration, i, parts int) time.Duration {
	p := time.Duration(parts)
	return span/p*time.Duration(i) + span%p*time.Duration(i)/p
}

func lastOf(ts []time.Time) time.Time {
	if len(ts) == 0 {
		return time.Time{}
	}
	return ts[len(ts)-1]
}
