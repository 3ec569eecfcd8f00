package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

// historyStep is the open-pr step of exec-1 at the given minute, in its first try.
func historyStep(status api.StepStatus, try, minute int) api.StepState {
	return api.StepState{StepName: "open-pr", Status: status, StartedAt: at(1), UpdatedAt: at(minute),
		DispatchId: migrations.DispatchID("exec-1", "open-pr", try)}
}

// testHistory scripts two runs of a candidate through the run methods and reads back every
// event, paged and as the migration's outcomes; rewrites and stale writers add nothing.
func testHistory(t *testing.T, s migrations.MigrationStore) {
	ctx := context.Background()
	seed(t, s, "m", at(0), candidate("a", "service"), candidate("b", "service"))

	run1 := runRecord("m", "a", "exec-1", at(1), "open-pr", "merge-pr")
	run1.Inputs = map[string]string{"ticket": "T-1"}
	require.NoError(t, s.BeginRun(ctx, run1))
	put := func(st api.StepState) {
		t.Helper()
		require.NoError(t, s.PutStepState(ctx, "m", "a", "exec-1", st, ""))
	}
	dispatching := historyStep(api.StepStatusInProgress, 1, 1)
	put(dispatching)
	put(dispatching) // a repeated write (a retried activity) adds nothing
	refused := historyStep(api.StepStatusInProgress, 1, 2)
	refused.Attempts, refused.LastError = 1, "connection refused"
	put(refused)
	pending := historyStep(api.StepStatusPending, 1, 3)
	pending.Attempts, pending.AcknowledgedAt, pending.Metadata = 1, at(3), map[string]string{"prUrl": "https://git.example/pr/1"}
	put(pending)
	put(pending)
	failed := pending
	failed.Status, failed.LastError, failed.FinishedAt, failed.UpdatedAt = api.StepStatusFailed, "CI is red", at(4), at(4)
	failed.Metadata = map[string]string{"prUrl": "https://git.example/pr/1", "error": "CI is red"}
	put(failed)
	retried := historyStep(api.StepStatusInProgress, 2, 5)
	retried.Metadata = map[string]string{"prUrl": "https://git.example/pr/1"} // the failure's keys go
	put(retried)
	done := retried
	done.Status, done.AcknowledgedAt, done.FinishedAt, done.UpdatedAt = api.StepStatusSucceeded, at(5), at(6), at(6)
	done.Metadata = map[string]string{"prUrl": "https://git.example/pr/1"}
	put(done)
	merge := api.StepState{StepName: "merge-pr", Status: api.StepStatusInProgress, StartedAt: at(6), UpdatedAt: at(6),
		DispatchId: migrations.DispatchID("exec-1", "merge-pr", 1)}
	put(merge)
	require.NoError(t, s.PutStepState(ctx, "m", "a", "exec-0", merge, ""), "a stale writer")
	require.NoError(t, s.FinishRun(ctx, "m", "a", "exec-1", api.RunStatusCancelled, api.CandidateStatusNotStarted, at(7)))
	require.NoError(t, s.FinishRun(ctx, "m", "a", "exec-1", api.RunStatusCancelled, api.CandidateStatusNotStarted, at(7)), "repeated")
	require.NoError(t, s.ReconcileRun(ctx, "m", "a", "exec-1", at(8)), "the run has ended: no second end")
	require.NoError(t, s.BeginRun(ctx, runRecord("m", "a", "exec-2", at(9), "open-pr")))
	require.NoError(t, s.FinishRun(ctx, "m", "a", "exec-2", api.RunStatusCompleted, api.CandidateStatusCompleted, at(10)))

	type ev struct {
		Kind  api.HistoryEventKind
		Exec  string
		Step  string
		Try   int
		At    time.Time
		Extra string
	}
	var got []ev
	all, next, err := s.ListHistory(ctx, "m", "a", migrations.HistoryPage{Limit: 1000})
	require.NoError(t, err)
	require.Empty(t, next)
	for i := len(all) - 1; i >= 0; i-- { // oldest first, to read
		e := all[i]
		require.Equal(t, "a", e.CandidateId)
		extra := e.Error + string(e.RunStatus) + e.Metadata["prUrl"] + e.Inputs["ticket"]
		got = append(got, ev{e.Kind, e.ExecutionId, e.StepName, e.Try, e.At.UTC(), extra})
	}
	require.Equal(t, []ev{
		{api.HistoryRunStarted, "exec-1", "", 0, at(1), "T-1"},
		{api.HistoryDispatched, "exec-1", "open-pr", 1, at(1), ""},
		{api.HistoryDispatchFailed, "exec-1", "open-pr", 1, at(2), "connection refused"},
		{api.HistoryAcknowledged, "exec-1", "open-pr", 1, at(3), ""},
		{api.HistoryPending, "exec-1", "open-pr", 1, at(3), "https://git.example/pr/1"},
		{api.HistoryFailed, "exec-1", "open-pr", 1, at(4), "CI is red"},
		{api.HistoryRetried, "exec-1", "open-pr", 2, at(5), ""},
		{api.HistoryDispatched, "exec-1", "open-pr", 2, at(5), ""},
		{api.HistoryAcknowledged, "exec-1", "open-pr", 2, at(5), ""},
		{api.HistorySucceeded, "exec-1", "open-pr", 2, at(6), ""},
		{api.HistoryDispatched, "exec-1", "merge-pr", 1, at(6), ""},
		{api.HistoryCancelled, "exec-1", "merge-pr", 0, at(7), ""},
		{api.HistoryRunFinished, "exec-1", "", 0, at(7), "cancelled"},
		{api.HistoryRunStarted, "exec-2", "", 0, at(9), ""},
		{api.HistoryRunFinished, "exec-2", "", 0, at(10), "completed"},
	}, got)
	failedEv := all[len(all)-6]
	require.Equal(t, api.HistoryFailed, failedEv.Kind)
	require.Equal(t, at(1), failedEv.StepStartedAt.UTC())
	require.Equal(t, at(3), failedEv.AcknowledgedAt.UTC())

	// Paging walks the same events, newest first, without gaps or repeats.
	var paged []api.HistoryEvent
	before := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		page, next, err := s.ListHistory(ctx, "m", "a", migrations.HistoryPage{Before: before, Limit: 4})
		require.NoError(t, err)
		require.LessOrEqual(t, len(page), 4)
		paged = append(paged, page...)
		if next == "" {
			break
		}
		require.Equal(t, page[len(page)-1].Id, next)
		before = next
	}
	require.Equal(t, all, paged)

	// Insights read the outcomes of every candidate of the migration, oldest first.
	outcomes, err := s.ListOutcomes(ctx, "m", at(0))
	require.NoError(t, err)
	var kinds []api.HistoryEventKind
	for _, e := range outcomes {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []api.HistoryEventKind{api.HistoryRunStarted, api.HistoryFailed, api.HistoryRetried, api.HistorySucceeded,
		api.HistoryCancelled, api.HistoryRunFinished, api.HistoryRunStarted, api.HistoryRunFinished}, kinds)
	require.Equal(t, "CI is red", outcomes[1].Error)
	later, err := s.ListOutcomes(ctx, "m", at(9))
	require.NoError(t, err)
	require.Len(t, later, 2, "from since on")

	// A candidate that never ran has an empty history; unknown ones are not found.
	none, next, err := s.ListHistory(ctx, "m", "b", migrations.HistoryPage{})
	require.NoError(t, err)
	require.Empty(t, none)
	require.NotNil(t, none)
	require.Empty(t, next)
	_, _, err = s.ListHistory(ctx, "m", "nope", migrations.HistoryPage{})
	require.ErrorIs(t, err, migrations.ErrCandidateNotFound)
	_, _, err = s.ListHistory(ctx, "nope", "a", migrations.HistoryPage{})
	require.ErrorIs(t, err, migrations.ErrMigrationNotFound)
	_, err = s.ListOutcomes(ctx, "nope", at(0))
	require.ErrorIs(t, err, migrations.ErrMigrationNotFound)
}
