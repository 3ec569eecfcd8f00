package rollout_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/migrations/rollout"
)

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("c%02d", i)
	}
	return out
}

func waves(ms []rollout.Member) []int {
	out := make([]int, len(ms))
	for i, m := range ms {
		out[i] = m.Wave
	}
	return out
}

func TestAssign(t *testing.T) {
	for name, tc := range map[string]struct {
		waves []int
		n     int
		want  []int
	}{
		"no waves":             {nil, 3, []int{0, 0, 0}},
		"canary then the rest": {[]int{1}, 4, []int{0, 1, 1, 1}},
		"1, 2, then the rest":  {[]int{1, 2}, 5, []int{0, 1, 1, 2, 2}},
		"fewer than the waves": {[]int{2, 5}, 3, []int{0, 0, 1}},
		"exactly the waves":    {[]int{1, 2}, 3, []int{0, 1, 1}},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, waves(rollout.Assign(rollout.Plan{Waves: tc.waves}, ids(tc.n))))
		})
	}
}

// sim drives a rollout the way its workflow would: it asks Next, starts what it says, and lets
// the test decide how runs end.
type sim struct {
	t   *testing.T
	p   rollout.Plan
	s   rollout.State
	now time.Time
}

func newSim(t *testing.T, p rollout.Plan, n int, now time.Time) *sim {
	require.NoError(t, p.Validate())
	return &sim{t: t, p: p, s: rollout.State{Members: rollout.Assign(p, ids(n))}, now: now}
}

// step asks for the next decision and applies its starts and pause.
func (s *sim) step() rollout.Decision {
	s.t.Helper()
	d, err := rollout.Next(s.p, s.s, s.now)
	require.NoError(s.t, err)
	s.s.Started(d.Start, s.now)
	if d.Pause != "" {
		s.s.Pause(d.Pause)
	}
	return d
}

func (s *sim) open() int {
	c := rollout.Counts(s.s.Members)
	return c[rollout.Running]
}

func TestWavesWaitForThePreviousOne(t *testing.T) {
	s := newSim(t, rollout.Plan{Waves: []int{1, 2}}, 5, time.Unix(0, 0))
	d := s.step()
	require.Equal(t, []string{"c00"}, d.Start, "the canary alone")
	require.Equal(t, rollout.ForWave, s.step().Wait)
	s.s.Set("c00", rollout.Completed)
	d = s.step()
	require.Equal(t, []string{"c01", "c02"}, d.Start)
	require.Equal(t, 1, d.Wave)
	s.s.Set("c01", rollout.Completed)
	require.Equal(t, rollout.ForWave, s.step().Wait, "a wave starts when all of the previous one completed")
	s.s.Set("c02", rollout.Completed)
	require.Equal(t, []string{"c03", "c04"}, s.step().Start, "then the rest")
	require.Equal(t, rollout.ForRuns, s.step().Wait)
	s.s.Set("c03", rollout.Completed)
	s.s.Set("c04", rollout.Cancelled)
	require.True(t, s.step().Done)
}

func TestApprovalBetweenWaves(t *testing.T) {
	s := newSim(t, rollout.Plan{Waves: []int{1}, ApproveWaves: true}, 3, time.Unix(0, 0))
	require.Equal(t, []string{"c00"}, s.step().Start, "the first wave needs no approval")
	s.s.Set("c00", rollout.Completed)
	require.Equal(t, rollout.ForApproval, s.step().Wait)
	s.s.Approve(1)
	require.Equal(t, []string{"c01", "c02"}, s.step().Start)
}

func TestMaxConcurrentNeverExceeded(t *testing.T) {
	for _, holds := range []bool{false, true} {
		t.Run(fmt.Sprintf("failed holds its slot: %v", holds), func(t *testing.T) {
			s := newSim(t, rollout.Plan{MaxConcurrent: 3, FailedHoldsSlot: holds}, 20, time.Unix(0, 0))
			finished := 0
			for i := 0; finished < 20; i++ {
				require.Less(t, i, 100)
				d := s.step()
				require.LessOrEqual(t, s.open()+rollout.Counts(s.s.Members)[rollout.Failed]*b(holds), 3)
				if len(d.Start) == 0 && rollout.Counts(s.s.Members)[rollout.Waiting] > 0 {
					require.Equal(t, rollout.ForSlot, d.Wait, "%+v", d)
				}
				// The oldest open run finishes: c05 fails first and is retried later.
				for _, m := range s.s.Members {
					if m.Status == rollout.Running {
						if m.ID == "c05" && rollout.Counts(s.s.Members)[rollout.Failed] == 0 && s.s.Failures == 0 {
							s.s.Set(m.ID, rollout.Failed)
						} else {
							s.s.Set(m.ID, rollout.Completed)
							finished++
						}
						break
					}
				}
				if s.s.Failures == 1 && i == 12 {
					s.s.Set("c05", rollout.Running) // the operator retried it
				}
			}
			require.True(t, s.step().Done)
		})
	}
}

