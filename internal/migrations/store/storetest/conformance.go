package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

// RunConformance runs the whole suite; every case gets a fresh store from newStore.
func RunConformance(t *testing.T, newStore NewStore) {
	t.Run("Ping", func(t *testing.T) { require.NoError(t, newStore(t).Ping(context.Background())) })
	t.Run("SaveMigration", func(t *testing.T) { testSaveMigration(t, newStore(t)) })
	t.Run("ListMigrations", func(t *testing.T) { testListMigrations(t, newStore(t)) })
	t.Run("MergeCandidates", func(t *testing.T) { testMergeCandidates(t, newStore) })
	t.Run("MergeInputs", func(t *testing.T) { testMergeInputs(t, newStore(t)) })
	t.Run("RunLifecycle", func(t *testing.T) { testRunLifecycle(t, newStore(t)) })
	t.Run("FinishRun", func(t *testing.T) { testFinishRun(t, newStore) })
	t.Run("BeginRunStoresInputs", func(t *testing.T) { testBeginRunStoresInputs(t, newStore(t)) })
	t.Run("Counts", func(t *testing.T) { testCounts(t, newStore(t)) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, newStore(t)) })
	t.Run("ConcurrentMergeAndRuns", func(t *testing.T) { testConcurrentMergeAndRuns(t, newStore(t)) })
	t.Run("ConcurrentMergeInputs", func(t *testing.T) { testConcurrentMergeInputs(t, newStore(t)) })
	t.Run("LargeCandidateList", func(t *testing.T) { testLargeCandidateList(t, newStore(t)) })
	t.Run("Versions", func(t *testing.T) { testVersions(t, newStore(t)) })
	t.Run("RunSummary", func(t *testing.T) { testRunSummary(t, newStore(t)) })
	t.Run("RunSummaryCancelled", func(t *testing.T) { testRunSummaryCancelled(t, newStore(t)) })
	t.Run("Cancellation", func(t *testing.T) { testCancellation(t, newStore(t)) })
	t.Run("Rollouts", func(t *testing.T) { testRollouts(t, newStore(t)) })
	t.Run("History", func(t *testing.T) { testHistory(t, newStore(t)) })
	t.Run("Webhooks", func(t *testing.T) { testWebhooks(t, newStore(t)) })
	t.Run("CountAttention", func(t *testing.T) { testCountAttention(t, newStore(t)) })
}

func testSaveMigration(t *testing.T, s migrations.MigrationStore) {
	ctx := context.Background()

	m := migration("m1", at(0))
	require.NoError(t, s.SaveMigration(ctx, m))
	got, err := s.GetMigration(ctx, "m1")
	require.NoError(t, err)
	want := m
	want.UpdatedAt = at(0) // defaults to CreatedAt
	require.Equal(t, want, got)

	require.NoError(t, s.MergeCandidates(ctx, "m1", []api.CandidateInput{candidate("a", "service"), candidate("b", "repo")}, at(1)))
	setStatus(t, s, "m1", "a", api.CandidateStatusRunning, at(2))

	// Re-announcing replaces the definition, keeps CreatedAt and every candidate with its state;
	// Candidates and Counts of the saved value are ignored.
	replaced := migration("m1", at(10))
	replaced.Name = "Renamed"
	replaced.Steps = replaced.Steps[:1]
	replaced.RequiredInputs = nil
	replaced.Overview = nil
	replaced.Phases = nil
	replaced.UpdatedAt = at(11)
	replaced.Candidates = []api.Candidate{{Id: "ghost", Kind: "service", Status: api.CandidateStatusCompleted}}
	replaced.Counts = api.CandidateCounts{Completed: 99}
	require.NoError(t, s.SaveMigration(ctx, replaced))

	got, err = s.GetMigration(ctx, "m1")
	require.NoError(t, err)
	want = replaced
	want.CreatedAt = at(0)
	want.UpdatedAt = at(11)
	want.Candidates = nil
	want.Counts = api.CandidateCounts{NotStarted: 1, Running: 1}
	require.Equal(t, want, got)

	cands, err := s.ListCandidates(ctx, "m1")
	require.NoError(t, err)
	require.Equal(t, []api.Candidate{
		withRun(asCandidate(candidate("a", "service"), api.CandidateStatusRunning, at(2), nil), runningSince(at(2))),
		asCandidate(candidate("b", "repo"), api.CandidateStatusNotStarted, at(1), nil),
	}, cands)
}

func testListMigrations(t *testing.T, s migrations.MigrationStore) {
	ctx := context.Background()
	list, err := s.ListMigrations(ctx, true)
	require.NoError(t, err)
	require.Empty(t, list)

	// b and a tie on CreatedAt and are ordered by id; c is older.
	seed(t, s, "b", at(5), candidate("b1", "service"))
	seed(t, s, "a", at(5), candidate("y", "service"), candidate("x", "repo"))
	seed(t, s, "c", at(1))
	setStatus(t, s, "a", "y", api.CandidateStatusCompleted, at(6))
	// Re-saving c with a later CreatedAt does not move it.
	require.NoError(t, s.SaveMigration(ctx, migration("c", at(100))))

	list, err = s.ListMigrations(ctx, false)
	require.NoError(t, err)
	require.Equal(t, []string{"c", "a", "b"}, migrationIDs(list))
	for _, m := range list {
		require.Nil(t, m.Candidates, m.Id)
	}
	require.Equal(t, at(1), list[0].CreatedAt)
	require.Equal(t, at(100), list[0].UpdatedAt)
	require.Equal(t, api.CandidateCounts{}, list[0].Counts)
	require.Equal(t, api.CandidateCounts{NotStarted: 1, Completed: 1}, list[1].Counts)
	require.Equal(t, api.CandidateCounts{NotStarted: 1}, list[2].Counts)

	list, err = s.ListMigrations(ctx, true)
	require.NoError(t, err)
	require.Equal(t, []string{"c", "a", "b"}, migrationIDs(list))
	require.Empty(t, list[0].Candidates)
	require.Equal(t, []api.Candidate{
		asCandidate(candidate("x", "repo"), api.CandidateStatusNotStarted, at(5), nil),
		withRun(asCandidate(candidate("y", "service"), api.CandidateStatusCompleted, at(7), nil), ended(api.RunStatusCompleted, at(6), at(7))),
	}, list[1].Candidates)
	require.Equal(t, api.CandidateCounts{NotStarted: 1, Completed: 1}, list[1].Counts)
	require.Equal(t, []string{"b1"}, ids(list[2].Candidates))

	one, err := s.GetMigration(ctx, "a")
	require.NoError(t, err)
	withoutCandidates := list[1]
	withoutCandidates.Candidates = nil
	require.Equal(t, withoutCandidates, one)
}

func migrationIDs(ms []api.Migration) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Id
	}
	return out
}

// prior is the state a candidate is driven to before a merge.
type prior string

const (
	priorRunning   prior = "running"
	priorCompleted prior = "completed"
	priorCancelled prior = "cancelled" // ran, then cancelled back to not_started
)

