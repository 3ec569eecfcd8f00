package migrations

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/drover-dev/drover/internal/migrations/rollout"
	"github.com/drover-dev/drover/pkg/api"
)

// MaxRolloutCandidates bounds one rollout: its members travel in its workflow's history (when it
// continues as new) and in its read model, which Temporal limits to 2 MB a payload.
const MaxRolloutCandidates = 10_000

// rolloutPlan is a validated rollout request: its plan and its candidates, in start order.
type rolloutPlan struct {
	migration api.Migration
	plan      rollout.Plan
	ids       []string
}

// planRollout validates a rollout request and fixes its candidate set: the given ids, the
// not_started candidates that match its filter, or every not_started one.
func (s *Service) planRollout(ctx context.Context, migrationID string, req api.RolloutRequest) (rolloutPlan, error) {
	m, err := s.migration(ctx, migrationID)
	if err != nil {
		return rolloutPlan{}, err
	}
	plan := rollout.Plan{
		MaxConcurrent: req.MaxConcurrent, FailedHoldsSlot: req.FailedHoldsSlot, Waves: req.Waves, ApproveWaves: req.ApproveWaves,
		StartsPerMinute: req.StartsPerMinute, StartsPerHour: req.StartsPerHour, PauseAfterFailures: req.PauseAfterFailures,
		PauseAtFailureRate: float64(req.PauseAtFailureRate), MinFinished: req.MinFinished,
	}
	if w := req.Window; w.Start != "" || w.End != "" || w.TimeZone != "" || len(w.Days) > 0 {
		plan.Window = &rollout.Window{Start: w.Start, End: w.End, TimeZone: w.TimeZone}
		for _, d := range w.Days {
			plan.Window.Days = append(plan.Window.Days, string(d))
		}
	}
	if err := plan.Validate(); err != nil {
		var fe *rollout.FieldError
		if errors.As(err, &fe) {
			return rolloutPlan{}, Invalid(fe.Field, "%s", fe.Reason)
		}
		return rolloutPlan{}, Invalid("", "%s", err)
	}
	if err := validateInputKeys(m, req.Inputs); err != nil {
		return rolloutPlan{}, err
	}
	all, err := s.candidateList(ctx, migrationID)
	if err != nil {
		return rolloutPlan{}, err
	}
	chosen, err := chooseCandidates(migrationID, all, req)
	if err != nil {
		return rolloutPlan{}, err
	}
	if len(chosen) > MaxRolloutCandidates {
		field := "candidateIds"
		if len(req.CandidateIds) == 0 {
			field = "filter"
		}
		return rolloutPlan{}, Invalid(field, "selects %d candidates; a rollout takes at most %d: split them into several rollouts (by candidateIds or a narrower filter)", len(chosen), MaxRolloutCandidates)
	}
	ids := make([]string, len(chosen))
	for i, c := range chosen {
		if missing := missingInputs(m, c, req.Inputs); len(missing) > 0 {
			return rolloutPlan{}, Invalid("inputs", "candidate %s is missing required input(s): %s; give them in inputs, or leave the candidate out", c.Id, strings.Join(missing, ", "))
		}
		ids[i] = c.Id
	}
	return rolloutPlan{migration: m, plan: plan, ids: ids}, nil
}

func chooseCandidates(migrationID string, all []api.Candidate, req api.RolloutRequest) ([]api.Candidate, error) {
	f := req.Filter
	filtered := f != (api.RolloutFilter{})
	if len(req.CandidateIds) > 0 {
		if filtered {
			return nil, Invalid("filter", "give candidateIds or a filter, not both")
		}
		byID := make(map[string]int, len(all))
		for i, c := range all {
			byID[c.Id] = i
		}
		seen := make(map[string]bool, len(req.CandidateIds))
		out := make([]api.Candidate, 0, len(req.CandidateIds))
		for i, id := range req.CandidateIds {
			field := fmt.Sprintf("candidateIds[%d]", i)
			j, ok := byID[id]
			switch {
			case seen[id]:
				return nil, Invalid(field, "%q is listed twice", id)
			case !ok:
				return nil, Invalid(field, "%q is not a candidate of migration %s", id, migrationID)
			case all[j].Status != api.CandidateStatusNotStarted:
				return nil, Invalid(field, "candidate %s is %s; a rollout starts only not_started candidates", id, all[j].Status)
			}
			seen[id] = true
			out = append(out, all[j])
		}
		return out, nil
	}
	if f.Status != "" && !f.Status.Valid() {
		return nil, Invalid("filter.status", "%q is not a candidate status; expected one of not_started, running, completed", f.Status)
	}
	if f.Status != "" && f.Status != api.CandidateStatusNotStarted {
		return nil, Invalid("filter.status", "a rollout starts only not_started candidates; status %s selects none", f.Status)
	}
	cf := CandidateFilter{Status: api.CandidateStatusNotStarted, Attention: f.Attention, Query: f.Q}
	q := strings.ToLower(strings.TrimSpace(cf.Query))
	var out []api.Candidate
	for _, c := range all {
		if cf.match(c, q) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		field := ""
		if filtered {
			field = "filter"
		}
		return nil, Invalid(field, "no not_started candidate of migration %s matches: there is nothing to roll out", migrationID)
	}
	return out, nil
}

