package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

func TestSQLiteSettingsAndDurability(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "data dir", "drover.db")
	_, err := OpenSQLite(path)
	require.Error(t, err, "the directory does not exist")

	path = filepath.Join(t.TempDir(), "drover db?#.sqlite") // characters that need escaping in a URI
	s, err := OpenSQLite(path)
	require.NoError(t, err)
	var mode string
	var sync, fk, busy int
	require.NoError(t, s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode))
	require.NoError(t, s.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync))
	require.NoError(t, s.w.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk))
	require.NoError(t, s.w.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy))
	require.Equal(t, "wal", mode)
	require.Equal(t, 1, sync, "synchronous=NORMAL")
	require.Equal(t, 1, fk)
	require.EqualValues(t, sqliteBusyTimeout.Milliseconds(), busy)

	require.NoError(t, s.SaveMigration(ctx, api.Migration{Id: "m", Name: "M", CreatedAt: time.Unix(100, 5)}))
	require.NoError(t, s.MergeCandidates(ctx, "m", []api.CandidateInput{{Id: "a", Kind: "service"}}, time.Unix(101, 0)))
	require.NoError(t, s.BeginRun(ctx, migrations.RunRecord{MigrationID: "m", CandidateID: "a", ExecutionID: "e", StepNames: []string{"one"}, StartedAt: time.Unix(102, 0)}))
	require.NoError(t, s.Close())

	// Reopening finds everything and keeps the schema.
	s, err = OpenSQLite(path)
	require.NoError(t, err)
	m, err := s.GetMigration(ctx, "m")
	require.NoError(t, err)
	require.Equal(t, "M", m.Name)
	require.Equal(t, time.Unix(100, 5).UTC(), m.CreatedAt)
	require.Equal(t, api.CandidateCounts{Running: 1}, m.Counts)
	run, err := s.GetRun(ctx, "m", "a")
	require.NoError(t, err)
	require.Equal(t, "e", run.ExecutionID)

	// A database from a newer Drover is refused rather than misread.
	_, err = s.w.ExecContext(ctx, "PRAGMA user_version = 99")
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = OpenSQLite(path)
	require.ErrorContains(t, err, "schema version 99 is newer")
}

// TestSQLiteQueryPlans checks that the hot reads are index lookups, not table scans.
func TestSQLiteQueryPlans(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "drover.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	plan := func(query string, args ...any) string {
		rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
		require.NoError(t, err)
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
			lines = append(lines, detail)
		}
		require.NoError(t, rows.Err())
		return strings.Join(lines, "\n")
	}
	cases := []struct {
		name, query string
		args        []any
		want        []string
	}{
		{"list candidates", sqlListCandidates, []any{"m"}, []string{"SEARCH c USING PRIMARY KEY (migration_id=?)", "SEARCH s USING PRIMARY KEY (migration_id=? AND candidate_id=?)"}},
		{"count candidates", sqlCountCandidates, []any{"m"}, []string{"SEARCH candidate_states USING COVERING INDEX candidate_states_by_status (migration_id=?)"}},
		{"count all candidates", sqlCountAllCandidates, nil, []string{"SCAN candidate_states USING COVERING INDEX candidate_states_by_status"}},
		{"get run", sqlGetRun, []any{"m", "a"}, []string{"SEARCH r USING PRIMARY KEY", "SEARCH s USING PRIMARY KEY"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := plan(tc.query, tc.args...)
			for _, w := range tc.want {
				require.Contains(t, p, w)
			}
			require.NotContains(t, p, "TEMP B-TREE", "the order must come from an index")
		})
	}
}

// TestSQLiteUpgradesVersion1: a database written before migrations had a version column opens,
// keeps its data and gains the column.
func TestSQLiteUpgradesVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drover.db")
	s, err := OpenSQLite(path)
	require.NoError(t, err)
	require.NoError(t, s.SaveMigration(ctx, api.Migration{Id: "m", Name: "M", CreatedAt: time.Unix(100, 0)}))
	// Turn it back into a version-1 database.
	downgradeToVersion2(t, s)
	_, err = s.w.ExecContext(ctx, `ALTER TABLE migrations DROP COLUMN version`)
	require.NoError(t, err)
	_, err = s.w.ExecContext(ctx, `PRAGMA user_version = 1`)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s, err = OpenSQLite(path)
	require.NoError(t, err)
	defer s.Close()
	m, err := s.GetMigration(ctx, "m")
	require.NoError(t, err)
	require.Equal(t, "M", m.Name)
	v0, err := s.MigrationVersion(ctx, "m")
	require.NoError(t, err)
	require.NoError(t, s.MergeCandidates(ctx, "m", []api.CandidateInput{{Id: "a", Kind: "service"}}, time.Unix(101, 0)))
	v1, err := s.MigrationVersion(ctx, "m")
	require.NoError(t, err)
	require.Greater(t, v1, v0)
}

