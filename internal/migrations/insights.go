package migrations

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/drover-dev/drover/pkg/api"
)

// Bounds of the insights' window, in days.
const (
	DefaultInsightDays = 30
	MaxInsightDays     = 365
	// projectionDays is the window of the recent completion rate the projection uses.
	projectionDays = 7
	// recentFailures is how many failed steps insights list.
	recentFailures = 20
)

// Insights tells where a migration's time goes, what fails and when it will be done, from the
// run history of the last days days (0: DefaultInsightDays).
func (s *Service) Insights(ctx context.Context, migrationID string, days int) (api.Insights, error) {
	if err := ValidateMigrationID("migrationId", migrationID); err != nil {
		return api.Insights{}, err
	}
	if days == 0 {
		days = DefaultInsightDays
	}
	if days < 1 || days > MaxInsightDays {
		return api.Insights{}, Invalid("days", "%d is out of range (expected 1 to %d)", days, MaxInsightDays)
	}
	v, err := s.insights.get(ctx, fmt.Sprintf("migration/%s/%d", migrationID, days), s.insightsBucket(), func(ctx context.Context) (any, error) {
		m, err := s.store.GetMigration(ctx, migrationID)
		if err != nil {
			return nil, s.notFoundOrUnavailable(fmt.Errorf("insights of %s: %w", migrationID, err), migrationID, "")
		}
		now := s.now().UTC()
		since := startOfDay(now).AddDate(0, 0, -(days - 1))
		evs, err := s.store.ListOutcomes(ctx, migrationID, since)
		if err != nil {
			return nil, s.notFoundOrUnavailable(fmt.Errorf("insights of %s: %w", migrationID, err), migrationID, "")
		}
		return insightsOf(m, evs, since, now), nil
	})
	if err != nil {
		return api.Insights{}, err
	}
	return v.(api.Insights), nil
}

// insightsTTL is how long computed insights are reused: a projection in days and a per-day
// chart do not move in seconds, and a migration's insights read its whole outcome log.
const insightsTTL = 15 * time.Second

// insightsBucket names the insightsTTL-long slot of time that now falls in.
func (s *Service) insightsBucket() string {
	return strconv.FormatInt(s.now().Unix()/int64(insightsTTL/time.Second), 10)
}