// PreviewRollout says what a rollout request would do, and starts nothing.
func (s *Service) PreviewRollout(ctx context.Context, migrationID string, req api.RolloutRequest) (api.RolloutPreview, error) {
	rp, err := s.planRollout(ctx, migrationID, req)
	if err != nil {
		return api.RolloutPreview{}, err
	}
	out := api.RolloutPreview{Total: len(rp.ids), CandidateIds: rp.ids, Waves: []int{}}
	for _, m := range rollout.Assign(rp.plan, rp.ids) {
		for len(out.Waves) <= m.Wave {
			out.Waves = append(out.Waves, 0)
		}
		out.Waves[m.Wave]++
	}
	last, err := rollout.LastStartBy(rp.plan, len(rp.ids), s.now().UTC())
	if err != nil {
		return api.RolloutPreview{}, Invalid("window", "%s", err)
	}
	out.LastStartBy = last
	return out, nil
}

// CreateRollout validates the request, records the rollout and starts its workflow; actor is
// who asked. The rollout is readable (GetRollout) as soon as this returns.
func (s *Service) CreateRollout(ctx context.Context, migrationID string, req api.RolloutRequest, actor string) (api.Rollout, error) {
	rp, err := s.planRollout(ctx, migrationID, req)
	if err != nil {
		return api.Rollout{}, err
	}
	now := s.now().UTC()
	in := RolloutInput{MigrationID: migrationID, RolloutID: newRolloutID(), Plan: rp.plan, Candidates: rp.ids,
		Inputs: req.Inputs, CreatedBy: actor, CreatedAt: now}
	view := RolloutSnapshot{Input: &in, MigrationID: migrationID, RolloutID: in.RolloutID, Status: api.RolloutStatusRunning,
		State: rollout.State{Members: rollout.Assign(rp.plan, rp.ids)}, At: now}.View()
	// Recorded before the workflow starts, so that the workflow's own writes come after it.
	if err := s.store.PutRollout(ctx, view); err != nil {
		return api.Rollout{}, storeErr(fmt.Errorf("create rollout of %s: %w", migrationID, err))
	}
	if err := s.engine.StartRollout(ctx, in); err != nil {
		view.Status, view.PausedReason = api.RolloutStatusCancelled, "it could not start: "+err.Error()
		if perr := s.store.PutRollout(context.WithoutCancel(ctx), view); perr != nil {
			s.log.ErrorContext(ctx, "could not record a rollout that failed to start", "rollout", in.RolloutID, "error", perr)
		}
		return api.Rollout{}, fmt.Errorf("start rollout %s of %s: %w", in.RolloutID, migrationID, err)
	}
	s.log.InfoContext(ctx, "rollout started", "migration", migrationID, "rollout", in.RolloutID, "candidates", len(rp.ids), "by", actor)
	return view, nil
}

func newRolloutID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return "ro-" + hex.EncodeToString(b)
}

// ListRollouts returns a migration's rollouts, oldest first, without their members.
func (s *Service) ListRollouts(ctx context.Context, migrationID string) ([]api.Rollout, error) {
	if _, err := s.migration(ctx, migrationID); err != nil {
		return nil, err
	}
	rs, err := s.store.ListRollouts(ctx, migrationID)
	if err != nil {
		return nil, storeErr(fmt.Errorf("list rollouts of %s: %w", migrationID, err))
	}
	for i := range rs {
		rs[i].Members = nil
	}
	return rs, nil
}

// GetRollout returns one rollout with its members.
func (s *Service) GetRollout(ctx context.Context, migrationID, rolloutID string) (api.Rollout, error) {
	if _, err := s.migration(ctx, migrationID); err != nil {
		return api.Rollout{}, err
	}
	r, err := s.store.GetRollout(ctx, migrationID, rolloutID)
	switch {
	case errors.Is(err, ErrRolloutNotFound):
		return api.Rollout{}, fmt.Errorf("migration %s has no rollout %s: %w", migrationID, rolloutID, ErrRolloutNotFound)
	case err != nil:
		return api.Rollout{}, storeErr(fmt.Errorf("get rollout %s of %s: %w", rolloutID, migrationID, err))
	}
	return r, nil
}

