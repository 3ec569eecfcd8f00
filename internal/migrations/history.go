package migrations

import (
	"strconv"
	"strings"
	"time"

	"github.com/drover-dev/drover/pkg/api"
)

// DefaultHistoryRetention is how long the store keeps run history unless told otherwise.
const DefaultHistoryRetention = 90 * 24 * time.Hour

// Limits of one page of a candidate's history.
const (
	DefaultHistoryPage = 200
	MaxHistoryPage     = 1000
)

// HistoryPage asks for a page of a candidate's history: the Limit events before the event
// Before (the newest when empty), newest first.
type HistoryPage struct {
	Before string
	Limit  int
}

// StepHistory is what changed between a step's state as stored (prev; hadPrev false when the
// step had not started) and the state being written (next), as history events, oldest first.
// Writing the same state again yields none, so a retried write adds nothing. The store calls it
// inside the write, so the events are kept atomically with the state they describe; it sets
// their ids.
func StepHistory(executionID string, prev api.StepState, hadPrev bool, next api.StepState) []api.HistoryEvent {
	at := next.UpdatedAt
	if at.IsZero() {
		at = time.Now().UTC()
	}
	ev := func(kind api.HistoryEventKind, when time.Time) api.HistoryEvent {
		if when.IsZero() {
			when = at
		}
		return api.HistoryEvent{At: when, Kind: kind, ExecutionId: executionID, StepName: next.StepName,
			Try: stepTry(next.DispatchId), DispatchId: next.DispatchId}
	}
	var out []api.HistoryEvent
	newTry := !hadPrev || next.DispatchId != prev.DispatchId
	if newTry {
		if hadPrev {
			out = append(out, ev(api.HistoryRetried, at))
		}
		when := at
		if !hadPrev {
			when = next.StartedAt
		}
		out = append(out, ev(api.HistoryDispatched, when))
		prev = api.StepState{StepName: next.StepName, DispatchId: next.DispatchId, Status: api.StepStatusInProgress}
	}
	if next.Redeliveries > prev.Redeliveries {
		out = append(out, ev(api.HistoryRedelivered, at))
	}
	if next.Status == api.StepStatusInProgress && next.LastError != "" && next.Attempts > prev.Attempts {
		e := ev(api.HistoryDispatchFailed, at)
		e.Attempt, e.Error = next.Attempts, next.LastError
		out = append(out, e)
	}
	if !next.AcknowledgedAt.IsZero() && !next.AcknowledgedAt.Equal(prev.AcknowledgedAt) {
		out = append(out, ev(api.HistoryAcknowledged, next.AcknowledgedAt))
	}
	changed := changedMetadata(prev.Metadata, next.Metadata)
	if next.Status == api.StepStatusPending && (prev.Status != api.StepStatusPending || len(changed) > 0) {
		e := ev(api.HistoryPending, at)
		e.Metadata = changed
		out = append(out, e)
	}
	if !next.TimedOutAt.IsZero() && !next.TimedOutAt.Equal(prev.TimedOutAt) {
		switch next.Status {
		case api.StepStatusInProgress:
			out = append(out, ev(api.HistorySilent, next.TimedOutAt))
		case api.StepStatusPending:
			out = append(out, ev(api.HistoryOverdue, next.TimedOutAt))
		}
	}
	if next.Status != prev.Status {
		var kind api.HistoryEventKind
		switch next.Status {
		case api.StepStatusSucceeded:
			kind = api.HistorySucceeded
		case api.StepStatusMerged:
			kind = api.HistoryMerged
		case api.StepStatusFailed:
			kind = api.HistoryFailed
		}
		if kind != "" {
			e := ev(kind, next.FinishedAt)
			e.Metadata = changed
			e.StepStartedAt, e.AcknowledgedAt = next.StartedAt, next.AcknowledgedAt
			if kind == api.HistoryFailed {
				e.Error = next.LastError
			}
			out = append(out, e)
		}
	}
	return out
}

// RunStartedEvent is the history event of BeginRun.
func RunStartedEvent(run RunRecord) api.HistoryEvent {
	return api.HistoryEvent{At: run.StartedAt, Kind: api.HistoryRunStarted, ExecutionId: run.ExecutionID, Inputs: run.Inputs}
}

// RunFinishedEvents are the history events of a run's end: the step it was at is cancelled when
// the run is, then the run finishes with status.
func RunFinishedEvents(executionID string, status api.RunStatus, atStep string, at time.Time) []api.HistoryEvent {
	var out []api.HistoryEvent
	if status == api.RunStatusCancelled && atStep != "" {
		out = append(out, api.HistoryEvent{At: at, Kind: api.HistoryCancelled, ExecutionId: executionID, StepName: atStep})
	}
	return append(out, api.HistoryEvent{At: at, Kind: api.HistoryRunFinished, ExecutionId: executionID, RunStatus: status})
}

// IsOutcome reports whether events of kind also go to the migration's outcome log, which
// insights read: how runs and steps ended and when operators retried.
func IsOutcome(kind api.HistoryEventKind) bool {
	switch kind {
	case api.HistoryRunStarted, api.HistoryRunFinished, api.HistorySucceeded, api.HistoryMerged, api.HistoryFailed, api.HistoryRetried, api.HistoryCancelled:
		return true
	}
	return false
}

// stepTry reads the try out of a dispatch id (DispatchID); 0 when it has none.
func stepTry(dispatchID string) int {
	i := strings.LastIndexByte(dispatchID, '/')
	n, err := strconv.Atoi(dispatchID[i+1:])
	if i < 0 || err != nil {
		return 0
	}
	return n
}

// changedMetadata is the keys of next that prev lacks or holds with another value; nil when none.
func changedMetadata(prev, next map[string]string) map[string]string {
	var out map[string]string
	for k, v := range next {
		if old, ok := prev[k]; !ok || old != v {
			if out == nil {
				out = make(map[string]string)
			}
			out[k] = v
		}
	}
	return out
}