// insightsOf computes the insights of migration m (its definition and counts) from its outcome
// events evs since since (oldest first), as of now.
func insightsOf(m api.Migration, evs []api.HistoryEvent, since, now time.Time) api.Insights {
	c := m.Counts
	total := c.NotStarted + c.Running + c.Completed
	out := api.Insights{MigrationId: m.Id, Since: since, GeneratedAt: now, Total: total, Completed: c.Completed,
		Remaining: total - c.Completed, Steps: []api.StepInsight{}, Days: []api.DayInsight{}, RecentFailures: []api.HistoryEvent{}}

	type stepAcc struct {
		api.StepInsight
		durations []float64
	}
	steps := map[string]*stepAcc{}
	step := func(name string) *stepAcc {
		if steps[name] == nil {
			steps[name] = &stepAcc{StepInsight: api.StepInsight{StepName: name}}
		}
		return steps[name]
	}
	person := map[string]bool{}
	for _, d := range m.Steps {
		step(d.Name)
		person[d.Name] = WaitsForPerson(d)
	}
	nDays := int(startOfDay(now).Sub(since).Hours()/24) + 1
	perDay := make([]api.DayInsight, nDays)
	for i := range perDay {
		perDay[i].Day = since.AddDate(0, 0, i).Format(time.DateOnly)
	}
	day := func(t time.Time) *api.DayInsight {
		i := int(startOfDay(t.UTC()).Sub(since).Hours() / 24)
		if i < 0 || i >= nDays {
			return nil
		}
		return &perDay[i]
	}
	failedAt := map[string]time.Time{} // candidate/step -> when it last failed, until retried
	var failures []api.HistoryEvent
	var firstStart time.Time
	for _, e := range evs {
		d := day(e.At)
		key := e.CandidateId + "/" + e.StepName
		switch e.Kind {
		case api.HistoryRunStarted:
			if firstStart.IsZero() {
				firstStart = e.At
			}
			if d != nil {
				d.Started++
			}
		case api.HistoryRunFinished:
			if e.RunStatus == api.RunStatusCompleted && d != nil {
				d.Completed++
			}
		case api.HistorySucceeded, api.HistoryMerged:
			st := step(e.StepName)
			st.Finished++
			st.Succeeded++
			if !e.StepStartedAt.IsZero() && !e.At.Before(e.StepStartedAt) {
				st.durations = append(st.durations, e.At.Sub(e.StepStartedAt).Seconds())
			}
			if person[e.StepName] && !e.AcknowledgedAt.IsZero() && !e.At.Before(e.AcknowledgedAt) {
				st.WaitingOnPeopleSeconds += e.At.Sub(e.AcknowledgedAt).Seconds()
			}
		case api.HistoryFailed:
			st := step(e.StepName)
			st.Finished++
			st.Failed++
			failedAt[key] = e.At
			failures = append(failures, e)
			if d != nil {
				d.Failed++
			}
		case api.HistoryRetried:
			st := step(e.StepName)
			st.Retried++
			if f, ok := failedAt[key]; ok && !e.At.Before(f) {
				st.WaitingOnPeopleSeconds += e.At.Sub(f).Seconds()
				delete(failedAt, key)
			}
		}
	}

	// Remaining at the end of each day: today's is the current count; earlier days add back the
	// completions that came after them.
	remaining := out.Remaining
	for i := nDays - 1; i >= 0; i-- {
		perDay[i].Remaining = remaining
		remaining += perDay[i].Completed
	}
	out.Days = perDay

	window := float64(projectionDays)
	if !firstStart.IsZero() {
		if since := now.Sub(firstStart).Hours() / 24; since < window {
			window = max(since, 1)
		}
	}
	recent := 0
	for i := max(nDays-projectionDays, 0); i < nDays; i++ {
		recent += perDay[i].Completed
	}
	if recent > 0 {
		out.CompletedPerDay = float64(recent) / window
		if out.Remaining > 0 {
			out.ProjectedCompletion = now.Add(time.Duration(float64(out.Remaining) / out.CompletedPerDay * float64(24*time.Hour))).Truncate(time.Second)
		} else {
			out.ProjectedCompletion = now.Truncate(time.Second)
		}
	}

	names := make([]string, 0, len(steps))
	for _, d := range m.Steps {
		names = append(names, d.Name)
	}
	for name := range steps {
		if !slices.Contains(names, name) {
			names = append(names, name) // a step of an earlier definition
		}
	}
	for _, name := range names {
		st := steps[name]
		if st.Finished > 0 {
			st.FailureRate = float64(st.Failed) / float64(st.Finished)
			st.RetryRate = float64(st.Retried) / float64(st.Finished)
		}
		if len(st.durations) > 0 {
			slices.Sort(st.durations)
			st.P50Seconds = quantile(st.durations, 0.50)
			st.P95Seconds = quantile(st.durations, 0.95)
			st.MaxSeconds = st.durations[len(st.durations)-1]
		}
		out.Steps = append(out.Steps, st.StepInsight)
	}

	slices.Reverse(failures)
	out.RecentFailures = append(out.RecentFailures, failures[:min(len(failures), recentFailures)]...)
	return out
}