// SteerRollout sends an operator's command (pause, resume, approve, cancel) to a rollout that
// has not ended. A command that cannot apply to the rollout as it stands is a StateError.
func (s *Service) SteerRollout(ctx context.Context, migrationID, rolloutID string, cmd RolloutControl) error {
	r, err := s.GetRollout(ctx, migrationID, rolloutID)
	if err != nil {
		return err
	}
	if r.Status == api.RolloutStatusCompleted || r.Status == api.RolloutStatusCancelled {
		return Conflict(ErrRolloutEnded, "rollout %s has %s; it takes no more commands", rolloutID, r.Status)
	}
	switch cmd.Action {
	case ActionPause:
		if r.Status == api.RolloutStatusPaused {
			return Conflict(ErrRolloutState, "rollout %s is already paused (%s)", rolloutID, r.PausedReason)
		}
	case ActionResume:
		if r.Status != api.RolloutStatusPaused {
			return Conflict(ErrRolloutState, "rollout %s is not paused (it is %s)", rolloutID, r.Status)
		}
	case ActionApprove:
		if r.Status != api.RolloutStatusWaitingForApproval {
			return Conflict(ErrRolloutState, "rollout %s is not waiting for an approval (it is %s)", rolloutID, r.Status)
		}
	case ActionCancel:
	default:
		return Invalid("action", "%q is not a rollout command; expected pause, resume, approve or cancel", cmd.Action)
	}
	if err := s.engine.SignalRollout(ctx, migrationID, rolloutID, cmd); err != nil {
		if errors.Is(err, ErrRolloutNotFound) {
			return Conflict(ErrRolloutEnded, "rollout %s is no longer running", rolloutID)
		}
		return fmt.Errorf("%s rollout %s of %s: %w", cmd.Action, rolloutID, migrationID, err)
	}
	s.log.InfoContext(ctx, "rollout command sent", "migration", migrationID, "rollout", rolloutID, "action", cmd.Action)
	return nil
}

// RetryFailed retries every failed, silent or overdue step of the rollout's open runs. A step
// that cannot be retried (its run ended meanwhile, say) is reported, not fatal.
func (s *Service) RetryFailed(ctx context.Context, migrationID, rolloutID string) (api.RetryFailedResult, error) {
	out := api.RetryFailedResult{Errors: []api.RetryFailure{}}
	r, err := s.GetRollout(ctx, migrationID, rolloutID)
	if err != nil {
		return out, err
	}
	all, err := s.candidateList(ctx, migrationID)
	if err != nil {
		return out, err
	}
	byID := make(map[string]api.Candidate, len(all))
	for _, c := range all {
		byID[c.Id] = c
	}
	for _, m := range r.Members {
		c, ok := byID[m.Id]
		if !ok || m.Status == api.RolloutMemberStatusSkipped || c.Status != api.CandidateStatusRunning || c.Run.Attention == "" {
			continue
		}
		run, err := s.store.GetRun(ctx, migrationID, c.Id)
		if err != nil {
			return out, s.notFoundOrUnavailable(fmt.Errorf("retry failed of rollout %s: %w", rolloutID, err), migrationID, c.Id)
		}
		for _, st := range run.Steps {
			if !Retryable(st) {
				continue
			}
			if err := s.RetryStep(ctx, migrationID, c.Id, st.StepName); err != nil {
				var serr *StateError
				if !errors.As(err, &serr) {
					return out, err
				}
				out.Errors = append(out.Errors, api.RetryFailure{CandidateId: c.Id, StepName: st.StepName, Error: serr.Message})
				continue
			}
			out.Retried++
		}
	}
	return out, nil
}

// bulkCancelers bounds how many runs one bulk cancel cancels at once.
const bulkCancelers = 8

// CancelRuns cancels the runs of the given candidates that are running, in the background (the
// caller need not stay), and returns how many it is cancelling. Unknown or repeated ids are
// refused before anything is cancelled.
func (s *Service) CancelRuns(ctx context.Context, migrationID string, ids []string) (int, error) {
	all, err := s.candidateList(ctx, migrationID)
	if err != nil {
		return 0, err
	}
	status := make(map[string]api.CandidateStatus, len(all))
	for _, c := range all {
		status[c.Id] = c.Status
	}
	seen := make(map[string]bool, len(ids))
	var running []string
	for i, id := range ids {
		st, ok := status[id]
		switch {
		case seen[id]:
			return 0, Invalid(fmt.Sprintf("candidateIds[%d]", i), "%q is listed twice", id)
		case !ok:
			return 0, Invalid(fmt.Sprintf("candidateIds[%d]", i), "%q is not a candidate of migration %s", id, migrationID)
		case st == api.CandidateStatusRunning:
			running = append(running, id)
		}
		seen[id] = true
	}
	bg := context.WithoutCancel(ctx)
	go func() {
		var wg sync.WaitGroup
		work := make(chan string)
		for range min(bulkCancelers, len(running)) {
			wg.Go(func() {
				for id := range work {
					if _, err := s.Cancel(bg, migrationID, id); err != nil && !errors.Is(err, ErrCandidateNotRunning) {
						s.log.WarnContext(bg, "bulk cancel: could not cancel a run", "run", RunID(migrationID, id), "error", err)
					}
				}
			})
		}
		for _, id := range running {
			work <- id
		}
		close(work)
		wg.Wait()
		s.log.InfoContext(bg, "bulk cancel done", "migration", migrationID, "runs", len(running))
	}()
	return len(running), nil
}
