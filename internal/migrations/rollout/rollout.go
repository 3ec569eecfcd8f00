// Package rollout decides, for a rollout under way, what to do next: which of its candidates to
// start now, or until when to wait and for what, or why to pause. It is pure (no clock, no I/O)
// so that the rollout workflow can call it deterministically and tests can drive every timing
// edge: waves, concurrency, start rate, time windows and failure thresholds.
package rollout

import (
	"errors"
	"fmt"
	"time"
)

// Plan is how a rollout paces its candidates.
type Plan struct {
	// MaxConcurrent is how many of the rollout's runs may be open at once (0: no limit). A run
	// counts until it completes or is cancelled; a failed one waiting for a retry counts only
	// with FailedHoldsSlot.
	MaxConcurrent   int  `json:"maxConcurrent,omitempty"`
	FailedHoldsSlot bool `json:"failedHoldsSlot,omitempty"`
	// Waves are the sizes of the first waves, e.g. [1, 5, 25]; the rest is the last wave. A wave
	// starts once the one before has completed, and, with ApproveWaves, an operator approved it.
	Waves        []int `json:"waves,omitempty"`
	ApproveWaves bool  `json:"approveWaves,omitempty"`
	// StartsPerMinute or StartsPerHour (at most one) spaces the starts evenly (0: no limit).
	StartsPerMinute int `json:"startsPerMinute,omitempty"`
	StartsPerHour   int `json:"startsPerHour,omitempty"`
	// Window, when set, is when starts may happen.
	Window *Window `json:"window,omitempty"`
	// PauseAfterFailures pauses the rollout once that many of its runs have failed since it
	// started or last resumed (0: never). PauseAtFailureRate pauses it once that fraction of its
	// finished runs (completed or failed) has failed, judged from MinFinished finished runs on
	// (0: never).
	PauseAfterFailures int     `json:"pauseAfterFailures,omitempty"`
	PauseAtFailureRate float64 `json:"pauseAtFailureRate,omitempty"`
	MinFinished        int     `json:"minFinished,omitempty"`
}

// Limits of a plan.
const (
	MaxWaves         = 20
	MaxStartsPerHour = 3600
	// DefaultMinFinished is the number of finished runs before a failure rate is judged.
	DefaultMinFinished = 5
)

// FieldError names the field of a plan that is wrong.
type FieldError struct {
	Field, Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Reason) }

