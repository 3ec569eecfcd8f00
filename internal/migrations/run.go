package migrations

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/drover-dev/drover/pkg/api"
)

// RunIDSeparator joins a migration id and a candidate id into a run id. IDs cannot contain it.
const RunIDSeparator = "__"

// Limits on ids, mirrored in schemas/openapi.yaml.
const (
	MaxMigrationIDLen = 64
	MaxCandidateIDLen = 128
)

// idPattern allows letters, digits, '.', '-' and single '_' between other characters, so an id
// never contains the run-id separator nor the ':' of the store's key layout.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]|_[A-Za-z0-9.-])*$`)

// ValidateMigrationID checks a migration id; field names the request field for the error.
func ValidateMigrationID(field, id string) error {
	return validateID(field, id, MaxMigrationIDLen)
}

// ValidateCandidateID checks a candidate id; field names the request field for the error.
func ValidateCandidateID(field, id string) error {
	return validateID(field, id, MaxCandidateIDLen)
}

func validateID(field, id string, maxLen int) error {
	switch {
	case id == "":
		return Invalid(field, "must not be empty")
	case len(id) > maxLen:
		return Invalid(field, "%q is %d characters long; the limit is %d", id, len(id), maxLen)
	case !idPattern.MatchString(id):
		return Invalid(field, "%q may contain only letters, digits, '.', '-' and single '_' between them, and must start with a letter or digit", id)
	}
	return nil
}

// RunID names the run of migration migrationID on candidate candidateID; it is also the
// Temporal workflow id and the callbackId given to migrators.
func RunID(migrationID, candidateID string) string {
	return migrationID + RunIDSeparator + candidateID
}

// ParseRunID splits a run id into its migration and candidate ids and validates both.
func ParseRunID(runID string) (migrationID, candidateID string, err error) {
	m, c, ok := strings.Cut(runID, RunIDSeparator)
	if !ok {
		return "", "", Invalid("runId", "%q is not a run id (expected migrationId%scandidateId)", runID, RunIDSeparator)
	}
	if err := ValidateMigrationID("runId", m); err != nil {
		return "", "", err
	}
	if err := ValidateCandidateID("runId", c); err != nil {
		return "", "", err
	}
	return m, c, nil
}

// Signal names understood by the run workflow.
const (
	SignalStepEvent = "step-event"
	SignalRetryStep = "retry-step"
)

// StepEvent is the payload of SignalStepEvent: a migrator's callback for one step.
type StepEvent struct {
	StepName   string              `json:"stepName"`
	Status     api.StepEventStatus `json:"status"`
	Metadata   map[string]string   `json:"metadata,omitempty"`
	DispatchID string              `json:"dispatchId,omitempty"` // empty when the migrator did not say
}

// DispatchID names one dispatch of a step: the run's execution, the step and the operator's
// try (1, then one more for each retry). Repeated deliveries of a dispatch share it.
func DispatchID(executionID, step string, try int) string {
	return fmt.Sprintf("%s/%s/%d", executionID, step, try)
}

// RetryRequest is the payload of SignalRetryStep.
type RetryRequest struct {
	StepName string `json:"stepName"`
}

// RunInput is what a run workflow starts with: which candidate, and the steps it will run
// (resolved at start, so re-announcing a migration does not change a run under way).
type RunInput struct {
	MigrationID string               `json:"migrationId"`
	CandidateID string               `json:"candidateId"`
	Steps       []api.StepDefinition `json:"steps"`
	// Inputs are the operator's inputs of this start; the run stores them as it begins,
	// atomically with becoming the candidate's run, so a start that loses a race to another
	// changes nothing. Runs started before this field existed stored them before starting.
	Inputs map[string]string `json:"inputs,omitempty"`
	// CallbackTimeout is how long a step whose dispatch the migrator accepted may stay without
	// any callback before it is silent, unless its definition sets a timeout (zero: the
	// workflow's default).
	CallbackTimeout time.Duration `json:"callbackTimeout,omitempty"`
	// DispatchRetryFor is how long one try of a step keeps dispatching to a migrator that does
	// not answer before the step fails (zero: the workflow's default).
	DispatchRetryFor time.Duration `json:"dispatchRetryFor,omitempty"`
	// ContinueAfter is the history length (events) after which the run continues as new (zero:
	// the workflow's default).
	ContinueAfter int `json:"continueAfter,omitempty"`
	// Continued is the state carried from the run's previous execution; nil in its first.
	Continued *Continuation `json:"continued,omitempty"`
}

// Continuation is what a run carries into its next execution when it continues as new: where
// it is, the current step's state and clocks, and the signals not yet handled, so that the new
// execution picks up exactly there.
type Continuation struct {
	// ExecutionID is the read model's id of the run, the first execution's: it stays the same
	// across continuations, and so do the dispatch ids made from it.
	ExecutionID string        `json:"executionId"`
	Executions  int           `json:"executions"` // executions so far, this one's predecessors included
	Step        int           `json:"step"`       // index of the current step in Steps
	State       api.StepState `json:"state"`      // the current step's state, as last written
	Try         int           `json:"try"`
	Attempt     int           `json:"attempt"`
	// DispatchingSince is when the current dispatch attempts began (their give-up counts from it).
	DispatchingSince time.Time       `json:"dispatchingSince"`
	RetryAt          time.Time       `json:"retryAt,omitzero"`  // the next dispatch attempt, after a back-off
	Deadline         time.Time       `json:"deadline,omitzero"` // when the step's timeout passes
	Done             []api.StepState `json:"done,omitempty"`    // the steps finished before this one
	Events           []StepEvent     `json:"events,omitempty"`  // received, not yet handled
	Retries          []RetryRequest  `json:"retries,omitempty"` // received, not yet handled
}

// RunStatus is the execution engine's view of a run.
type RunStatus string

// Run statuses reported by the execution engine.
const (
	RunRunning   RunStatus = "running"
	RunCompleted RunStatus = "completed"
	RunCancelled RunStatus = "cancelled"
	RunFailed    RunStatus = "failed"
)

func (s RunStatus) String() string { return string(s) }

// FailureMessage picks the reason a migrator gave for a failed step out of its metadata.
func FailureMessage(metadata map[string]string) string {
	for _, k := range []string{"error", "message", "reason"} {
		if v := strings.TrimSpace(metadata[k]); v != "" {
			return v
		}
	}
	return "the migrator reported the step as failed without a reason"
}
