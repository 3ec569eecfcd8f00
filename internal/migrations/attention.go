package migrations

import "github.com/drover-dev/drover/pkg/api"

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
//   - retrying: the migrator has not accepted the dispatch after RetryingAttempts attempts.
func Attention(step api.StepState, def api.StepDefinition) api.Attention {
	switch {
	case step.Status == api.StepStatusFailed:
		return api.AttentionFailed
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
