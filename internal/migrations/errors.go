package migrations

import (
	"errors"
	"fmt"
)

// Sentinel errors a caller branches on; wrap them with context and test with errors.Is.
var (
	ErrMigrationNotFound        = errors.New("migration not found")
	ErrCandidateNotFound        = errors.New("candidate not found")
	ErrRunNotFound              = errors.New("run not found")
	ErrRolloutNotFound          = errors.New("rollout not found")
	ErrWebhookNotFound          = errors.New("webhook not found")
	ErrRolloutEnded             = errors.New("rollout has ended")
	ErrRolloutState             = errors.New("rollout is not in a state that allows this")
	ErrCandidateRunning         = errors.New("candidate is already running")
	ErrCandidateCompleted       = errors.New("candidate has already completed")
	ErrCandidateNotRunning      = errors.New("candidate is not running")
	ErrStepNotRetryable         = errors.New("step cannot be retried")
	ErrStepNotWaiting           = errors.New("step is not waiting for an event")
	ErrRunCompletedBeforeCancel = errors.New("run completed before it could be cancelled")
	ErrUnavailable              = errors.New("dependency unavailable")
	ErrMigratorFailed           = errors.New("migrator failed")
	ErrMigratorTimeout          = errors.New("migrator timed out")
	// ErrLiveGap: the change feed no longer keeps the events after the id a reader resumes from.
	ErrLiveGap = errors.New("live events after this id are no longer kept")
	// ErrLiveClosed: the server is stopping; live streams end.
	ErrLiveClosed = errors.New("live updates have stopped")
)

// ValidationError is bad input from a caller; Field names the offending request field.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Message)
}

// Invalid returns a ValidationError for field with a formatted message.
func Invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// StateError is a request that conflicts with the current state; Kind is one of the sentinels
// above (so errors.Is works) and Message says what a person can do about it.
type StateError struct {
	Kind    error
	Message string
}

func (e *StateError) Error() string { return e.Message }
func (e *StateError) Unwrap() error { return e.Kind }

// Conflict returns a StateError of kind with a formatted message.
func Conflict(kind error, format string, args ...any) error {
	return &StateError{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// RunClosedError says a run is no longer open: it ended with Status. ExecutionID names that
// run, so that a read-model repair touches only that run.
type RunClosedError struct {
	RunID       string
	ExecutionID string
	Status      RunStatus
}

func (e *RunClosedError) Error() string {
	return fmt.Sprintf("run %s has ended (%s)", e.RunID, e.Status)
}

// LimitError is input beyond one of Drover's documented bounds (the API answers 413 where a
// ValidationError gets 400); Field names the request field and Message the limit.
type LimitError struct {
	ValidationError
}