func b(v bool) int {
	if v {
		return 1
	}
	return 0
}

func TestStartRate(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	s := newSim(t, rollout.Plan{StartsPerMinute: 2}, 3, t0)
	require.Equal(t, []string{"c00"}, s.step().Start, "one start per interval")
	d := s.step()
	require.Equal(t, rollout.ForRate, d.Wait)
	require.Equal(t, t0.Add(30*time.Second), d.Until)
	s.now = d.Until
	require.Equal(t, []string{"c01"}, s.step().Start)
	s.now = s.now.Add(29 * time.Second)
	require.Equal(t, rollout.ForRate, s.step().Wait)

	h := newSim(t, rollout.Plan{StartsPerHour: 4}, 2, t0)
	h.step()
	require.Equal(t, t0.Add(15*time.Minute), h.step().Until)
}

func TestPauseAfterFailuresAndResume(t *testing.T) {
	s := newSim(t, rollout.Plan{MaxConcurrent: 2, PauseAfterFailures: 2}, 6, time.Unix(0, 0))
	require.Equal(t, []string{"c00", "c01"}, s.step().Start)
	s.s.Set("c00", rollout.Failed)
	require.Equal(t, []string{"c02"}, s.step().Start, "one failure is not enough")
	s.s.Set("c01", rollout.Failed)
	d := s.step()
	require.Empty(t, d.Start)
	require.Contains(t, d.Pause, "2 runs failed")
	require.Equal(t, rollout.ForResume, s.step().Wait, "stays paused")
	s.s.Resume()
	require.Equal(t, []string{"c03"}, s.step().Start, "resumed: the old failures no longer count")
	s.s.Set("c00", rollout.Running) // retried
	s.s.Set("c00", rollout.Failed)  // and failed again: one more failure
	require.Empty(t, s.step().Pause)
	s.s.Set("c02", rollout.Failed)
	require.Contains(t, s.step().Pause, "2 runs failed")
}

func TestPauseAtFailureRate(t *testing.T) {
	s := newSim(t, rollout.Plan{PauseAtFailureRate: 0.5, MinFinished: 4}, 8, time.Unix(0, 0))
	require.Len(t, s.step().Start, 8)
	s.s.Set("c00", rollout.Failed)
	s.s.Set("c01", rollout.Failed)
	s.s.Set("c02", rollout.Completed)
	require.Empty(t, s.step().Pause, "3 finished: below the minimum")
	s.s.Set("c03", rollout.Completed)
	d := s.step()
	require.Contains(t, d.Pause, "2 of 4 finished runs failed")
	s.s.Resume()
	require.Empty(t, s.step().Pause, "a resume is not paused again by the same failures")
	s.s.Set("c04", rollout.Failed)
	require.Contains(t, s.step().Pause, "3 of 5")
}

func TestWindow(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	weekdays := &rollout.Window{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "09:00", End: "17:00", TimeZone: "Europe/Berlin"}
	for name, tc := range map[string]struct {
		w        *rollout.Window
		now      time.Time
		wantOpen time.Time // zero: open now
	}{
		"inside":                       {weekdays, time.Date(2026, 12, 1, 10, 0, 0, 0, berlin), time.Time{}},
		"before it opens today":        {weekdays, time.Date(2026, 12, 1, 7, 30, 0, 0, berlin), time.Date(2026, 12, 1, 9, 0, 0, 0, berlin)},
		"after it closed: tomorrow":    {weekdays, time.Date(2026, 12, 1, 17, 0, 0, 0, berlin), time.Date(2026, 12, 2, 9, 0, 0, 0, berlin)},
		"friday evening: monday":       {weekdays, time.Date(2026, 12, 4, 18, 0, 0, 0, berlin), time.Date(2026, 12, 7, 9, 0, 0, 0, berlin)},
		"given in UTC, judged locally": {weekdays, time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), time.Time{}},
		"overnight, past midnight": {&rollout.Window{Start: "22:00", End: "06:00", TimeZone: "UTC"},
			time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC), time.Time{}},
		"overnight, in the day": {&rollout.Window{Start: "22:00", End: "06:00", TimeZone: "UTC"},
			time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)},
		// Sunday 29 March 2026 the clocks go from 02:00 to 03:00 in Berlin: a 02:30 start is read
		// with the old offset, 03:30 summer time, and a 01:00 one is unchanged.
		"spring forward skips the start": {&rollout.Window{Start: "02:30", End: "04:00", TimeZone: "Europe/Berlin"},
			time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC), time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)},
		// Sunday 25 October 2026 02:00–03:00 happens twice; a 09:00 start the next day is 08:00 UTC
		// again (winter time), an hour later in UTC than the day before.
		"after falling back":  {weekdays, time.Date(2026, 10, 26, 6, 0, 0, 0, time.UTC), time.Date(2026, 10, 26, 8, 0, 0, 0, time.UTC)},
		"before falling back": {weekdays, time.Date(2026, 10, 23, 6, 0, 0, 0, time.UTC), time.Date(2026, 10, 23, 7, 0, 0, 0, time.UTC)},
	} {
		t.Run(name, func(t *testing.T) {
			s := newSim(t, rollout.Plan{Window: tc.w}, 1, tc.now)
			d := s.step()
			if tc.wantOpen.IsZero() {
				require.Equal(t, []string{"c00"}, d.Start)
				return
			}
			require.Empty(t, d.Start)
			require.Equal(t, rollout.ForWindow, d.Wait)
			require.True(t, tc.wantOpen.Equal(d.Until), "opens %s, want %s", d.Until.UTC(), tc.wantOpen.UTC())
			s.now = d.Until
			require.Equal(t, []string{"c00"}, s.step().Start, "it starts when the window opens")
		})
	}
}

func TestValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		p     rollout.Plan
		field string
	}{
		"negative concurrency": {rollout.Plan{MaxConcurrent: -1}, "maxConcurrent"},
		"empty wave":           {rollout.Plan{Waves: []int{1, 0}}, "waves[1]"},
		"too many waves":       {rollout.Plan{Waves: make([]int, 21)}, "waves"},
		"both rates":           {rollout.Plan{StartsPerMinute: 1, StartsPerHour: 1}, "startsPerHour"},
		"rate too high":        {rollout.Plan{StartsPerMinute: 61}, "startsPerMinute"},
		"failure rate above 1": {rollout.Plan{PauseAtFailureRate: 1.5}, "pauseAtFailureRate"},
		"unknown day":          {rollout.Plan{Window: &rollout.Window{Days: []string{"mon", "funday"}, Start: "09:00", End: "17:00", TimeZone: "UTC"}}, "window.days[1]"},
		"bad start":            {rollout.Plan{Window: &rollout.Window{Start: "9am", End: "17:00", TimeZone: "UTC"}}, "window.start"},
		"empty window":         {rollout.Plan{Window: &rollout.Window{Start: "09:00", End: "09:00", TimeZone: "UTC"}}, "window.end"},
		"unknown zone":         {rollout.Plan{Window: &rollout.Window{Start: "09:00", End: "17:00", TimeZone: "Mars/Olympus"}}, "window.timeZone"},
		"no zone":              {rollout.Plan{Window: &rollout.Window{Start: "09:00", End: "17:00"}}, "window.timeZone"},
	} {
		t.Run(name, func(t *testing.T) {
			var fe *rollout.FieldError
			require.True(t, errors.As(tc.p.Validate(), &fe), "want a field error")
			require.Equal(t, tc.field, fe.Field, fe.Error())
		})
	}
	require.NoError(t, rollout.Plan{MaxConcurrent: 2, Waves: []int{1}, StartsPerHour: 60, PauseAfterFailures: 3}.Validate())
}

func TestLastStartBy(t *testing.T) {
	mon9 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC) // a Monday
	weekdays := &rollout.Window{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "09:00", End: "17:00", TimeZone: "UTC"}
	cases := []struct {
		name string
		plan rollout.Plan
		n    int
		now  time.Time
		want time.Time
	}{
		{"no rate, no window", rollout.Plan{MaxConcurrent: 2}, 10, mon9, time.Time{}},
		{"nothing to start", rollout.Plan{StartsPerMinute: 1}, 0, mon9, time.Time{}},
		{"one a minute", rollout.Plan{StartsPerMinute: 1}, 10, mon9, mon9.Add(9 * time.Minute)},
		{"per hour", rollout.Plan{StartsPerHour: 4}, 3, mon9, mon9.Add(30 * time.Minute)},
		{"window closed now: first start when it opens", rollout.Plan{Window: weekdays}, 5, mon9.Add(-3 * time.Hour), mon9},
		// 8 hours a day at 1 a minute is 480 starts: the 481st is the next morning.
		{"rate spills into the next day", rollout.Plan{StartsPerMinute: 1, Window: weekdays}, 481, mon9, mon9.Add(24 * time.Hour)},
		{"Friday evening waits for Monday", rollout.Plan{StartsPerMinute: 1, Window: weekdays}, 2, mon9.Add(4*24*time.Hour + 7*time.Hour + 59*time.Minute), mon9.Add(7 * 24 * time.Hour)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rollout.LastStartBy(tc.plan, tc.n, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tc.want) {
				t.Fatalf("LastStartBy = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPauseReasonSaysOneRun(t *testing.T) {
	p := rollout.Plan{PauseAfterFailures: 1}
	s := rollout.State{Members: rollout.Assign(p, []string{"a", "b"})}
	s.Started([]string{"a"}, time.Unix(0, 0))
	s.Set("a", rollout.Failed)
	d, err := rollout.Next(p, s, time.Unix(60, 0))
	if err != nil {
		t.Fatal(err)
	}
	if d.Pause != "1 run failed (pauseAfterFailures 1)" {
		t.Fatalf("pause reason %q", d.Pause)
	}
}
