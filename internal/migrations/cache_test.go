package migrations_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/migrations/store"
	"github.com/drover-dev/drover/pkg/api"
)

// TestCachedReadsFollowEveryChange: the cached JSON answers never lag behind a change that the
// candidates list, the migration or the list of migrations shows.
func TestCachedReadsFollowEveryChange(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "drover.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	svc := migrations.NewService(st, nil, nil, nil, nil)
	ann := api.MigrationAnnouncement{Id: "m", Name: "M", MigratorUrl: "http://127.0.0.1:1", Steps: []api.StepDefinition{{Name: "one", MigratorApp: "m"}},
		RequiredInputs: []api.RequiredInput{{Name: "team", Label: "Team"}},
		Candidates:     []api.CandidateInput{{Id: "a", Kind: "service"}}}
	require.NoError(t, svc.Announce(ctx, ann))

	candidates := func() map[string]api.Candidate {
		raw, err := svc.ListCandidatesJSON(ctx, "m")
		require.NoError(t, err)
		var cs []api.Candidate
		require.NoError(t, json.Unmarshal(raw, &cs))
		out := map[string]api.Candidate{}
		for _, c := range cs {
			out[c.Id] = c
		}
		return out
	}
	migration := func() api.Migration {
		raw, err := svc.GetMigrationJSON(ctx, "m", true)
		require.NoError(t, err)
		var m api.Migration
		require.NoError(t, json.Unmarshal(raw, &m))
		return m
	}
	list := func() api.MigrationList {
		raw, err := svc.ListMigrationsJSON(ctx, true)
		require.NoError(t, err)
		var l api.MigrationList
		require.NoError(t, json.Unmarshal(raw, &l))
		return l
	}
	require.Len(t, candidates(), 1)
	require.Equal(t, 1, migration().Counts.NotStarted)
	require.Len(t, list().Migrations, 1)

	require.NoError(t, svc.SubmitCandidates(ctx, "m", []api.CandidateInput{{Id: "b", Kind: "service"}}))
	require.Len(t, candidates(), 2)
	require.Len(t, migration().Candidates, 2)

	_, err = svc.UpdateInputs(ctx, "m", "a", map[string]string{"team": "x"})
	require.NoError(t, err)
	require.Equal(t, "x", candidates()["a"].Inputs["team"])

	require.NoError(t, st.BeginRun(ctx, migrations.RunRecord{MigrationID: "m", CandidateID: "a", ExecutionID: "e", StepNames: []string{"one"}, StartedAt: time.Now()}))
	require.Equal(t, api.CandidateStatusRunning, candidates()["a"].Status)
	require.Equal(t, 1, migration().Counts.Running)
	require.Equal(t, 1, list().Migrations[0].Counts.Running)

	// A step state that changes the run summary shows in every cached answer.
	require.NoError(t, st.PutStepState(ctx, "m", "a", "e", api.StepState{StepName: "one", Status: api.StepStatusFailed}, api.AttentionFailed))
	require.Equal(t, api.AttentionFailed, candidates()["a"].Run.Attention)
	require.Equal(t, 1, migration().Counts.Attention)
	require.Equal(t, 1, list().Migrations[0].Counts.Attention)
	page, total, err := svc.FindCandidates(ctx, "m", migrations.CandidateFilter{Attention: new(true)})
	require.NoError(t, err)
	require.Equal(t, 1, total)
	require.Equal(t, "a", page[0].Id)
	require.NoError(t, st.PutStepState(ctx, "m", "a", "e", api.StepState{StepName: "one", Status: api.StepStatusInProgress, Attempts: 1}, ""))
	require.Empty(t, candidates()["a"].Run.Attention)
	require.Equal(t, 0, migration().Counts.Attention)
	_, total, err = svc.FindCandidates(ctx, "m", migrations.CandidateFilter{Attention: new(true)})
	require.NoError(t, err)
	require.Zero(t, total)

	require.NoError(t, st.FinishRun(ctx, "m", "a", "e", api.RunStatusCompleted, api.CandidateStatusCompleted, time.Now()))
	require.Equal(t, api.CandidateStatusCompleted, candidates()["a"].Status)
	require.Equal(t, 1, list().Migrations[0].Counts.Completed)

	ann.Id, ann.Name = "n", "N"
	require.NoError(t, svc.Announce(ctx, ann))
	require.Len(t, list().Migrations, 2)
	ann.Id, ann.Description = "m", "changed"
	require.NoError(t, svc.Announce(ctx, ann))
	require.Equal(t, "changed", migration().Description)

	_, err = svc.ListCandidatesJSON(ctx, "absent")
	require.ErrorIs(t, err, migrations.ErrMigrationNotFound)

	// Concurrent readers get the same, complete answer.
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, err := svc.ListCandidatesJSON(ctx, "m")
			if err == nil && len(raw) == 0 {
				err = context.Canceled
			}
			require.NoError(t, err)
		}()
	}
	wg.Wait()
}