// dropRunColumns turns the database back into schema version v (at most 5) by dropping the
// webhook tables (version 8), the history table (version 7), the rollouts table (version 6)
// and the runs columns the later versions added.
func dropRunColumns(t *testing.T, s *SQLiteStore, v int, cols ...string) {
	t.Helper()
	_, err := s.w.ExecContext(context.Background(), dropWebhookTables+`; DROP TABLE run_history; DROP TABLE rollouts`)
	require.NoError(t, err)
	for _, col := range cols {
		_, err := s.w.ExecContext(context.Background(), `ALTER TABLE runs DROP COLUMN `+col)
		require.NoError(t, err)
	}
	_, err = s.w.ExecContext(context.Background(), fmt.Sprintf(`PRAGMA user_version = %d`, v))
	require.NoError(t, err)
}

// TestSQLiteUpgradesVersion5: a database written before rollouts opens and keeps one.
func TestSQLiteUpgradesVersion5(t *testing.T) {
	ctx := context.Background()
	s, path, t0 := oneRun(t)
	dropRunColumns(t, s, 5)
	s = reopen(t, s, path)
	run, err := s.GetRun(ctx, "m", "a")
	require.NoError(t, err)
	require.Equal(t, "e", run.ExecutionID)
	r := api.Rollout{Id: "r1", MigrationId: "m", Status: api.RolloutStatusRunning, Total: 1, Waves: []api.RolloutWave{{Size: 1}}, CreatedAt: t0, UpdatedAt: t0}
	require.NoError(t, s.PutRollout(ctx, r))
	got, err := s.GetRollout(ctx, "m", "r1")
	require.NoError(t, err)
	require.Equal(t, r, got)
}

// downgradeToVersion4 removes what schema version 5 added.
func downgradeToVersion4(t *testing.T, s *SQLiteStore) { dropRunColumns(t, s, 4, "cancellation") }

// downgradeToVersion3 removes what schema versions 4 and 5 added.
func downgradeToVersion3(t *testing.T, s *SQLiteStore) {
	dropRunColumns(t, s, 3, "cancellation", "waiting_since")
}

// downgradeToVersion2 removes what schema versions 3 to 5 added.
func downgradeToVersion2(t *testing.T, s *SQLiteStore) {
	dropRunColumns(t, s, 2, "cancellation", "waiting_since", "step_name", "step_status", "attention")
}

