package execution

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/migrations/rollout"
	"github.com/drover-dev/drover/pkg/api"
)

// RolloutWorkflowName is the registered name of the rollout workflow.
const RolloutWorkflowName = "drover.Rollout"

// RolloutPoll is how often a rollout looks at its runs while it waits for them (a run's end is
// not signalled to it).
const RolloutPoll = 5 * time.Second

// RolloutPorts are what the rollout's activities act through: the service's use cases (so that
// a rollout's start is exactly an operator's), the candidates and the read model.
type RolloutPorts interface {
	Start(ctx context.Context, migrationID, candidateID string, inputs map[string]string) (string, error)
	Cancel(ctx context.Context, migrationID, candidateID string) (bool, error)
	ListCandidates(ctx context.Context, migrationID string) ([]api.Candidate, error)
	PutRollout(ctx context.Context, r api.Rollout) error
}

// RolloutActivities are the rollout workflow's side effects.
type RolloutActivities struct{ ports RolloutPorts }

// NewRolloutActivities returns the activities acting through ports.
func NewRolloutActivities(ports RolloutPorts) *RolloutActivities {
	return &RolloutActivities{ports: ports}
}

// RegisterRollouts registers the rollout workflow and its activities with a Temporal worker.
func RegisterRollouts(w worker.Registry, a *RolloutActivities) {
	w.RegisterWorkflowWithOptions(Rollout, workflow.RegisterOptions{Name: RolloutWorkflowName})
	w.RegisterActivity(a)
}

// Rollout is the workflow of one rollout: it starts the migration's candidates as the plan
// paces them and follows their runs, until every one has completed, been cancelled or been
// skipped, or an operator cancels it.
func Rollout(ctx workflow.Context, in migrations.RolloutInput) error {
	state := rollout.State{Members: rollout.Assign(in.Plan, in.Candidates)}
	if in.State != nil {
		state = *in.State
	}
	ro := &rolloutRun{in: in, state: state, control: workflow.GetSignalChannel(ctx, migrations.SignalRolloutControl), log: workflow.GetLogger(ctx)}
	ro.followOpen = workflow.GetVersion(ctx, versionRolloutFollowOpen, workflow.DefaultVersion, 1) >= 1
	return ro.run(ctx)
}

// versionRolloutFollowOpen (a rollout's version guard): it asks only about its open runs, and
// not at all while none is open; before, it asked about every member at every poll.
const versionRolloutFollowOpen = "rollout-follow-open"

type rolloutRun struct {
	followOpen bool // versionRolloutFollowOpen
	in         migrations.RolloutInput
	state      rollout.State
	control    workflow.ReceiveChannel
	log        log.Logger
	acts       *RolloutActivities // nil: only names the activity methods
	// cancelled: an operator cancelled the rollout; it starts nothing more.
	cancelled bool
	wave      int // the wave of the last decision, which an approval lets start
	last      *migrations.RolloutSnapshot
}

func (ro *rolloutRun) actx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			NonRetryableErrorTypes: []string{"NotFound"}},
	})
}

func (ro *rolloutRun) run(ctx workflow.Context) error {
	for {
		if err := ro.follow(ctx); err != nil {
			return err
		}
		now := workflow.Now(ctx).UTC()
		d, err := rollout.Next(ro.in.Plan, ro.state, now)
		if err != nil {
			return temporal.NewNonRetryableApplicationError(err.Error(), "InvalidPlan", err)
		}
		if d.Pause != "" {
			ro.state.Pause(d.Pause)
		}
		ro.wave = d.Wave
		if len(d.Start) > 0 && !ro.cancelled {
			var started map[string]rollout.Status
			if err := workflow.ExecuteActivity(ro.actx(ctx), ro.acts.StartRuns, ro.in.MigrationID, d.Start, ro.in.Inputs).Get(ctx, &started); err != nil {
				return fmt.Errorf("rollout %s: start runs: %w", ro.in.RolloutID, err)
			}
			var running []string
			for _, id := range d.Start {
				if started[id] == rollout.Running {
					running = append(running, id)
				} else {
					ro.state.Set(id, started[id])
				}
			}
			ro.state.Started(running, now)
		}
		status := ro.status(d)
		if err := ro.record(ctx, status, d, now); err != nil {
			return err
		}
		if status == api.RolloutStatusCompleted || status == api.RolloutStatusCancelled {
			return nil
		}
		if len(d.Start) > 0 {
			continue // look again at once: more may start
		}
		if ro.full(ctx) {
			next := ro.in
			st := ro.state
			next.State, next.Candidates = &st, nil // the members name them
			return workflow.NewContinueAsNewError(ctx, RolloutWorkflowName, next)
		}
		ro.wait(ctx, d, now)
	}
}

