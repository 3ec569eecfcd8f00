package migrations

import (
	"time"

	"github.com/drover-dev/drover/internal/migrations/rollout"
	"github.com/drover-dev/drover/pkg/api"
)

// SignalRolloutControl is the signal that carries an operator's RolloutControl to a rollout.
const SignalRolloutControl = "rollout-control"

// RolloutControl is an operator's command to a rollout.
type RolloutControl struct {
	Action     string `json:"action"` // pause, resume, approve, cancel
	Reason     string `json:"reason,omitempty"`
	CancelRuns bool   `json:"cancelRuns,omitempty"` // with cancel: also cancel its open runs
}

// Rollout controls.
const (
	ActionPause   = "pause"
	ActionResume  = "resume"
	ActionApprove = "approve"
	ActionCancel  = "cancel"
)

// RolloutInput is what a rollout workflow starts with; a continued one carries its state.
type RolloutInput struct {
	MigrationID string            `json:"migrationId"`
	RolloutID   string            `json:"rolloutId"`
	Plan        rollout.Plan      `json:"plan"`
	Candidates  []string          `json:"candidates"` // fixed when the rollout is created, in start order
	Inputs      map[string]string `json:"inputs,omitempty"`
	CreatedBy   string            `json:"createdBy,omitempty"`
	// Poll is how often it looks at its runs while it waits for them (0: the workflow's default).
	Poll      time.Duration `json:"poll,omitempty"`
	CreatedAt time.Time     `json:"createdAt"`
	// ContinueAfter is the history length at which the rollout continues as new (0: the
	// run workflow's default).
	ContinueAfter int            `json:"continueAfter,omitempty"`
	State         *rollout.State `json:"state,omitempty"`
}

// RolloutWorkflowID is the engine's id of a rollout; a run's id (migration__candidate) never
// has three parts, so the two cannot collide.
func RolloutWorkflowID(migrationID, rolloutID string) string {
	return "rollout" + RunIDSeparator + migrationID + RunIDSeparator + rolloutID
}

// RolloutSnapshot is a rollout as it stands after a decision: what the read model shows.
type RolloutSnapshot struct {
	Input       *RolloutInput // the rollout's plan and creation
	MigrationID string
	RolloutID   string
	Status      api.RolloutStatus
	Paused      string       // why, when paused
	Waiting     rollout.Wait // what it waits for
	Until       time.Time    // when it looks again, for the window and the rate
	Wave        int
	State       rollout.State
	At          time.Time
}

// View is the snapshot as the API shows the rollout.
func (s RolloutSnapshot) View() api.Rollout {
	r := api.Rollout{
		Id: s.RolloutID, MigrationId: s.MigrationID, Status: s.Status, PausedReason: s.Paused,
		WaitingFor: api.RolloutWait(s.Waiting), Until: s.Until, Wave: s.Wave, Total: len(s.State.Members),
		UpdatedAt: s.At, Members: make([]api.RolloutMember, len(s.State.Members)), Waves: []api.RolloutWave{},
	}
	if in := s.Input; in != nil {
		p := in.Plan
		r.CreatedAt, r.CreatedBy, r.Inputs = in.CreatedAt, in.CreatedBy, in.Inputs
		r.MaxConcurrent, r.FailedHoldsSlot, r.ApproveWaves = p.MaxConcurrent, p.FailedHoldsSlot, p.ApproveWaves
		r.StartsPerMinute, r.StartsPerHour = p.StartsPerMinute, p.StartsPerHour
		r.PauseAfterFailures, r.PauseAtFailureRate, r.MinFinished = p.PauseAfterFailures, float32(p.PauseAtFailureRate), p.MinFinished
		if w := p.Window; w != nil {
			r.Window = api.RolloutWindow{Start: w.Start, End: w.End, TimeZone: w.TimeZone}
			for _, d := range w.Days {
				r.Window.Days = append(r.Window.Days, api.RolloutWindowDays(d))
			}
		}
	}
	for i, m := range s.State.Members {
		r.Members[i] = api.RolloutMember{Id: m.ID, Wave: m.Wave, Status: api.RolloutMemberStatus(m.Status)}
		for len(r.Waves) <= m.Wave {
			r.Waves = append(r.Waves, api.RolloutWave{})
		}
		w := &r.Waves[m.Wave]
		w.Size++
		if m.Status != rollout.Waiting && m.Status != rollout.Skipped && m.Status != rollout.Cancelled {
			w.Started++
			r.Started++
		}
		switch m.Status {
		case rollout.Running:
			r.Running++
		case rollout.Failed:
			w.Failed++
			r.Failed++
		case rollout.Completed:
			w.Completed++
			r.Completed++
		case rollout.Skipped:
			r.Skipped++
		case rollout.Cancelled:
			r.Cancelled++
		}
	}
	return r
}