// TestSQLiteUpgradesVersion2: a database written before run summaries opens, keeps its data, and
// gains each run's summary, derived from its step states and step definitions.
func TestSQLiteUpgradesVersion2(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drover.db")
	s, err := OpenSQLite(path)
	require.NoError(t, err)
	t0 := time.Unix(1_700_000_000, 0).UTC()
	steps := []api.StepDefinition{{Name: "change"}, {Name: "review", Manual: true}}
	require.NoError(t, s.SaveMigration(ctx, api.Migration{Id: "m", Name: "M", Steps: steps, CreatedAt: t0}))
	require.NoError(t, s.MergeCandidates(ctx, "m", []api.CandidateInput{
		{Id: "waiting", Kind: "service"}, {Id: "failed", Kind: "service"}, {Id: "done", Kind: "service"}, {Id: "never", Kind: "service"},
		{Id: "own-steps", Kind: "service", Steps: []api.StepDefinition{{Name: "sign-off", Manual: true}}},
	}, t0))
	run := func(cid string, states ...api.StepState) {
		names := []string{"change", "review"}
		if cid == "own-steps" {
			names = []string{"sign-off"}
		}
		require.NoError(t, s.BeginRun(ctx, migrations.RunRecord{MigrationID: "m", CandidateID: cid, ExecutionID: "e-" + cid, Status: api.RunStatusRunning, StepNames: names, StartedAt: t0}))
		for _, st := range states {
			require.NoError(t, s.PutStepState(ctx, "m", cid, "e-"+cid, st, "attention the upgrade must not keep"))
		}
	}
	done := api.StepState{StepName: "change", Status: api.StepStatusSucceeded}
	run("waiting", done, api.StepState{StepName: "review", Status: api.StepStatusPending})
	run("failed", api.StepState{StepName: "change", Status: api.StepStatusFailed, LastError: "CI is red"})
	run("done", done, api.StepState{StepName: "review", Status: api.StepStatusSucceeded})
	require.NoError(t, s.FinishRun(ctx, "m", "done", "e-done", api.RunStatusCompleted, api.CandidateStatusCompleted, t0.Add(time.Hour)))
	run("own-steps", api.StepState{StepName: "sign-off", Status: api.StepStatusPending})
	downgradeToVersion2(t, s)
	require.NoError(t, s.Close())

	s, err = OpenSQLite(path)
	require.NoError(t, err)
	defer s.Close()
	list, err := s.ListCandidates(ctx, "m")
	require.NoError(t, err)
	got := map[string]api.RunSummary{}
	for _, c := range list {
		got[c.Id] = c.Run
	}
	running := func(step string, status api.StepStatus, attention api.Attention) api.RunSummary {
		return api.RunSummary{Status: api.RunStatusRunning, StartedAt: t0, StepName: step, StepStatus: status, Attention: attention}
	}
	require.Equal(t, map[string]api.RunSummary{
		"waiting":   running("review", api.StepStatusPending, api.AttentionWaiting),
		"failed":    running("change", api.StepStatusFailed, api.AttentionFailed),
		"done":      {Status: api.RunStatusCompleted, StartedAt: t0, FinishedAt: t0.Add(time.Hour), StepName: "review", StepStatus: api.StepStatusSucceeded},
		"never":     {},
		"own-steps": running("sign-off", api.StepStatusPending, api.AttentionWaiting),
	}, got)
	run2, err := s.GetRun(ctx, "m", "waiting")
	require.NoError(t, err)
	require.Len(t, run2.Steps, 2, "step states are kept")
}

// TestSQLiteUpgradesVersion3: a database written before silent steps opens, keeps its run
// summaries, and records since when a silent step waits.
func TestSQLiteUpgradesVersion3(t *testing.T) {
	ctx := context.Background()
	s, path, t0 := oneRun(t)
	require.NoError(t, s.PutStepState(ctx, "m", "a", "e", api.StepState{StepName: "change", Status: api.StepStatusFailed}, api.AttentionFailed))
	downgradeToVersion3(t, s)
	s = reopen(t, s, path)
	c, err := s.GetCandidate(ctx, "m", "a")
	require.NoError(t, err)
	require.Equal(t, api.RunSummary{Status: api.RunStatusRunning, StartedAt: t0, StepName: "change", StepStatus: api.StepStatusFailed, Attention: api.AttentionFailed}, c.Run)
	silent := api.StepState{StepName: "change", Status: api.StepStatusInProgress, AcknowledgedAt: t0.Add(time.Second), TimedOutAt: t0.Add(time.Hour)}
	require.NoError(t, s.PutStepState(ctx, "m", "a", "e", silent, api.AttentionSilent))
	c, err = s.GetCandidate(ctx, "m", "a")
	require.NoError(t, err)
	require.Equal(t, silent.AcknowledgedAt, c.Run.WaitingSince)
}

// TestSQLiteUpgradesVersion4: a database written before cancellation notices opens, keeps its
// runs, and records a notice.
func TestSQLiteUpgradesVersion4(t *testing.T) {
	ctx := context.Background()
	s, path, t0 := oneRun(t)
	downgradeToVersion4(t, s)
	s = reopen(t, s, path)
	run, err := s.GetRun(ctx, "m", "a")
	require.NoError(t, err)
	require.Equal(t, "e", run.ExecutionID)
	require.Nil(t, run.Cancellation)
	done := api.RunCancellation{Status: api.RunCancellationStatusDone, UpdatedAt: t0}
	require.NoError(t, s.PutCancellation(ctx, "m", "a", "e", done))
	run, err = s.GetRun(ctx, "m", "a")
	require.NoError(t, err)
	require.Equal(t, &done, run.Cancellation)
}

