package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/testsupport"
	"github.com/drover-dev/drover/pkg/api"
)

// Definitions and step states as the stores wrote them before the wire contract was exact.
const (
	legacyMigrationDef = `{"id":"m","name":"M","description":"d","migratorUrl":"http://x","overview":[{"name":"Change","description":"edit","steps":["one"]},{"name":"Finish"}],"steps":[{"name":"one","config":{"draft":true,"reviewers":["a","b"],"branch":"main"}}],"createdAt":"0001-01-01T00:00:00Z","candidates":null}`
	legacyCandidateDef = `{"id":"a","kind":"service","metadata":{"team":"t"},"files":[{"repo":"acme/a","files":["Dockerfile","values.yaml"]}],"steps":[{"name":"one","config":{"n":3}}]}`
	legacyStepState    = `{"stepName":"one","candidate":"a","status":"pending","metadata":{"prUrl":"https://git.example/pr/1"}}`
)

func TestLegacyDefinitionsDecode(t *testing.T) {
	m, err := decodeMigrationDef("m", []byte(legacyMigrationDef), 1, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"Change", "Finish"}, m.Overview)
	require.Equal(t, []api.OverviewPhase{{Name: "Change", Description: "edit", Steps: []string{"one"}}, {Name: "Finish"}}, m.Phases)
	require.Equal(t, api.StepConfig{"draft": "true", "reviewers": `["a","b"]`, "branch": "main"}, m.Steps[0].Config)

	c, err := decodeCandidate("a", []byte(legacyCandidateDef), "running", 3, nil)
	require.NoError(t, err)
	require.Equal(t, []api.FileGroup{{Repo: "acme/a", Files: []api.FileRef{{Path: "Dockerfile"}, {Path: "values.yaml"}}}}, c.Files)
	require.Equal(t, api.StepConfig{"n": "3"}, c.Steps[0].Config)

	st, err := decodeStepState([]byte(legacyStepState))
	require.NoError(t, err)
	require.Equal(t, api.StepState{StepName: "one", Status: api.StepStatusPending, Metadata: map[string]string{"prUrl": "https://git.example/pr/1"}}, st)

	_, err = decodeMigrationDef("m", []byte(`{"overview":"not a list"`), 1, 2)
	require.Error(t, err, "a broken definition is still an error")
}

func TestStepStateIsStoredWithoutItsCandidate(t *testing.T) {
	enc, err := encodeStepState(api.StepState{StepName: "one", Status: api.StepStatusPending, Candidate: api.Candidate{Id: "a", Kind: "service"}})
	require.NoError(t, err)
	require.NotContains(t, enc, "candidate")
}

// TestSQLiteReadsLegacyRows: a database written by an earlier version, with the old shapes in
// its rows, is read in the current shapes.
func TestSQLiteReadsLegacyRows(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "drover.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.SaveMigration(ctx, api.Migration{Id: "m", Name: "M", CreatedAt: time.Unix(100, 0)}))
	require.NoError(t, s.MergeCandidates(ctx, "m", []api.CandidateInput{{Id: "a", Kind: "service"}}, time.Unix(101, 0)))
	require.NoError(t, s.BeginRun(ctx, migrations.RunRecord{MigrationID: "m", CandidateID: "a", ExecutionID: "e", StepNames: []string{"one"}, StartedAt: time.Unix(102, 0)}))
	require.NoError(t, s.PutStepState(ctx, "m", "a", "e", api.StepState{StepName: "one", Status: api.StepStatusInProgress}, ""))
	for _, q := range []struct {
		sql string
		arg string
	}{
		{`UPDATE migrations SET definition = ? WHERE id = 'm'`, legacyMigrationDef},
		{`UPDATE candidates SET definition = ? WHERE migration_id = 'm' AND id = 'a'`, legacyCandidateDef},
		{`UPDATE run_steps SET state = ? WHERE migration_id = 'm' AND candidate_id = 'a'`, legacyStepState},
	} {
		_, err := s.w.ExecContext(ctx, q.sql, q.arg)
		require.NoError(t, err)
	}
	requireLegacyRead(t, s)
}

// TestRedisReadsLegacyKeys is TestSQLiteReadsLegacyRows for Redis.
func TestRedisReadsLegacyKeys(t *testing.T) {
	ctx := context.Background()
	client := testsupport.RedisClient(t)
	s := NewRedisStore(client, "legacy")
	require.NoError(t, s.SaveMigration(ctx, api.Migration{Id: "m", Name: "M", CreatedAt: time.Unix(100, 0)}))
	require.NoError(t, s.MergeCandidates(ctx, "m", []api.CandidateInput{{Id: "a", Kind: "service"}}, time.Unix(101, 0)))
	require.NoError(t, s.BeginRun(ctx, migrations.RunRecord{MigrationID: "m", CandidateID: "a", ExecutionID: "e", StepNames: []string{"one"}, StartedAt: time.Unix(102, 0)}))
	k := s.keys("m")
	require.NoError(t, client.HSet(ctx, k.meta, migFieldDef, legacyMigrationDef).Err())
	require.NoError(t, client.HSet(ctx, k.defs, "a", legacyCandidateDef).Err())
	require.NoError(t, client.HSet(ctx, k.run("a"), runStepField+"one", legacyStepState).Err())
	requireLegacyRead(t, s)
}

// requireLegacyRead asserts that s reads the legacy rows of migration m in the current shapes.
func requireLegacyRead(t *testing.T, s migrations.MigrationStore) {
	t.Helper()
	ctx := context.Background()
	m, err := s.GetMigration(ctx, "m")
	require.NoError(t, err)
	require.Equal(t, []string{"Change", "Finish"}, m.Overview)
	cs, err := s.ListCandidates(ctx, "m")
	require.NoError(t, err)
	require.Equal(t, "Dockerfile", cs[0].Files[0].Files[0].Path)
	run, err := s.GetRun(ctx, "m", "a")
	require.NoError(t, err)
	require.Equal(t, api.StepStatusPending, run.Steps[0].Status)
}