func testMergeCandidates(t *testing.T, newStore NewStore) {
	renamed := candidate("a", "repo", "version", "2")
	withStatus := candidate("a", "service")
	withStatus.Status = api.CandidateStatusCompleted
	// Times: existing candidates are merged at at(0), priors applied at at(1) (a run finishes a
	// minute later, at(2)), the submission is merged at at(5).
	cases := []struct {
		name     string
		existing []api.CandidateInput
		priors   map[string]prior
		submit   [][]api.CandidateInput
		want     []api.Candidate
	}{
		{
			name:   "new candidates are added as not_started",
			submit: [][]api.CandidateInput{{candidate("b", "repo"), richCandidate("a", 1)}},
			want: []api.Candidate{
				asCandidate(richCandidate("a", 1), api.CandidateStatusNotStarted, at(5), nil),
				asCandidate(candidate("b", "repo"), api.CandidateStatusNotStarted, at(5), nil),
			},
		},
		{
			name:     "a not_started candidate is replaced whole",
			existing: []api.CandidateInput{richCandidate("a", 1)},
			submit:   [][]api.CandidateInput{{renamed}},
			want:     []api.Candidate{asCandidate(renamed, api.CandidateStatusNotStarted, at(0), nil)},
		},
		{
			name:     "a running candidate is kept when resubmitted with other data",
			existing: []api.CandidateInput{richCandidate("a", 1)},
			priors:   map[string]prior{"a": priorRunning},
			submit:   [][]api.CandidateInput{{renamed}},
			want:     []api.Candidate{withRun(asCandidate(richCandidate("a", 1), api.CandidateStatusRunning, at(1), nil), runningSince(at(1)))},
		},
		{
			name:     "a completed candidate is kept when resubmitted with other data",
			existing: []api.CandidateInput{richCandidate("a", 1)},
			priors:   map[string]prior{"a": priorCompleted},
			submit:   [][]api.CandidateInput{{renamed}},
			want:     []api.Candidate{withRun(asCandidate(richCandidate("a", 1), api.CandidateStatusCompleted, at(2), nil), ended(api.RunStatusCompleted, at(1), at(2)))},
		},
		{
			name:     "a cancelled candidate is not_started again and replaceable",
			existing: []api.CandidateInput{richCandidate("a", 1)},
			priors:   map[string]prior{"a": priorCancelled},
			submit:   [][]api.CandidateInput{{renamed}},
			want:     []api.Candidate{withRun(asCandidate(renamed, api.CandidateStatusNotStarted, at(2), nil), ended(api.RunStatusCancelled, at(1), at(2)))},
		},
		{
			name:     "candidates absent from the submission are kept",
			existing: []api.CandidateInput{candidate("a", "service"), candidate("b", "service"), candidate("c", "service")},
			priors:   map[string]prior{"b": priorRunning, "c": priorCompleted},
			submit:   [][]api.CandidateInput{{candidate("d", "topic")}},
			want: []api.Candidate{
				asCandidate(candidate("a", "service"), api.CandidateStatusNotStarted, at(0), nil),
				withRun(asCandidate(candidate("b", "service"), api.CandidateStatusRunning, at(1), nil), runningSince(at(1))),
				withRun(asCandidate(candidate("c", "service"), api.CandidateStatusCompleted, at(2), nil), ended(api.RunStatusCompleted, at(1), at(2))),
				asCandidate(candidate("d", "topic"), api.CandidateStatusNotStarted, at(5), nil),
			},
		},
		{
			name:     "a mixed submission in several batches",
			existing: []api.CandidateInput{candidate("a", "service"), candidate("b", "service"), candidate("c", "service")},
			priors:   map[string]prior{"b": priorRunning, "c": priorCompleted},
			submit: [][]api.CandidateInput{
				{candidate("c", "repo", "v", "2"), candidate("a", "repo", "v", "2")},
				{candidate("b", "repo", "v", "2"), candidate("d", "repo", "v", "2")},
			},
			want: []api.Candidate{
				asCandidate(candidate("a", "repo", "v", "2"), api.CandidateStatusNotStarted, at(0), nil),
				withRun(asCandidate(candidate("b", "service"), api.CandidateStatusRunning, at(1), nil), runningSince(at(1))),
				withRun(asCandidate(candidate("c", "service"), api.CandidateStatusCompleted, at(2), nil), ended(api.RunStatusCompleted, at(1), at(2))),
				asCandidate(candidate("d", "repo", "v", "2"), api.CandidateStatusNotStarted, at(5), nil),
			},
		},
		{
			name:   "the last of duplicate ids in one submission wins",
			submit: [][]api.CandidateInput{{candidate("a", "service", "v", "1"), candidate("a", "service", "v", "2")}},
			want:   []api.Candidate{asCandidate(candidate("a", "service", "v", "2"), api.CandidateStatusNotStarted, at(5), nil)},
		},
		{
			name:   "a submitted status is ignored",
			submit: [][]api.CandidateInput{{withStatus}},
			want:   []api.Candidate{asCandidate(candidate("a", "service"), api.CandidateStatusNotStarted, at(5), nil)},
		},
		{
			name:     "an empty submission changes nothing",
			existing: []api.CandidateInput{candidate("a", "service")},
			submit:   [][]api.CandidateInput{{}, nil},
			want:     []api.Candidate{asCandidate(candidate("a", "service"), api.CandidateStatusNotStarted, at(0), nil)},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			seed(t, s, "m", at(0), tc.existing...)
			for id, p := range tc.priors {
				applyPrior(t, s, "m", id, p)
			}
			for _, batch := range tc.submit {
				require.NoError(t, s.MergeCandidates(ctx, "m", batch, at(5)))
			}
			got, err := s.ListCandidates(ctx, "m")
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			for _, want := range tc.want {
				one, err := s.GetCandidate(ctx, "m", want.Id)
				require.NoError(t, err)
				require.Equal(t, want, one)
			}
			m, err := s.GetMigration(ctx, "m")
			require.NoError(t, err)
			require.Equal(t, tally(tc.want), m.Counts)
		})
	}
}

func applyPrior(t *testing.T, s migrations.MigrationStore, migrationID, candidateID string, p prior) {
	t.Helper()
	ctx := context.Background()
	exec := "exec-" + candidateID
	require.NoError(t, s.BeginRun(ctx, runRecord(migrationID, candidateID, exec, at(1), "open-pr")))
	switch p {
	case priorCompleted:
		require.NoError(t, s.FinishRun(ctx, migrationID, candidateID, exec, api.RunStatusCompleted, api.CandidateStatusCompleted, at(2)))
	case priorCancelled:
		require.NoError(t, s.FinishRun(ctx, migrationID, candidateID, exec, api.RunStatusCancelled, api.CandidateStatusNotStarted, at(2)))
	}
}

func testMergeInputs(t *testing.T, s migrations.MigrationStore) {
	ctx := context.Background()
	seed(t, s, "m", at(0), candidate("a", "service"), candidate("b", "service"))

	steps := []struct {
		set  map[string]string
		want map[string]string
	}{
		{set: map[string]string{"ticket": "T-1"}, want: map[string]string{"ticket": "T-1"}},
		{set: map[string]string{"env": "prod"}, want: map[string]string{"ticket": "T-1", "env": "prod"}},
		{set: map[string]string{"ticket": "T-2"}, want: map[string]string{"ticket": "T-2", "env": "prod"}},
		{set: nil, want: map[string]string{"ticket": "T-2", "env": "prod"}},
		// Values that trip naive encoders: quotes, slashes, newlines, non-ASCII, numeric keys.
		{
			set:  map[string]string{"1": "one", "note": "a \"quoted\" / \\ ünïcødé\nline", "empty": ""},
			want: map[string]string{"ticket": "T-2", "env": "prod", "1": "one", "note": "a \"quoted\" / \\ ünïcødé\nline", "empty": ""},
		},
	}
	var want map[string]string
	for i, st := range steps {
		got, err := s.MergeInputs(ctx, "m", "a", st.set)
		require.NoError(t, err, "step %d", i)
		require.Equal(t, st.want, got, "step %d", i)
		want = st.want
	}

	none, err := s.MergeInputs(ctx, "m", "b", map[string]string{})
	require.NoError(t, err)
	require.Nil(t, none)
	b, err := s.GetCandidate(ctx, "m", "b")
	require.NoError(t, err)
	require.Nil(t, b.Inputs)

	// Inputs are the operator's: re-discovery and runs keep them.
	require.NoError(t, s.MergeCandidates(ctx, "m", []api.CandidateInput{candidate("a", "repo", "v", "2")}, at(1)))
	setStatus(t, s, "m", "a", api.CandidateStatusRunning, at(2))
	a, err := s.GetCandidate(ctx, "m", "a")
	require.NoError(t, err)
	require.Equal(t, want, a.Inputs)
	require.Equal(t, "repo", a.Kind)

	list, err := s.ListCandidates(ctx, "m")
	require.NoError(t, err)
	require.Equal(t, want, list[0].Inputs)
	require.Nil(t, list[1].Inputs)
}