// TestSQLiteUpgradesVersion6: a database written before run history opens, and the runs under
// way from then on are recorded.
func TestSQLiteUpgradesVersion6(t *testing.T) {
	ctx := context.Background()
	s, path, t0 := oneRun(t)
	_, err := s.w.ExecContext(ctx, dropWebhookTables+`; DROP TABLE run_history; PRAGMA user_version = 6`)
	require.NoError(t, err)
	s = reopen(t, s, path)
	require.NoError(t, s.PutStepState(ctx, "m", "a", "e", api.StepState{StepName: "change", Status: api.StepStatusInProgress, StartedAt: t0, UpdatedAt: t0, DispatchId: "e/change/1"}, ""))
	evs, _, err := s.ListHistory(ctx, "m", "a", migrations.HistoryPage{})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, api.HistoryDispatched, evs[0].Kind)
}

// dropWebhookTables removes what schema version 8 added.
const dropWebhookTables = `DROP TABLE webhook_deliveries; DROP TABLE webhooks`

// TestSQLiteUpgradesVersion7: a database written before webhooks opens, keeps its runs, and
// keeps webhooks from then on.
func TestSQLiteUpgradesVersion7(t *testing.T) {
	ctx := context.Background()
	s, path, t0 := oneRun(t)
	_, err := s.w.ExecContext(ctx, dropWebhookTables+`; PRAGMA user_version = 7`)
	require.NoError(t, err)
	s = reopen(t, s, path)
	run, err := s.GetRun(ctx, "m", "a")
	require.NoError(t, err)
	require.Equal(t, "e", run.ExecutionID)
	w := migrations.Webhook{Webhook: api.Webhook{Id: "wh-1", Url: "https://hooks.example.com/x", Format: api.WebhookFormatJson,
		Events: []api.NotificationKind{}, CreatedAt: t0, CreatedBy: "admin"}, Secret: "whsec_x"}
	require.NoError(t, s.PutWebhook(ctx, w))
	got, err := s.GetWebhook(ctx, "wh-1")
	require.NoError(t, err)
	require.Equal(t, w, got)
}

// TestSQLiteHistoryRetention: the history stored longer ago than the retention is dropped by a
// later write; the rest stays.
func TestSQLiteHistoryRetention(t *testing.T) {
	ctx := context.Background()
	s, _, t0 := oneRun(t)
	t.Cleanup(func() { _ = s.Close() })
	s.SetHistoryRetention(time.Hour)
	old := time.Now().Add(-2 * time.Hour).UnixNano()
	_, err := s.w.ExecContext(ctx, `UPDATE run_history SET written_at = ?`, old) // the run's start, stored "2 hours ago"
	require.NoError(t, err)
	s.prunedAt = time.Time{}
	require.NoError(t, s.PutStepState(ctx, "m", "a", "e", api.StepState{StepName: "change", Status: api.StepStatusInProgress, StartedAt: t0, UpdatedAt: t0, DispatchId: "e/change/1"}, ""))
	evs, _, err := s.ListHistory(ctx, "m", "a", migrations.HistoryPage{})
	require.NoError(t, err)
	require.Len(t, evs, 1, "the run's start is gone, the new event is kept")
	require.Equal(t, api.HistoryDispatched, evs[0].Kind)
}

// oneRun is a database with migration m, candidate a and its running run (execution "e").
func oneRun(t *testing.T) (*SQLiteStore, string, time.Time) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drover.db")
	s, err := OpenSQLite(path)
	require.NoError(t, err)
	t0 := time.Unix(1_700_000_000, 0).UTC()
	require.NoError(t, s.SaveMigration(ctx, api.Migration{Id: "m", Name: "M", Steps: []api.StepDefinition{{Name: "change"}}, CreatedAt: t0}))
	require.NoError(t, s.MergeCandidates(ctx, "m", []api.CandidateInput{{Id: "a", Kind: "service"}}, t0))
	require.NoError(t, s.BeginRun(ctx, migrations.RunRecord{MigrationID: "m", CandidateID: "a", ExecutionID: "e", Status: api.RunStatusRunning, StepNames: []string{"change"}, StartedAt: t0}))
	return s, path, t0
}

// reopen closes s and opens its database again (upgrading it), closed when the test ends.
func reopen(t *testing.T, s *SQLiteStore, path string) *SQLiteStore {
	t.Helper()
	require.NoError(t, s.Close())
	s, err := OpenSQLite(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}