// follow reads where the rollout's open runs are. Only started members whose runs have not
// ended are asked about, so that the activity's input (kept in the history at every poll) is
// bounded by the runs open, not by the rollout's size; a waiting member someone started by hand
// is found skipped when the rollout comes to start it.
func (ro *rolloutRun) follow(ctx workflow.Context) error {
	open := ro.state.Members
	if ro.followOpen {
		open = nil
		for _, m := range ro.state.Members {
			if m.Status == rollout.Running || m.Status == rollout.Failed {
				open = append(open, m)
			}
		}
		if len(open) == 0 {
			return nil
		}
	}
	var statuses map[string]rollout.Status
	if err := workflow.ExecuteActivity(ro.actx(ctx), ro.acts.RolloutStatuses, ro.in.MigrationID, open).Get(ctx, &statuses); err != nil {
		return fmt.Errorf("rollout %s: read its candidates: %w", ro.in.RolloutID, err)
	}
	for id, st := range statuses {
		ro.state.Set(id, st)
	}
	return nil
}

// status is the rollout's status after decision d.
func (ro *rolloutRun) status(d rollout.Decision) api.RolloutStatus {
	switch {
	case ro.cancelled:
		return api.RolloutStatusCancelled // its runs go on (or were cancelled with it)
	case d.Done:
		return api.RolloutStatusCompleted
	case ro.state.Paused != "":
		return api.RolloutStatusPaused
	case d.Wait == rollout.ForWindow:
		return api.RolloutStatusWaitingForWindow
	case d.Wait == rollout.ForApproval:
		return api.RolloutStatusWaitingForApproval
	}
	return api.RolloutStatusRunning
}

func (ro *rolloutRun) record(ctx workflow.Context, status api.RolloutStatus, d rollout.Decision, now time.Time) error {
	snap := migrations.RolloutSnapshot{Input: &ro.in, MigrationID: ro.in.MigrationID, RolloutID: ro.in.RolloutID, Status: status, Paused: ro.state.Paused,
		Waiting: d.Wait, Until: d.Until, Wave: d.Wave, State: cloneState(ro.state)}
	if ro.last != nil && reflect.DeepEqual(*ro.last, snap) {
		return nil // nothing changed since the last poll: no write, no history event
	}
	last := snap
	ro.last = &last
	snap.At = now
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), ro.acts.PutRollout, snap.View()).Get(ctx, nil); err != nil {
		return fmt.Errorf("rollout %s: record: %w", ro.in.RolloutID, err)
	}
	return nil
}

func cloneState(s rollout.State) rollout.State {
	s.Members = slices.Clone(s.Members)
	return s
}

// full reports whether the rollout's history is long enough to continue as new.
func (ro *rolloutRun) full(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return ro.control.Len() == 0 && (info.GetCurrentHistoryLength() >= cmp.Or(ro.in.ContinueAfter, DefaultContinueAfter) || info.GetContinueAsNewSuggested())
}

// wait sleeps until the decision's time (the window, the rate), the next poll of the runs, or an
// operator's command, whichever comes first, and applies the command.
func (ro *rolloutRun) wait(ctx workflow.Context, d rollout.Decision, now time.Time) {
	// Paused or waiting for an approval, it still follows its runs at the poll's pace: the
	// operator retrying failures meanwhile watches them complete.
	sleep := cmp.Or(ro.in.Poll, RolloutPoll)
	if !d.Until.IsZero() {
		sleep = min(sleep, d.Until.Sub(now))
	}
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	timer := workflow.NewTimer(tctx, max(sleep, time.Millisecond))
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(timer, func(workflow.Future) {})
	sel.AddReceive(ro.control, func(c workflow.ReceiveChannel, _ bool) {
		var cmd migrations.RolloutControl
		c.Receive(ctx, &cmd)
		ro.apply(ctx, cmd)
	})
	sel.Select(ctx)
}