// requireRun compares run records, treating nil and empty slices alike.
func requireRun(t *testing.T, want, got migrations.RunRecord) {
	t.Helper()
	if len(want.Steps) == 0 && len(got.Steps) == 0 {
		want.Steps, got.Steps = nil, nil
	}
	if len(want.StepNames) == 0 && len(got.StepNames) == 0 {
		want.StepNames, got.StepNames = nil, nil
	}
	require.Equal(t, want, got)
}

func testRunLifecycle(t *testing.T, s migrations.MigrationStore) {
	ctx := context.Background()
	seed(t, s, "m", at(0), candidate("a", "service"), candidate("b", "service"))

	run1 := runRecord("m", "a", "exec-1", at(1), "open-pr", "merge-pr", "verify")
	require.NoError(t, s.BeginRun(ctx, run1))
	a, err := s.GetCandidate(ctx, "m", "a")
	require.NoError(t, err)
	require.Equal(t, api.CandidateStatusRunning, a.Status)
	require.Equal(t, at(1), a.UpdatedAt)
	got, err := s.GetRun(ctx, "m", "a")
	require.NoError(t, err)
	requireRun(t, run1, got)

	// Steps are returned in run order whatever the write order; a rewrite replaces the state.
	mergePending := stepState("a", "merge-pr", api.StepStatusPending, 3)
	openPR := stepState("a", "open-pr", api.StepStatusSucceeded, 2)
	openPR.FinishedAt = at(3)
	require.NoError(t, s.PutStepState(ctx, "m", "a", "exec-1", mergePending, ""))
	require.NoError(t, s.PutStepState(ctx, "m", "a", "exec-1", openPR, ""))
	got, err = s.GetRun(ctx, "m", "a")
	require.NoError(t, err)
	require.Equal(t, []api.StepState{openPR, mergePending}, got.Steps)
	mergeFailed := stepState("a", "merge-pr", api.StepStatusFailed, 3)
	mergeFailed.Attempts = 3
	mergeFailed.LastError = "conflict in values.yaml"
	require.NoError(t, s.PutStepState(ctx, "m", "a", "exec-1", mergeFailed, ""))
	got, err = s.GetRun(ctx, "m", "a")
	require.NoError(t, err)
	require.Equal(t, []api.StepState{openPR, mergeFailed}, got.Steps)
	step, ok := got.Step("merge-pr")
	require.True(t, ok)
	require.Equal(t, mergeFailed, step)

	// A stale writer (another execution id) changes nothing.
	require.NoError(t, s.PutStepState(ctx, "m", "a", "exec-0", stepState("a", "verify", api.StepStatusSucceeded, 4), ""))
	require.NoError(t, s.FinishRun(ctx, "m", "a", "exec-0", api.RunStatusCompleted, api.CandidateStatusCompleted, at(4)))
	got, err = s.GetRun(ctx, "m", "a")
	require.NoError(t, err)
	want := run1
	want.Steps = []api.StepState{openPR, mergeFailed}
	requireRun(t, want, got)
	a, err = s.GetCandidate(ctx, "m", "a")
	require.NoError(t, err)
	require.Equal(t, api.CandidateStatusRunning, a.Status)

	// Finishing the current run sets the run and the candidate together.
	require.NoError(t, s.FinishRun(ctx, "m", "a", "exec-1", api.RunStatusCompleted, api.CandidateStatusCompleted, at(10)))
	got, err = s.GetRun(ctx, "m", "a")
	require.NoError(t, err)
	want.Status = api.RunStatusCompleted
	want.FinishedAt = at(10)
	requireRun(t, want, got)
	a, err = s.GetCandidate(ctx, "m", "a")
	require.NoError(t, err)
	require.Equal(t, api.CandidateStatusCompleted, a.Status)
	require.Equal(t, at(10), a.UpdatedAt)

	// A new run replaces the record and clears the old step states; the old run is now stale.
	run2 := runRecord("m", "a", "exec-2", at(20), "open-pr")
	require.NoError(t, s.BeginRun(ctx, run2))
	got, err = s.GetRun(ctx, "m", "a")
	require.NoError(t, err)
	requireRun(t, run2, got)
	require.NoError(t, s.PutStepState(ctx, "m", "a", "exec-1", openPR, ""))
	require.NoError(t, s.FinishRun(ctx, "m", "a", "exec-1", api.RunStatusCancelled, api.CandidateStatusNotStarted, at(21)))
	got, err = s.GetRun(ctx, "m", "a")
	require.NoError(t, err)
	requireRun(t, run2, got)
	a, err = s.GetCandidate(ctx, "m", "a")
	require.NoError(t, err)
	require.Equal(t, api.CandidateStatusRunning, a.Status)
	require.Equal(t, at(20), a.UpdatedAt)

	// A run without step names is fine too.
	run3 := runRecord("m", "b", "exec-3", at(30))
	require.NoError(t, s.BeginRun(ctx, run3))
	got, err = s.GetRun(ctx, "m", "b")
	require.NoError(t, err)
	requireRun(t, run3, got)

	m, err := s.GetMigration(ctx, "m")
	require.NoError(t, err)
	require.Equal(t, api.CandidateCounts{Running: 2}, m.Counts)
}

// testBeginRunStoresInputs: the inputs a run was started with become the candidate's in the
// same change that makes it the candidate's run; other keys are kept.
func testBeginRunStoresInputs(t *testing.T, s migrations.MigrationStore) {
	ctx := context.Background()
	seed(t, s, "m", at(0), candidate("a", "service"), candidate("b", "service"))
	_, err := s.MergeInputs(ctx, "m", "a", map[string]string{"team": "payments", "ticket": "T-1"})
	require.NoError(t, err)
	v, err := s.MigrationVersion(ctx, "m")
	require.NoError(t, err)
	run := runRecord("m", "a", "exec-1", at(1), "open-pr")
	run.Inputs = map[string]string{"ticket": "T-2", "reviewer": "ada"}
	require.NoError(t, s.BeginRun(ctx, run))
	c, err := s.GetCandidate(ctx, "m", "a")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"team": "payments", "ticket": "T-2", "reviewer": "ada"}, c.Inputs)
	require.Equal(t, api.CandidateStatusRunning, c.Status)
	v2, err := s.MigrationVersion(ctx, "m")
	require.NoError(t, err)
	require.Greater(t, v2, v)
	// A run begun without inputs leaves the candidate's alone.
	require.NoError(t, s.BeginRun(ctx, runRecord("m", "b", "exec-2", at(2), "open-pr")))
	b, err := s.GetCandidate(ctx, "m", "b")
	require.NoError(t, err)
	require.Empty(t, b.Inputs)
	got, err := s.GetRun(ctx, "m", "a")
	require.NoError(t, err)
	require.Nil(t, got.Inputs, "the run record does not keep them: the candidate does")
}