func fieldError(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Validate checks the plan, naming the first field that is wrong (a *FieldError).
func (p Plan) Validate() error {
	switch {
	case p.MaxConcurrent < 0:
		return fieldError("maxConcurrent", "%d is negative; 0 means no limit", p.MaxConcurrent)
	case len(p.Waves) > MaxWaves:
		return fieldError("waves", "has %d waves; at most %d", len(p.Waves), MaxWaves)
	case p.StartsPerMinute < 0 || p.StartsPerMinute > MaxStartsPerHour/60:
		return fieldError("startsPerMinute", "%d is outside 0 to %d", p.StartsPerMinute, MaxStartsPerHour/60)
	case p.StartsPerHour < 0 || p.StartsPerHour > MaxStartsPerHour:
		return fieldError("startsPerHour", "%d is outside 0 to %d", p.StartsPerHour, MaxStartsPerHour)
	case p.StartsPerMinute > 0 && p.StartsPerHour > 0:
		return fieldError("startsPerHour", "give startsPerMinute or startsPerHour, not both")
	case p.PauseAfterFailures < 0:
		return fieldError("pauseAfterFailures", "%d is negative; 0 means never", p.PauseAfterFailures)
	case p.PauseAtFailureRate < 0 || p.PauseAtFailureRate > 1:
		return fieldError("pauseAtFailureRate", "%g is outside 0 to 1 (a fraction of the finished runs)", p.PauseAtFailureRate)
	case p.MinFinished < 0:
		return fieldError("minFinished", "%d is negative", p.MinFinished)
	}
	for i, n := range p.Waves {
		if n < 1 {
			return fieldError(fmt.Sprintf("waves[%d]", i), "%d: a wave has at least one candidate", n)
		}
	}
	if p.Window != nil {
		if _, err := p.Window.compile("window"); err != nil {
			return err
		}
	}
	return nil
}

// interval is the spacing of starts, 0 without a rate limit.
func (p Plan) interval() time.Duration {
	switch {
	case p.StartsPerMinute > 0:
		return time.Minute / time.Duration(p.StartsPerMinute)
	case p.StartsPerHour > 0:
		return time.Hour / time.Duration(p.StartsPerHour)
	}
	return 0
}

// Status is where one of the rollout's candidates is.
type Status string

// Statuses of a rollout's candidates.
const (
	Waiting   Status = "waiting"   // not started by the rollout yet
	Running   Status = "running"   // its run is open and has not failed
	Failed    Status = "failed"    // its run has a failed step waiting for a retry
	Completed Status = "completed" // its run completed
	Cancelled Status = "cancelled" // its run was cancelled, or the rollout will not start it
	Skipped   Status = "skipped"   // started by someone else meanwhile: the rollout leaves it alone
)

// Member is one candidate of a rollout, in start order, with its wave.
type Member struct {
	ID     string `json:"id"`
	Wave   int    `json:"wave"`
	Status Status `json:"status"`
	// Started is when the rollout started the member's run (zero before).
	Started time.Time `json:"started,omitzero"`
}

// Assign puts the candidates, in order, into the plan's waves: the first Waves[0], then the
// next Waves[1], and so on; the rest is the last wave.
func Assign(p Plan, ids []string) []Member {
	out := make([]Member, len(ids))
	wave, left := 0, 0
	if len(p.Waves) > 0 {
		left = p.Waves[0]
	}
	for i, id := range ids {
		for wave < len(p.Waves) && left == 0 {
			wave++
			if wave < len(p.Waves) {
				left = p.Waves[wave]
			}
		}
		if wave < len(p.Waves) {
			left--
		}
		out[i] = Member{ID: id, Wave: wave, Status: Waiting}
	}
	return out
}

// State is what the rollout knows: its members and what has happened.
type State struct {
	Members []Member `json:"members"`
	// LastStart is when the rollout last started a run (for the start rate).
	LastStart time.Time `json:"lastStart,omitzero"`
	// Approved is the highest wave an operator has approved (waves up to it may start).
	Approved int `json:"approved"`
	// Paused, when not empty, says why the rollout is paused (an operator, or a threshold).
	Paused string `json:"paused,omitempty"`
	// Failures counts every time a member's run failed (a retried run that fails again counts
	// again); FailuresAtResume is that count when the rollout last resumed, and
	// PauseAfterFailures counts the failures since.
	Failures         int `json:"failures"`
	FailuresAtResume int `json:"failuresAtResume"`
	// RatePausedAt is the failure count at which the failure rate last paused the rollout, so
	// that a resume is not paused again until another run fails.
	RatePausedAt int `json:"ratePausedAt"`
}

// Wait says what a rollout that starts nothing now is waiting for.
type Wait string

// What a rollout waits for.
const (
	ForNothing  Wait = ""
	ForSlot     Wait = "slot"     // maxConcurrent runs are open
	ForWave     Wait = "wave"     // the previous wave has not completed
	ForApproval Wait = "approval" // the next wave waits for an operator
	ForWindow   Wait = "window"   // outside the time window; Until is when it opens
	ForRate     Wait = "rate"     // the start rate; Until is when the next start may happen
	ForResume   Wait = "resume"   // paused
	ForRuns     Wait = "runs"     // everything is started; the open runs have to finish
)

// Decision is what to do next.
type Decision struct {
	Start []string  // candidates to start now, in order
	Wait  Wait      // when Start is empty: what the rollout waits for
	Until time.Time // for ForWindow and ForRate: when to look again
	Pause string    // not empty: pause the rollout, for this reason
	Wave  int       // the wave the rollout is at
	Done  bool      // every member has completed, been cancelled or been skipped
}

// Counts tallies the members by status.
func Counts(members []Member) map[Status]int {
	c := map[Status]int{}
	for _, m := range members {
		c[m.Status]++
	}
	return c
}

// ErrNoWindow is returned for a plan whose window does not compile (validate plans first).
var ErrNoWindow = errors.New("rollout: the plan's window is not valid")

// Next decides what the rollout does at now.
func Next(p Plan, s State, now time.Time) (Decision, error) {
	c := Counts(s.Members)
	failed, finished := c[Failed], c[Completed]+c[Failed]
	wave := currentWave(s.Members)
	d := Decision{Wave: wave}
	if c[Waiting] == 0 && c[Running] == 0 && c[Failed] == 0 {
		d.Done = true
		return d, nil
	}
	if s.Paused == "" {
		if n := s.Failures - s.FailuresAtResume; p.PauseAfterFailures > 0 && n >= p.PauseAfterFailures {
			d.Pause = fmt.Sprintf("%d %s failed (pauseAfterFailures %d)", n, runs(n), p.PauseAfterFailures)
		} else if p.PauseAtFailureRate > 0 && failed > s.RatePausedAt && finished >= max(p.MinFinished, 1) &&
			float64(failed) >= p.PauseAtFailureRate*float64(finished) {
			d.Pause = fmt.Sprintf("%d of %d finished %s failed (pauseAtFailureRate %g)", failed, finished, runs(finished), p.PauseAtFailureRate)
		}
		if d.Pause != "" {
			d.Wait = ForResume
			return d, nil
		}
	}
	if s.Paused != "" {
		d.Wait = ForResume
		return d, nil
	}
	if c[Waiting] == 0 {
		d.Wait = ForRuns
		return d, nil
	}
	for _, m := range s.Members {
		if m.Wave < wave && (m.Status == Running || m.Status == Failed) {
			d.Wait = ForWave
			return d, nil
		}
	}
	if p.ApproveWaves && wave > s.Approved {
		d.Wait = ForApproval
		return d, nil
	}
	if p.Window != nil {
		w, err := p.Window.compile("window")
		if err != nil {
			return Decision{}, fmt.Errorf("%w: %w", ErrNoWindow, err)
		}
		if open := w.NextOpen(now); open.After(now) {
			d.Wait, d.Until = ForWindow, open
			return d, nil
		}
	}
	every := p.interval()
	if every > 0 && !s.LastStart.IsZero() && now.Before(s.LastStart.Add(every)) {
		d.Wait, d.Until = ForRate, s.LastStart.Add(every)
		return d, nil
	}
	free := len(s.Members)
	if p.MaxConcurrent > 0 {
		open := c[Running]
		if p.FailedHoldsSlot {
			open += c[Failed]
		}
		free = p.MaxConcurrent - open
	}
	if free <= 0 {
		d.Wait = ForSlot
		return d, nil
	}
	if every > 0 {
		free = 1 // one start per interval
	}
	for _, m := range s.Members {
		if len(d.Start) == free {
			break
		}
		if m.Wave == wave && m.Status == Waiting {
			d.Start = append(d.Start, m.ID)
		}
	}
	return d, nil
}

// currentWave is the lowest wave with a member still waiting to start (the last wave when none).
func currentWave(members []Member) int {
	wave, last := -1, 0
	for _, m := range members {
		last = max(last, m.Wave)
		if m.Status == Waiting && (wave < 0 || m.Wave < wave) {
			wave = m.Wave
		}
	}
	if wave < 0 {
		return last
	}
	return wave
}

// Started records that the rollout started ids at now.
func (s *State) Started(ids []string, now time.Time) {
	for _, id := range ids {
		s.Set(id, Running)
		for i := range s.Members {
			if s.Members[i].ID == id {
				s.Members[i].Started = now
			}
		}
	}
	if len(ids) > 0 {
		s.LastStart = now
	}
}

// Set records a member's status; ids the rollout does not have are ignored.
func (s *State) Set(id string, status Status) {
	for i := range s.Members {
		if s.Members[i].ID == id {
			if status == Failed && s.Members[i].Status != Failed {
				s.Failures++
			}
			s.Members[i].Status = status
			return
		}
	}
}

// Pause pauses the rollout for reason (an operator's, or a Decision's).
func (s *State) Pause(reason string) {
	s.Paused = reason
	s.RatePausedAt = Counts(s.Members)[Failed]
}

// Resume lifts a pause: failures so far no longer count toward PauseAfterFailures, and the
// failure rate pauses again only once another run fails.
func (s *State) Resume() {
	s.Paused, s.FailuresAtResume, s.RatePausedAt = "", s.Failures, Counts(s.Members)[Failed]
}

// Approve lets wave (and the waves before it) start.
func (s *State) Approve(wave int) { s.Approved = max(s.Approved, wave) }

// LastStartBy is the earliest time the last of n starts can happen, from now, at the plan's
// rate and in its window, as if every run took no time (waves and maxConcurrent only make it
// later). It is zero when the plan has neither a rate nor a window, or n is 0.
func LastStartBy(p Plan, n int, now time.Time) (time.Time, error) {
	gap := p.interval()
	if n <= 0 || (gap == 0 && p.Window == nil) {
		return time.Time{}, nil
	}
	var w *window
	if p.Window != nil {
		c, err := p.Window.compile("window")
		if err != nil {
			return time.Time{}, err
		}
		w = &c
	}
	t := now
	for i := range n {
		if i > 0 {
			t = t.Add(gap)
		}
		if w != nil {
			t = w.NextOpen(t)
		}
	}
	return t, nil
}

func runs(n int) string {
	if n == 1 {
		return "run"
	}
	return "runs"
}