// quantile is the q-quantile of sorted values, by the nearest rank.
func quantile(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func startOfDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// InsightsOverview sums every migration's insights of the last days days (0:
// DefaultInsightDays) and says, per migration, how far it is and when it will be done.
func (s *Service) InsightsOverview(ctx context.Context, days int) (api.InsightsOverview, error) {
	if days == 0 {
		days = DefaultInsightDays
	}
	if days < 1 || days > MaxInsightDays {
		return api.InsightsOverview{}, Invalid("days", "%d is out of range (expected 1 to %d)", days, MaxInsightDays)
	}
	v, err := s.insights.get(ctx, fmt.Sprintf("overview/%d", days), s.insightsBucket(), func(ctx context.Context) (any, error) {
		return s.overview(ctx, days)
	})
	if err != nil {
		return api.InsightsOverview{}, err
	}
	return v.(api.InsightsOverview), nil
}

// overview computes the insights overview.
func (s *Service) overview(ctx context.Context, days int) (api.InsightsOverview, error) {
	ms, err := s.store.ListMigrations(ctx, false)
	if err != nil {
		return api.InsightsOverview{}, storeErr(fmt.Errorf("insights overview: %w", err))
	}
	now := s.now().UTC()
	since := startOfDay(now).AddDate(0, 0, -(days - 1))
	all := make([]api.Insights, 0, len(ms))
	for _, m := range ms {
		evs, err := s.store.ListOutcomes(ctx, m.Id, since)
		if errors.Is(err, ErrMigrationNotFound) {
			continue // deleted between the two reads
		}
		if err != nil {
			return api.InsightsOverview{}, storeErr(fmt.Errorf("insights overview: %s: %w", m.Id, err))
		}
		all = append(all, insightsOf(m, evs, since, now))
	}
	return overviewOf(ms, all, since, now), nil
}

// overviewOf sums the insights of migrations ms (one per migration, in the same order, but for
// those gone meanwhile).
func overviewOf(ms []api.Migration, all []api.Insights, since, now time.Time) api.InsightsOverview {
	out := api.InsightsOverview{Since: since, GeneratedAt: now, Days: []api.DayInsight{}, Migrations: []api.MigrationInsight{},
		RecentFailures: []api.HistoryEvent{}}
	names := map[string]string{}
	for _, m := range ms {
		names[m.Id] = m.Name
	}
	projected := true
	var failures []api.HistoryEvent
	for _, in := range all {
		out.Total += in.Total
		out.Remaining += in.Remaining
		out.Completed += in.Completed
		out.CompletedPerDay += in.CompletedPerDay
		switch {
		case in.Remaining == 0:
		case in.ProjectedCompletion.IsZero():
			projected = false
		case in.ProjectedCompletion.After(out.ProjectedCompletion):
			out.ProjectedCompletion = in.ProjectedCompletion
		}
		if len(out.Days) == 0 {
			out.Days = make([]api.DayInsight, len(in.Days))
			for i, d := range in.Days {
				out.Days[i].Day = d.Day
			}
		}
		for i, d := range in.Days {
			out.Days[i].Started += d.Started
			out.Days[i].Completed += d.Completed
			out.Days[i].Failed += d.Failed
			out.Days[i].Remaining += d.Remaining
		}
		mi := api.MigrationInsight{MigrationId: in.MigrationId, Name: names[in.MigrationId], Total: in.Total, Remaining: in.Remaining,
			Completed: in.Completed, CompletedPerDay: in.CompletedPerDay, ProjectedCompletion: in.ProjectedCompletion}
		var slowest, failing float64
		for _, st := range in.Steps {
			mi.Failed += st.Failed
			if st.P95Seconds > slowest {
				slowest, mi.SlowestStep = st.P95Seconds, st.StepName
			}
			if float64(st.Failed) > failing {
				failing, mi.MostFailingStep = float64(st.Failed), st.StepName
			}
		}
		out.Migrations = append(out.Migrations, mi)
		for _, f := range in.RecentFailures {
			f.MigrationId = in.MigrationId
			failures = append(failures, f)
		}
	}
	if !projected || out.Remaining == 0 && out.Completed == 0 {
		out.ProjectedCompletion = time.Time{}
	} else if out.Remaining == 0 {
		out.ProjectedCompletion = now.Truncate(time.Second)
	}
	slices.SortStableFunc(failures, func(a, b api.HistoryEvent) int { return b.At.Compare(a.At) })
	out.RecentFailures = append(out.RecentFailures, failures[:min(len(failures), recentFailures)]...)
	return out
}