func testFinishRun(t *testing.T, newStore NewStore) {
	// A run that has ended stays ended when reconciled: a late writer (a cancel reconciling a
	// run that completed a moment ago) cannot turn a completed candidate back into a
	// not_started one.
	t.Run("a reconcile leaves an ended run as it ended", func(t *testing.T) {
		ctx := context.Background()
		s := newStore(t)
		seed(t, s, "m", at(0), candidate("a", "service"))
		require.NoError(t, s.BeginRun(ctx, runRecord("m", "a", "exec-1", at(1), "open-pr")))
		require.NoError(t, s.FinishRun(ctx, "m", "a", "exec-1", api.RunStatusCompleted, api.CandidateStatusCompleted, at(2)))
		v, err := s.MigrationVersion(ctx, "m")
		require.NoError(t, err)
		require.NoError(t, s.ReconcileRun(ctx, "m", "a", "exec-1", at(3)))
		got, err := s.GetRun(ctx, "m", "a")
		require.NoError(t, err)
		require.Equal(t, api.RunStatusCompleted, got.Status)
		require.Equal(t, at(2), got.FinishedAt)
		c, err := s.GetCandidate(ctx, "m", "a")
		require.NoError(t, err)
		require.Equal(t, api.CandidateStatusCompleted, c.Status)
		require.Equal(t, api.RunStatusCompleted, c.Run.Status)
		v2, err := s.MigrationVersion(ctx, "m")
		require.NoError(t, err)
		require.Equal(t, v, v2, "a no-op changes no version")
	})
	// The workflow's own end is authoritative: a workflow task run again after a first attempt
	// whose write was not recorded may end the run differently (cancelled, having seen the
	// cancel request this time), and the store follows it.
	t.Run("the workflow's end may correct its own earlier write", func(t *testing.T) {
		ctx := context.Background()
		s := newStore(t)
		seed(t, s, "m", at(0), candidate("a", "service"))
		require.NoError(t, s.BeginRun(ctx, runRecord("m", "a", "exec-1", at(1), "open-pr")))
		require.NoError(t, s.FinishRun(ctx, "m", "a", "exec-1", api.RunStatusCompleted, api.CandidateStatusCompleted, at(2)))
		require.NoError(t, s.FinishRun(ctx, "m", "a", "exec-1", api.RunStatusCancelled, api.CandidateStatusNotStarted, at(3)))
		c, err := s.GetCandidate(ctx, "m", "a")
		require.NoError(t, err)
		require.Equal(t, api.CandidateStatusNotStarted, c.Status)
		require.Equal(t, api.RunStatusCancelled, c.Run.Status)
		// A reconcile of a running run ends it as cancelled; of a stale execution, nothing.
		require.NoError(t, s.BeginRun(ctx, runRecord("m", "a", "exec-2", at(4), "open-pr")))
		require.NoError(t, s.ReconcileRun(ctx, "m", "a", "exec-1", at(5)))
		c, err = s.GetCandidate(ctx, "m", "a")
		require.NoError(t, err)
		require.Equal(t, api.CandidateStatusRunning, c.Status)
		require.NoError(t, s.ReconcileRun(ctx, "m", "a", "exec-2", at(6)))
		c, err = s.GetCandidate(ctx, "m", "a")
		require.NoError(t, err)
		require.Equal(t, api.CandidateStatusNotStarted, c.Status)
		require.Equal(t, api.RunStatusCancelled, c.Run.Status)
	})
	cases := []struct {
		name      string
		run       api.RunStatus
		candidate api.CandidateStatus
		counts    api.CandidateCounts
	}{
		{"completed", api.RunStatusCompleted, api.CandidateStatusCompleted, api.CandidateCounts{NotStarted: 1, Completed: 1}},
		{"cancelled back to not_started", api.RunStatusCancelled, api.CandidateStatusNotStarted, api.CandidateCounts{NotStarted: 2}},
		{"cancelled but kept as completed", api.RunStatusCancelled, api.CandidateStatusCompleted, api.CandidateCounts{NotStarted: 1, Completed: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			seed(t, s, "m", at(0), candidate("a", "service"), candidate("b", "service"))
			run := runRecord("m", "a", "exec-1", at(1), "open-pr")
			require.NoError(t, s.BeginRun(ctx, run))
			require.NoError(t, s.PutStepState(ctx, "m", "a", "exec-1", stepState("a", "open-pr", api.StepStatusSucceeded, 2), ""))
			require.NoError(t, s.FinishRun(ctx, "m", "a", "exec-1", tc.run, tc.candidate, at(3)))

			got, err := s.GetRun(ctx, "m", "a")
			require.NoError(t, err)
			require.Equal(t, tc.run, got.Status)
			require.Equal(t, at(3), got.FinishedAt)
			require.Len(t, got.Steps, 1)
			a, err := s.GetCandidate(ctx, "m", "a")
			require.NoError(t, err)
			require.Equal(t, tc.candidate, a.Status)
			require.Equal(t, at(3), a.UpdatedAt)
			m, err := s.GetMigration(ctx, "m")
			require.NoError(t, err)
			require.Equal(t, tc.counts, m.Counts)
		})
	}
}

func testCounts(t *testing.T, s migrations.MigrationStore) {
	ctx := context.Background()
	var cands []api.CandidateInput
	for i := range 8 {
		cands = append(cands, candidate(fmt.Sprintf("c%d", i), "service"))
	}
	seed(t, s, "m", at(0), cands...)
	seed(t, s, "other", at(0), candidate("x", "service"))
	setStatus(t, s, "m", "c0", api.CandidateStatusRunning, at(1))
	setStatus(t, s, "m", "c1", api.CandidateStatusRunning, at(1))
	setStatus(t, s, "m", "c2", api.CandidateStatusCompleted, at(1))
	setStatus(t, s, "m", "c3", api.CandidateStatusCompleted, at(1))
	setStatus(t, s, "m", "c4", api.CandidateStatusCompleted, at(1))
	applyPrior(t, s, "m", "c5", priorCancelled)
	// Beginning a run of an already running candidate (a restart) must not count it twice.
	require.NoError(t, s.BeginRun(ctx, runRecord("m", "c0", "exec-again", at(2), "open-pr")))
	// Re-discovery of everything changes no count but adds the new one.
	require.NoError(t, s.MergeCandidates(ctx, "m", append(cands, candidate("c8", "service")), at(3)))

	want := api.CandidateCounts{NotStarted: 4, Running: 2, Completed: 3}
	list, err := s.ListCandidates(ctx, "m")
	require.NoError(t, err)
	require.Equal(t, want, tally(list))
	m, err := s.GetMigration(ctx, "m")
	require.NoError(t, err)
	require.Equal(t, want, m.Counts)
	for _, withCandidates := range []bool{false, true} {
		all, err := s.ListMigrations(ctx, withCandidates)
		require.NoError(t, err)
		require.Len(t, all, 2)
		require.Equal(t, want, all[0].Counts, "withCandidates=%v", withCandidates)
		require.Equal(t, api.CandidateCounts{NotStarted: 1}, all[1].Counts, "withCandidates=%v", withCandidates)
	}
}

