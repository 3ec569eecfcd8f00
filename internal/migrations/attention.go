package migrations

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drover-dev/drover/pkg/api"
)

// RetryingAttempts is how many failed dispatch attempts of a step make its run need an
// operator: by then the migrator is more likely down or misconfigured than briefly busy.
const RetryingAttempts = 3

// Attention says why a run whose latest step is step (defined by def) needs an operator, or ""
// when it does not. It is the one place this rule lives: the workflow computes it with every
// step state it writes, and the store keeps it in the candidate's run summary.
//
//   - failed: the step failed and waits for a retry or a cancel;
//   - waiting: a step that waits for a person (WaitsForPerson) is pending, so a person has to
//     mark it done or failed;
//   - retrying: the migrator has not accepted the dispatch after RetryingAttempts attempts;
//   - silent: the migrator accepted the dispatch and has not called back within the timeout;
//   - overdue: the step reported pending and has not finished within its definition's timeout.
func Attention(step api.StepState, def api.StepDefinition) api.Attention {
	switch {
	case step.Status == api.StepStatusFailed:
		return api.AttentionFailed
	case step.Status == api.StepStatusInProgress && !step.TimedOutAt.IsZero():
		return api.AttentionSilent
	case step.Status == api.StepStatusPending && !step.TimedOutAt.IsZero():
		return api.AttentionOverdue
	case step.Status == api.StepStatusPending && WaitsForPerson(def):
		return api.AttentionWaiting
	case step.Status == api.StepStatusInProgress && step.Attempts >= RetryingAttempts && step.LastError != "":
		return api.AttentionRetrying
	}
	return ""
}

// ManualReviewType is the step type of the wire contract for a step that a person finishes.
const ManualReviewType = "manual-review"

// WaitsForPerson reports whether a step is finished by a person rather than the migrator:
// Drover's own `manual` flag, or the contract's step type `manual-review`.
func WaitsForPerson(def api.StepDefinition) bool {
	return def.Manual || def.Type == ManualReviewType
}

// NeedsAttention reports whether a candidate is running and its run needs an operator; the
// attention filter of the candidate list and CandidateCounts.Attention both count this.
func NeedsAttention(c api.Candidate) bool {
	return c.Status == api.CandidateStatusRunning && c.Run.Attention != ""
}

// countAttention is how many of cs need attention.
func countAttention(cs []api.Candidate) int {
	n := 0
	for _, c := range cs {
		if NeedsAttention(c) {
			n++
		}
	}
	return n
}

// FindStep returns the definition of the named step among defs, and whether there is one.
func FindStep(defs []api.StepDefinition, name string) (api.StepDefinition, bool) {
	for _, d := range defs {
		if d.Name == name {
			return d, true
		}
	}
	return api.StepDefinition{}, false
}

// AttentionSince is since when step has waited for the attention it has, for the kinds that are
// about time (silent, overdue); zero otherwise.
func AttentionSince(step api.StepState, a api.Attention) time.Time {
	if a == api.AttentionSilent || a == api.AttentionOverdue {
		return step.AcknowledgedAt
	}
	return time.Time{}
}

// Retryable reports whether an operator may retry the step: it failed, went silent or is overdue.
func Retryable(step api.StepState) bool {
	return step.Status == api.StepStatusFailed ||
		(step.Status == api.StepStatusInProgress || step.Status == api.StepStatusPending) && !step.TimedOutAt.IsZero()
}

// Bounds of a step definition's timeout and redelivery count.
const (
	MinStepTimeout = time.Second
	MaxStepTimeout = 365 * 24 * time.Hour
	MaxRedeliver   = 10
)

// StepTimeout is the step's own timeout, zero when it sets none, or an error naming what is wrong.
func StepTimeout(def api.StepDefinition) (time.Duration, error) {
	if def.Timeout == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(def.Timeout)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 30m or 2h", def.Timeout)
	}
	if d < MinStepTimeout || d > MaxStepTimeout {
		return 0, fmt.Errorf("%s is outside %s to %s", def.Timeout, MinStepTimeout, MaxStepTimeout)
	}
	return d, nil
}

// MigrationGauge is what a migration has open now: its running candidates, and those that need
// an operator by kind of attention.
type MigrationGauge struct {
	ID        string
	Running   int
	Attention map[api.Attention]int
}

// Gauges returns every migration's open runs and attention, from the read cache (one version
// read per migration while nothing changed), for metrics scraped every few seconds.
func (s *Service) Gauges(ctx context.Context) ([]MigrationGauge, error) {
	vs, err := s.store.MigrationVersions(ctx)
	if err != nil {
		return nil, storeErr(fmt.Errorf("gauges: %w", err))
	}
	out := make([]MigrationGauge, 0, len(vs))
	for _, v := range vs {
		cs, err := s.candidateList(ctx, v.ID)
		if errors.Is(err, ErrMigrationNotFound) {
			continue // deleted between the two reads
		}
		if err != nil {
			return nil, err
		}
		g := MigrationGauge{ID: v.ID, Attention: map[api.Attention]int{}}
		for _, c := range cs {
			if c.Status != api.CandidateStatusRunning {
				continue
			}
			g.Running++
			if c.Run.Attention != "" {
				g.Attention[c.Run.Attention]++
			}
		}
		out = append(out, g)
	}
	return out, nil
}
