package store

import (
	"context"
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