func testNotFound(t *testing.T, s migrations.MigrationStore) {
	ctx := context.Background()
	seed(t, s, "m", at(0), candidate("a", "service"))
	seed(t, s, "empty", at(0))
	step := stepState("a", "open-pr", api.StepStatusSucceeded, 1)
	runDone, candDone := api.RunStatusCompleted, api.CandidateStatusCompleted

	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"GetMigration", func() error { _, err := s.GetMigration(ctx, "nope"); return err }, migrations.ErrMigrationNotFound},
		{"MergeCandidates", func() error {
			return s.MergeCandidates(ctx, "nope", []api.CandidateInput{candidate("a", "service")}, at(1))
		}, migrations.ErrMigrationNotFound},
		{"MergeCandidates empty", func() error { return s.MergeCandidates(ctx, "nope", nil, at(1)) }, migrations.ErrMigrationNotFound},
		{"ListCandidates", func() error { _, err := s.ListCandidates(ctx, "nope"); return err }, migrations.ErrMigrationNotFound},
		{"GetCandidate unknown migration", func() error { _, err := s.GetCandidate(ctx, "nope", "a"); return err }, migrations.ErrMigrationNotFound},
		{"GetCandidate unknown candidate", func() error { _, err := s.GetCandidate(ctx, "m", "nope"); return err }, migrations.ErrCandidateNotFound},
		{"MergeInputs unknown migration", func() error {
			_, err := s.MergeInputs(ctx, "nope", "a", map[string]string{"k": "v"})
			return err
		}, migrations.ErrMigrationNotFound},
		{"MergeInputs unknown candidate", func() error {
			_, err := s.MergeInputs(ctx, "m", "nope", map[string]string{"k": "v"})
			return err
		}, migrations.ErrCandidateNotFound},
		{"BeginRun unknown migration", func() error { return s.BeginRun(ctx, runRecord("nope", "a", "e", at(1))) }, migrations.ErrMigrationNotFound},
		{"BeginRun unknown candidate", func() error { return s.BeginRun(ctx, runRecord("m", "nope", "e", at(1))) }, migrations.ErrCandidateNotFound},
		{"GetRun unknown migration", func() error { _, err := s.GetRun(ctx, "nope", "a"); return err }, migrations.ErrMigrationNotFound},
		{"GetRun unknown candidate", func() error { _, err := s.GetRun(ctx, "m", "nope"); return err }, migrations.ErrCandidateNotFound},
		{"GetRun never ran", func() error { _, err := s.GetRun(ctx, "m", "a"); return err }, migrations.ErrRunNotFound},
		{"PutStepState unknown migration", func() error { return s.PutStepState(ctx, "nope", "a", "e", step, "") }, migrations.ErrMigrationNotFound},
		{"PutStepState unknown candidate", func() error { return s.PutStepState(ctx, "m", "nope", "e", step, "") }, migrations.ErrCandidateNotFound},
		{"PutStepState never ran", func() error { return s.PutStepState(ctx, "m", "a", "e", step, "") }, migrations.ErrRunNotFound},
		{"FinishRun unknown migration", func() error { return s.FinishRun(ctx, "nope", "a", "e", runDone, candDone, at(1)) }, migrations.ErrMigrationNotFound},
		{"FinishRun unknown candidate", func() error { return s.FinishRun(ctx, "m", "nope", "e", runDone, candDone, at(1)) }, migrations.ErrCandidateNotFound},
		{"FinishRun never ran", func() error { return s.FinishRun(ctx, "m", "a", "e", runDone, candDone, at(1)) }, migrations.ErrRunNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			require.ErrorIs(t, err, tc.want)
			require.NotErrorIs(t, err, migrations.ErrUnavailable)
			// Wrapped with context: the message names what was looked up.
			require.NotEqual(t, tc.want.Error(), err.Error())
			require.Regexp(t, `nope|m/a`, err.Error())
		})
	}

	// The failed calls created nothing, and an existing migration without candidates is fine.
	_, err := s.GetMigration(ctx, "nope")
	require.ErrorIs(t, err, migrations.ErrMigrationNotFound)
	_, err = s.GetCandidate(ctx, "m", "nope")
	require.ErrorIs(t, err, migrations.ErrCandidateNotFound)
	a, err := s.GetCandidate(ctx, "m", "a")
	require.NoError(t, err)
	require.Equal(t, api.CandidateStatusNotStarted, a.Status)
	require.Nil(t, a.Inputs)
	list, err := s.ListCandidates(ctx, "empty")
	require.NoError(t, err)
	require.Empty(t, list)
}

// parallel runs fn(0..n-1) in goroutines and fails t with every error they returned.
func parallel(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
}