func (ro *rolloutRun) apply(ctx workflow.Context, cmd migrations.RolloutControl) {
	switch cmd.Action {
	case migrations.ActionPause:
		ro.state.Pause(cmp.Or(cmd.Reason, "paused by an operator"))
	case migrations.ActionResume:
		ro.state.Resume()
	case migrations.ActionApprove:
		ro.state.Approve(ro.wave)
	case migrations.ActionCancel:
		ro.cancelled = true
		if cmd.CancelRuns {
			var open []string
			for _, m := range ro.state.Members {
				if m.Status == rollout.Running || m.Status == rollout.Failed {
					open = append(open, m.ID)
				}
			}
			if err := workflow.ExecuteActivity(ro.actx(ctx), ro.acts.CancelRuns, ro.in.MigrationID, open).Get(ctx, nil); err != nil {
				ro.log.Warn("could not cancel the rollout's runs", "rollout", ro.in.RolloutID, "error", err)
			}
		}
		for _, m := range ro.state.Members {
			if m.Status == rollout.Waiting {
				ro.state.Set(m.ID, rollout.Cancelled)
			}
		}
	default:
		ro.log.Warn("ignoring an unknown rollout command", "rollout", ro.in.RolloutID, "action", cmd.Action)
	}
}

// RolloutStatuses reads where each member's candidate is: a started member follows its run; a
// member still waiting whose candidate someone else started is skipped.
func (a *RolloutActivities) RolloutStatuses(ctx context.Context, migrationID string, members []rollout.Member) (map[string]rollout.Status, error) {
	cs, err := a.ports.ListCandidates(ctx, migrationID)
	if err != nil {
		return nil, permanentIfMissing(err)
	}
	byID := make(map[string]api.Candidate, len(cs))
	for _, c := range cs {
		byID[c.Id] = c
	}
	out := make(map[string]rollout.Status, len(members))
	for _, m := range members {
		c, ok := byID[m.ID]
		if !ok {
			out[m.ID] = rollout.Cancelled // the migrator no longer lists it
			continue
		}
		out[m.ID] = MemberStatus(m, c)
	}
	return out, nil
}

// MemberStatus is a rollout member's status given its candidate now. A run the rollout started
// counts as running until the candidate shows it (its workflow records its start a moment after
// the rollout started it), and as cancelled only once that run is shown cancelled.
func MemberStatus(m rollout.Member, c api.Candidate) rollout.Status {
	prev := m.Status
	if prev == rollout.Waiting || prev == rollout.Skipped || prev == rollout.Cancelled {
		if prev == rollout.Waiting && c.Status != api.CandidateStatusNotStarted {
			return rollout.Skipped
		}
		return prev
	}
	switch c.Status {
	case api.CandidateStatusCompleted:
		return rollout.Completed
	case api.CandidateStatusNotStarted:
		if c.Run.Status == api.RunStatusCancelled && !c.Run.StartedAt.Before(m.Started) {
			return rollout.Cancelled
		}
		return prev // its run has not recorded its start yet
	}
	if c.Run.Attention == api.AttentionFailed {
		return rollout.Failed
	}
	return rollout.Running
}

// StartRuns starts each candidate's run as an operator would; one someone else started
// meanwhile is skipped.
func (a *RolloutActivities) StartRuns(ctx context.Context, migrationID string, ids []string, inputs map[string]string) (map[string]rollout.Status, error) {
	out := make(map[string]rollout.Status, len(ids))
	for _, id := range ids {
		_, err := a.ports.Start(ctx, migrationID, id, inputs)
		switch {
		case err == nil:
			out[id] = rollout.Running
		case errors.Is(err, migrations.ErrCandidateRunning) || errors.Is(err, migrations.ErrCandidateCompleted):
			out[id] = rollout.Skipped
		case errors.Is(err, migrations.ErrUnavailable):
			return nil, err // retried; the ones already started are skipped then
		default:
			out[id] = rollout.Cancelled // it cannot start (it is gone, or its inputs are invalid)
		}
	}
	return out, nil
}

// CancelRuns cancels the candidates' runs.
func (a *RolloutActivities) CancelRuns(ctx context.Context, migrationID string, ids []string) error {
	for _, id := range ids {
		if _, err := a.ports.Cancel(ctx, migrationID, id); err != nil && !errors.Is(err, migrations.ErrCandidateNotRunning) {
			return err
		}
	}
	return nil
}

// PutRollout records the rollout's read model.
func (a *RolloutActivities) PutRollout(ctx context.Context, r api.Rollout) error {
	return permanentIfMissing(a.ports.PutRollout(ctx, r))
}