func testConcurrentMergeAndRuns(t *testing.T, s migrations.MigrationStore) {
	ctx := context.Background()
	const (
		candidates = 60 // c00..c59 are seeded; runners drive c00..c29
		driven     = 30
		mergers    = 50
		rounds     = 3
		perRunner  = 3
	)
	name := func(i int) string { return fmt.Sprintf("c%02d", i) }
	var seedList []api.CandidateInput
	for i := range candidates {
		seedList = append(seedList, candidate(name(i), "service", "writer", "seed"))
	}
	seed(t, s, "m", at(0), seedList...)

	// Each driven candidate ends running (i%3 == 0), completed (1) or, after several
	// begin/cancel cycles, not_started (2). defAtStart is its definition right after its last
	// BeginRun: from then on no merge may change it.
	final := func(i int) api.CandidateStatus {
		return []api.CandidateStatus{api.CandidateStatusRunning, api.CandidateStatusCompleted, api.CandidateStatusNotStarted}[i%3]
	}
	var mu sync.Mutex
	defAtStart := map[string]api.Metadata{}
	lastExec := map[string]string{}

	var readers sync.WaitGroup
	stop := make(chan struct{})
	var readErr error
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			list, err := s.ListCandidates(ctx, "m")
			if err == nil && !slices.IsSortedFunc(list, func(a, b api.Candidate) int { return compareIDs(a.Id, b.Id) }) {
				err = errors.New("candidates not in id order")
			}
			if err == nil {
				_, err = s.GetMigration(ctx, "m")
			}
			if err != nil {
				readErr = err
				return
			}
		}
	})

	parallel(t, mergers+driven/perRunner, func(g int) error {
		if g < mergers {
			for r := range rounds {
				batch := make([]api.CandidateInput, 0, candidates+2)
				for i := range candidates {
					batch = append(batch, candidate(name(i), "repo", "writer", fmt.Sprintf("merger-%d-%d", g, r)))
				}
				batch = append(batch, candidate(fmt.Sprintf("new-%02d-%d-a", g, r), "repo"), candidate(fmt.Sprintf("new-%02d-%d-b", g, r), "repo"))
				rand.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
				if err := s.MergeCandidates(ctx, "m", batch, at(1)); err != nil {
					return err
				}
			}
			return nil
		}
		runner := g - mergers
		for k := range perRunner {
			i := runner*perRunner + k
			id := name(i)
			cycles := 1
			if final(i) == api.CandidateStatusNotStarted {
				cycles = 4
			}
			for c := range cycles {
				exec := fmt.Sprintf("exec-%s-%d", id, c)
				if err := s.BeginRun(ctx, runRecord("m", id, exec, at(2+c), "open-pr")); err != nil {
					return err
				}
				got, err := s.GetCandidate(ctx, "m", id)
				if err != nil {
					return err
				}
				if got.Status != api.CandidateStatusRunning {
					return fmt.Errorf("%s: status %s right after BeginRun", id, got.Status)
				}
				mu.Lock()
				defAtStart[id], lastExec[id] = got.Metadata, exec
				mu.Unlock()
				if err := s.PutStepState(ctx, "m", id, exec, stepState(id, "open-pr", api.StepStatusPending, 2+c), ""); err != nil {
					return err
				}
				switch final(i) {
				case api.CandidateStatusCompleted:
					err = s.FinishRun(ctx, "m", id, exec, api.RunStatusCompleted, api.CandidateStatusCompleted, at(3+c))
				case api.CandidateStatusNotStarted:
					err = s.FinishRun(ctx, "m", id, exec, api.RunStatusCancelled, api.CandidateStatusNotStarted, at(3+c))
				}
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	close(stop)
	readers.Wait()
	require.NoError(t, readErr)

	list, err := s.ListCandidates(ctx, "m")
	require.NoError(t, err)
	require.Len(t, list, candidates+mergers*rounds*2)
	require.True(t, slices.IsSortedFunc(list, func(a, b api.Candidate) int { return compareIDs(a.Id, b.Id) }))
	byID := map[string]api.Candidate{}
	for _, c := range list {
		byID[c.Id] = c
	}
	for i := range driven {
		id := name(i)
		c := byID[id]
		require.Equal(t, final(i), c.Status, id)
		if c.Status != api.CandidateStatusNotStarted {
			require.Equal(t, defAtStart[id], c.Metadata, "%s was overwritten while %s", id, c.Status)
		}
		run, err := s.GetRun(ctx, "m", id)
		require.NoError(t, err)
		require.Equal(t, lastExec[id], run.ExecutionID)
		require.Len(t, run.Steps, 1)
	}
	for i := driven; i < candidates; i++ {
		c := byID[name(i)]
		require.Equal(t, api.CandidateStatusNotStarted, c.Status)
		require.Equal(t, "repo", c.Kind, "merges of %s were lost", c.Id)
	}
	m, err := s.GetMigration(ctx, "m")
	require.NoError(t, err)
	require.Equal(t, tally(list), m.Counts)
	require.Equal(t, api.CandidateCounts{
		Running:    driven / 3,
		Completed:  driven / 3,
		NotStarted: len(list) - 2*driven/3,
	}, m.Counts)
}

func compareIDs(a, b string) int { return strings.Compare(a, b) }

func testConcurrentMergeInputs(t *testing.T, s migrations.MigrationStore) {
	ctx := context.Background()
	seed(t, s, "m", at(0), candidate("a", "service"), candidate("b", "service"))
	const writers = 50
	parallel(t, writers, func(i int) error {
		key, value := fmt.Sprintf("key-%02d", i), fmt.Sprintf("value-%02d", i)
		got, err := s.MergeInputs(ctx, "m", "a", map[string]string{key: value})
		if err != nil {
			return err
		}
		if got[key] != value {
			return fmt.Errorf("merge of %s returned %v", key, got)
		}
		// Runs of the same candidate change its status meanwhile; inputs must not care.
		if i%10 == 0 {
			exec := fmt.Sprintf("exec-%d", i)
			if err := s.BeginRun(ctx, runRecord("m", "a", exec, at(i), "open-pr")); err != nil {
				return err
			}
			return s.FinishRun(ctx, "m", "a", exec, api.RunStatusCancelled, api.CandidateStatusNotStarted, at(i+1))
		}
		return nil
	})
	a, err := s.GetCandidate(ctx, "m", "a")
	require.NoError(t, err)
	require.Len(t, a.Inputs, writers)
	for i := range writers {
		require.Equal(t, fmt.Sprintf("value-%02d", i), a.Inputs[fmt.Sprintf("key-%02d", i)])
	}
	b, err := s.GetCandidate(ctx, "m", "b")
	require.NoError(t, err)
	require.Nil(t, b.Inputs)
}

func testLargeCandidateList(t *testing.T, s migrations.MigrationStore) {
	ctx := context.Background()
	const total, batch = 10_000, 1_000
	require.NoError(t, s.SaveMigration(ctx, migration("big", at(0))))
	all := make([]api.CandidateInput, total)
	want := make([]string, total)
	for i := range total {
		all[i] = largeCandidate(i)
		want[i] = all[i].Id
	}
	// Submitted out of order, in batches.
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(total, func(i, j int) { all[i], all[j] = all[j], all[i] })
	for start := 0; start < total; start += batch {
		require.NoError(t, s.MergeCandidates(ctx, "big", all[start:start+batch], at(1)))
	}

	list, err := s.ListCandidates(ctx, "big")
	require.NoError(t, err)
	require.Equal(t, want, ids(list))
	require.Equal(t, largeCandidate(4242).Metadata, list[4242].Metadata)
	require.Equal(t, largeCandidate(4242).Files, list[4242].Files)
	m, err := s.GetMigration(ctx, "big")
	require.NoError(t, err)
	require.Equal(t, api.CandidateCounts{NotStarted: total}, m.Counts)
	ms, err := s.ListMigrations(ctx, true)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	require.Len(t, ms[0].Candidates, total)
}

// largeCandidate is a realistic candidate of a big migration.
func largeCandidate(i int) api.CandidateInput {
	id := fmt.Sprintf("service-%05d", i)
	return api.CandidateInput{
		Id:       id,
		Kind:     "service",
		Metadata: map[string]string{"team": fmt.Sprintf("team-%d", i%40), "tier": fmt.Sprint(i % 3), "owner": id + "@example.com"},
		Files: []api.FileGroup{{Name: "prod", Repo: "github.com/acme/" + id, Files: []api.FileRef{
			{Path: "Dockerfile", Url: "https://git.example/acme/" + id + "/Dockerfile"},
			{Path: "deploy/values.yaml", Url: "https://git.example/acme/" + id + "/deploy/values.yaml"},
		}}},
	}
}

// testVersions: every change a candidate list or a migration shows bumps the migration's version
// (and only that migration's), run summaries included; stale run writes do not.
func testVersions(t *testing.T, s migrations.MigrationStore) {
	ctx := context.Background()
	_, err := s.MigrationVersion(ctx, "absent")
	require.ErrorIs(t, err, migrations.ErrMigrationNotFound)

	require.NoError(t, s.SaveMigration(ctx, migration("va", at(0))))
	require.NoError(t, s.SaveMigration(ctx, migration("vb", at(1))))
	version := func(id string) int64 {
		v, err := s.MigrationVersion(ctx, id)
		require.NoError(t, err)
		return v
	}
	last := version("va")
	other := version("vb")
	bumped := func(what string, change func()) {
		t.Helper()
		change()
		v := version("va")
		require.Greater(t, v, last, "%s must bump the version", what)
		last = v
	}
	bumped("merging candidates", func() {
		require.NoError(t, s.MergeCandidates(ctx, "va", []api.CandidateInput{candidate("a", "service"), candidate("b", "service")}, at(2)))
	})
	bumped("re-announcing", func() { require.NoError(t, s.SaveMigration(ctx, migration("va", at(0)))) })
	bumped("merging inputs", func() {
		_, err := s.MergeInputs(ctx, "va", "a", map[string]string{"ticket": "T-1"})
		require.NoError(t, err)
	})
	bumped("beginning a run", func() {
		require.NoError(t, s.BeginRun(ctx, migrations.RunRecord{MigrationID: "va", CandidateID: "a", ExecutionID: "e1", StepNames: []string{"open-pr"}, StartedAt: at(3)}))
	})
	bumped("a step state that moves the run summary", func() {
		require.NoError(t, s.PutStepState(ctx, "va", "a", "e1", api.StepState{StepName: "open-pr", Status: api.StepStatusPending}, ""))
	})
	bumped("a step state that sets attention", func() {
		require.NoError(t, s.PutStepState(ctx, "va", "a", "e1", api.StepState{StepName: "open-pr", Status: api.StepStatusPending}, api.AttentionWaiting))
	})
	require.NoError(t, s.PutStepState(ctx, "va", "a", "stale", api.StepState{StepName: "merge-pr", Status: api.StepStatusFailed}, api.AttentionFailed))
	require.NoError(t, s.FinishRun(ctx, "va", "a", "stale", api.RunStatusCancelled, api.CandidateStatusNotStarted, at(4)))
	require.Equal(t, last, version("va"), "stale writes change nothing")
	bumped("finishing a run", func() {
		require.NoError(t, s.FinishRun(ctx, "va", "a", "e1", api.RunStatusCompleted, api.CandidateStatusCompleted, at(4)))
	})
	require.Equal(t, other, version("vb"), "another migration's changes leave it alone")

	vs, err := s.MigrationVersions(ctx)
	require.NoError(t, err)
	require.Equal(t, []migrations.MigrationVersion{{ID: "va", Version: last}, {ID: "vb", Version: other}}, vs)
}

// summaryReader reads a candidate's run summary every way a store offers, checks they agree,
// and returns it.
func summaryReader(t *testing.T, s migrations.MigrationStore, migrationID string) func(candidateID string) api.RunSummary {
	return func(candidateID string) api.RunSummary {
		t.Helper()
		ctx := context.Background()
		one, err := s.GetCandidate(ctx, migrationID, candidateID)
		require.NoError(t, err)
		list, err := s.ListCandidates(ctx, migrationID)
		require.NoError(t, err)
		all, err := s.ListMigrations(ctx, true)
		require.NoError(t, err)
		var fromList, fromAll api.RunSummary
		for _, c := range list {
			if c.Id == candidateID {
				fromList = c.Run
			}
		}
		for _, m := range all {
			for _, c := range m.Candidates {
				if m.Id == migrationID && c.Id == candidateID {
					fromAll = c.Run
				}
			}
		}
		require.Equal(t, one.Run, fromList, "GetCandidate and ListCandidates disagree")
		require.Equal(t, one.Run, fromAll, "GetCandidate and ListMigrations disagree")
		return one.Run
	}
}

// testRunSummary: the run summary follows BeginRun, PutStepState and FinishRun of the current
// execution, ignores stale ones, keeps attention only while the run runs, and every change of
// it bumps the migration's version.
func testRunSummary(t *testing.T, s migrations.MigrationStore) {
	ctx := context.Background()
	seed(t, s, "m", at(0), candidate("a", "service"), candidate("b", "service"))
	summary := summaryReader(t, s, "m")
	last, err := s.MigrationVersion(ctx, "m")
	require.NoError(t, err)
	change := func(what string, fn func()) {
		t.Helper()
		fn()
		v, err := s.MigrationVersion(ctx, "m")
		require.NoError(t, err)
		require.Greater(t, v, last, "%s must bump the version", what)
		last = v
	}
	unchanged := func(what string, fn func()) {
		t.Helper()
		fn()
		v, err := s.MigrationVersion(ctx, "m")
		require.NoError(t, err)
		require.Equal(t, last, v, "%s must not bump the version", what)
	}

	require.Equal(t, api.RunSummary{}, summary("a"), "a candidate that never ran has no summary")

	change("BeginRun", func() {
		require.NoError(t, s.BeginRun(ctx, runRecord("m", "a", "exec-1", at(1), "open-pr", "merge-pr")))
	})
	want := runningSince(at(1))
	require.Equal(t, want, summary("a"))
	require.Equal(t, api.RunSummary{}, summary("b"))

	change("the first step's start", func() {
		require.NoError(t, s.PutStepState(ctx, "m", "a", "exec-1", stepState("a", "open-pr", api.StepStatusInProgress, 1), ""))
	})
	want.StepName, want.StepStatus = "open-pr", api.StepStatusInProgress
	require.Equal(t, want, summary("a"))

	retrying := stepState("a", "open-pr", api.StepStatusInProgress, 1)
	retrying.Attempts, retrying.LastError = 3, "migrator answered 503"
	change("attention", func() { require.NoError(t, s.PutStepState(ctx, "m", "a", "exec-1", retrying, api.AttentionRetrying)) })
	want.Attention = api.AttentionRetrying
	require.Equal(t, want, summary("a"))

	// The migrator accepts the dispatch and goes silent: the summary says since when it waits,
	// until a callback ends the silence.
	silent := stepState("a", "open-pr", api.StepStatusInProgress, 1)
	silent.AcknowledgedAt, silent.TimedOutAt = at(1).Add(time.Second), at(1).Add(time.Minute)
	change("silence", func() { require.NoError(t, s.PutStepState(ctx, "m", "a", "exec-1", silent, api.AttentionSilent)) })
	want.Attention, want.WaitingSince = api.AttentionSilent, silent.AcknowledgedAt
	require.Equal(t, want, summary("a"))
	silent.Status, silent.TimedOutAt = api.StepStatusPending, time.Time{}
	change("a late callback", func() { require.NoError(t, s.PutStepState(ctx, "m", "a", "exec-1", silent, "")) })
	want.StepStatus, want.Attention, want.WaitingSince = api.StepStatusPending, "", time.Time{}
	require.Equal(t, want, summary("a"))

	// The step ends and the next one starts (the workflow writes both at once); then it fails.
	change("the next step", func() {
		require.NoError(t, s.PutStepState(ctx, "m", "a", "exec-1", stepState("a", "open-pr", api.StepStatusSucceeded, 2), ""))
		require.NoError(t, s.PutStepState(ctx, "m", "a", "exec-1", stepState("a", "merge-pr", api.StepStatusInProgress, 2), ""))
	})
	want.StepName, want.StepStatus, want.Attention = "merge-pr", api.StepStatusInProgress, ""
	require.Equal(t, want, summary("a"))
	change("a failure", func() {
		require.NoError(t, s.PutStepState(ctx, "m", "a", "exec-1", stepState("a", "merge-pr", api.StepStatusFailed, 3), api.AttentionFailed))
	})
	want.StepStatus, want.Attention = api.StepStatusFailed, api.AttentionFailed
	require.Equal(t, want, summary("a"))

	// Stale writers (another execution) change nothing.
	unchanged("a stale step state", func() {
		require.NoError(t, s.PutStepState(ctx, "m", "a", "exec-0", stepState("a", "open-pr", api.StepStatusPending, 4), api.AttentionWaiting))
	})
	unchanged("a stale finish", func() {
		require.NoError(t, s.FinishRun(ctx, "m", "a", "exec-0", api.RunStatusCompleted, api.CandidateStatusCompleted, at(4)))
	})
	require.Equal(t, want, summary("a"))

	// The retry succeeds; finishing clears the attention and keeps the step.
	change("the retry", func() {
		require.NoError(t, s.PutStepState(ctx, "m", "a", "exec-1", stepState("a", "merge-pr", api.StepStatusMerged, 5), ""))
	})
	change("FinishRun", func() {
		require.NoError(t, s.FinishRun(ctx, "m", "a", "exec-1", api.RunStatusCompleted, api.CandidateStatusCompleted, at(6)))
	})
	want = api.RunSummary{Status: api.RunStatusCompleted, StartedAt: at(1), FinishedAt: at(6), StepName: "merge-pr", StepStatus: api.StepStatusMerged}
	require.Equal(t, want, summary("a"))

	// A late write of the finished run keeps no attention: nobody can act on a finished run.
	require.NoError(t, s.PutStepState(ctx, "m", "a", "exec-1", stepState("a", "merge-pr", api.StepStatusFailed, 7), api.AttentionFailed))
	want.StepStatus = api.StepStatusFailed
	require.Equal(t, want, summary("a"))

	// A new run starts a new summary; the old execution is stale from then on.
	change("a new run", func() { require.NoError(t, s.BeginRun(ctx, runRecord("m", "a", "exec-2", at(10), "open-pr"))) })
	require.Equal(t, runningSince(at(10)), summary("a"))
	require.NoError(t, s.PutStepState(ctx, "m", "a", "exec-1", stepState("a", "open-pr", api.StepStatusFailed, 11), api.AttentionFailed))
	require.Equal(t, runningSince(at(10)), summary("a"))
}

// testRunSummaryCancelled: a cancelled run returns its candidate to not_started but its summary
// says cancelled, without attention.
func testRunSummaryCancelled(t *testing.T, s migrations.MigrationStore) {
	ctx := context.Background()
	seed(t, s, "m", at(0), candidate("a", "service"))
	summary := summaryReader(t, s, "m")
	require.NoError(t, s.BeginRun(ctx, runRecord("m", "a", "exec-1", at(1), "open-pr")))
	require.NoError(t, s.PutStepState(ctx, "m", "a", "exec-1", stepState("a", "open-pr", api.StepStatusPending, 1), api.AttentionWaiting))
	require.Equal(t, api.AttentionWaiting, summary("a").Attention)
	require.NoError(t, s.FinishRun(ctx, "m", "a", "exec-1", api.RunStatusCancelled, api.CandidateStatusNotStarted, at(2)))
	a, err := s.GetCandidate(ctx, "m", "a")
	require.NoError(t, err)
	require.Equal(t, api.CandidateStatusNotStarted, a.Status)
	require.Equal(t, api.RunSummary{Status: api.RunStatusCancelled, StartedAt: at(1), FinishedAt: at(2), StepName: "open-pr", StepStatus: api.StepStatusPending}, summary("a"))
}

// testCancellation: the notice of a cancelled run is recorded on that run only; a stale
// execution changes nothing, and a new run starts without one.
func testCancellation(t *testing.T, s migrations.MigrationStore) {
	ctx := context.Background()
	seed(t, s, "m", at(0), candidate("a", "service"), candidate("b", "service"))
	require.ErrorIs(t, s.PutCancellation(ctx, "m", "b", "exec-1", api.RunCancellation{Status: api.RunCancellationStatusDone, UpdatedAt: at(1)}), migrations.ErrRunNotFound)
	require.NoError(t, s.BeginRun(ctx, runRecord("m", "a", "exec-1", at(1), "open-pr")))
	require.NoError(t, s.FinishRun(ctx, "m", "a", "exec-1", api.RunStatusCancelled, api.CandidateStatusNotStarted, at(2)))
	run, err := s.GetRun(ctx, "m", "a")
	require.NoError(t, err)
	require.Nil(t, run.Cancellation)

	notifying := api.RunCancellation{Status: api.RunCancellationStatusNotifying, UpdatedAt: at(2)}
	require.NoError(t, s.PutCancellation(ctx, "m", "a", "exec-1", notifying))
	failed := api.RunCancellation{Status: api.RunCancellationStatusFailed, Error: "migrator answered 500", UpdatedAt: at(3)}
	require.NoError(t, s.PutCancellation(ctx, "m", "a", "exec-1", failed))
	require.NoError(t, s.PutCancellation(ctx, "m", "a", "exec-0", api.RunCancellation{Status: api.RunCancellationStatusDone, UpdatedAt: at(4)}), "a stale execution is a no-op")
	run, err = s.GetRun(ctx, "m", "a")
	require.NoError(t, err)
	require.Equal(t, &failed, run.Cancellation)

	require.NoError(t, s.BeginRun(ctx, runRecord("m", "a", "exec-2", at(5), "open-pr")))
	run, err = s.GetRun(ctx, "m", "a")
	require.NoError(t, err)
	require.Nil(t, run.Cancellation, "a new run has no notice")
	require.NoError(t, s.PutCancellation(ctx, "m", "a", "exec-1", failed))
	run, err = s.GetRun(ctx, "m", "a")
	require.NoError(t, err)
	require.Nil(t, run.Cancellation, "the old run's notice does not land on the new run")
}

// testRollouts: a rollout's read model is replaced whole, listed oldest first, and belongs to
// a known migration.
func testRollouts(t *testing.T, s migrations.MigrationStore) {
	ctx := context.Background()
	seed(t, s, "m", at(0), candidate("a", "service"), candidate("b", "service"))
	list, err := s.ListRollouts(ctx, "m")
	require.NoError(t, err)
	require.Empty(t, list)
	_, err = s.GetRollout(ctx, "m", "r1")
	require.ErrorIs(t, err, migrations.ErrRolloutNotFound)
	_, err = s.GetRollout(ctx, "nope", "r1")
	require.ErrorIs(t, err, migrations.ErrMigrationNotFound)
	_, err = s.ListRollouts(ctx, "nope")
	require.ErrorIs(t, err, migrations.ErrMigrationNotFound)
	require.ErrorIs(t, s.PutRollout(ctx, api.Rollout{Id: "r1", MigrationId: "nope", CreatedAt: at(1)}), migrations.ErrMigrationNotFound)

	r1 := api.Rollout{Id: "r1", MigrationId: "m", Status: api.RolloutStatusRunning, Total: 2, Started: 1, Running: 1,
		Waves:         []api.RolloutWave{{Size: 1, Started: 1}, {Size: 1}},
		Members:       []api.RolloutMember{{Id: "a", Wave: 0, Status: api.RolloutMemberStatusRunning}, {Id: "b", Wave: 1, Status: api.RolloutMemberStatusWaiting}},
		MaxConcurrent: 1, Window: api.RolloutWindow{Days: []api.RolloutWindowDays{"mon"}, Start: "09:00", End: "17:00", TimeZone: "Europe/Berlin"},
		CreatedBy: "jane", CreatedAt: at(2), UpdatedAt: at(2)}
	r0 := api.Rollout{Id: "r0", MigrationId: "m", Status: api.RolloutStatusCompleted, Waves: []api.RolloutWave{}, CreatedAt: at(1), UpdatedAt: at(1)}
	require.NoError(t, s.PutRollout(ctx, r1))
	require.NoError(t, s.PutRollout(ctx, r0))
	got, err := s.GetRollout(ctx, "m", "r1")
	require.NoError(t, err)
	require.Equal(t, r1, got)

	r1.Status, r1.PausedReason, r1.Failed, r1.Running, r1.UpdatedAt = api.RolloutStatusPaused, "1 runs failed", 1, 0, at(3)
	r1.Members[0].Status = api.RolloutMemberStatusFailed
	require.NoError(t, s.PutRollout(ctx, r1))
	list, err = s.ListRollouts(ctx, "m")
	require.NoError(t, err)
	require.Equal(t, []api.Rollout{r0, r1}, list, "oldest first, each as last put")
}

// testCountAttention: the store counts the running candidates whose run needs attention, as
// NeedsAttention over ListCandidates does, without returning them.
func testCountAttention(t *testing.T, s migrations.MigrationStore) {
	ctx := context.Background()
	require.NoError(t, s.SaveMigration(ctx, migration("m1", at(0))))
	require.NoError(t, s.MergeCandidates(ctx, "m1", []api.CandidateInput{candidate("a", "service"), candidate("b", "service"),
		candidate("c", "service"), candidate("d", "service")}, at(1)))
	n, err := s.CountAttention(ctx, "m1")
	require.NoError(t, err)
	require.Zero(t, n)
	for i, cid := range []string{"a", "b", "c"} {
		require.NoError(t, s.BeginRun(ctx, migrations.RunRecord{RunID: migrations.RunID("m1", cid), ExecutionID: "e-" + cid, MigrationID: "m1",
			CandidateID: cid, Status: api.RunStatusRunning, StepNames: []string{"x"}, StartedAt: at(2 + i)}))
	}
	failed := api.StepState{StepName: "x", Status: api.StepStatusFailed, StartedAt: at(5), FinishedAt: at(6), LastError: "boom"}
	require.NoError(t, s.PutStepState(ctx, "m1", "a", "e-a", failed, api.AttentionFailed))
	require.NoError(t, s.PutStepState(ctx, "m1", "b", "e-b", api.StepState{StepName: "x", Status: api.StepStatusInProgress, StartedAt: at(5)}, ""))
	require.NoError(t, s.PutStepState(ctx, "m1", "c", "e-c", failed, api.AttentionFailed))
	require.NoError(t, s.FinishRun(ctx, "m1", "c", "e-c", api.RunStatusCancelled, api.CandidateStatusNotStarted, at(7)))
	n, err = s.CountAttention(ctx, "m1")
	require.NoError(t, err)
	cs, err := s.ListCandidates(ctx, "m1")
	require.NoError(t, err)
	want := 0
	for _, c := range cs {
		if migrations.NeedsAttention(c) {
			want++
		}
	}
	require.Equal(t, 1, want)
	require.Equal(t, want, n, "a fails and waits; b runs fine; c's failed run was cancelled")
	_, err = s.CountAttention(ctx, "nope")
	require.ErrorIs(t, err, migrations.ErrMigrationNotFound)
}
