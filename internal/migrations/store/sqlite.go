package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

// sqliteBusyTimeout is how long a connection waits for another process's write lock.
const sqliteBusyTimeout = 10 * time.Second

// SQLiteStore is the embedded, durable MigrationStore of drover dev (see sqlite_schema.go for
// the schema). Writes go through one connection that begins its transactions with BEGIN
// IMMEDIATE, so a check and the write that depends on it never interleave with another
// writer; reads use a separate pool and see WAL snapshots without blocking writes.
type SQLiteStore struct {
	w *sql.DB // the single writer connection
	r *sql.DB // readers

	retention time.Duration // of run history
	pruneMu   sync.Mutex
	prunedAt  time.Time // when history was last pruned
}

var _ migrations.MigrationStore = (*SQLiteStore)(nil)

// OpenSQLite opens (creating if needed) the database file at path, in WAL mode with
// synchronous=NORMAL, and creates the schema if it is absent.
func OpenSQLite(path string) (*SQLiteStore, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	busy := fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds())
	dsn := func(q url.Values) string {
		return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}).String()
	}
	w, err := sql.Open("sqlite", dsn(url.Values{
		"_pragma": {busy, "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(1)"},
		"_txlock": {"immediate"},
	}))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrateSQLite(w); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn(url.Values{
		"_pragma": {busy, "foreign_keys(1)", "query_only(1)"},
	}))
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	return &SQLiteStore{w: w, r: r}, nil
}

// migrateSQLite creates the schema in an empty database, upgrades an older one, and refuses one
// written by a newer version of Drover.
func migrateSQLite(w *sql.DB) error {
	ctx := context.Background()
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin schema transaction: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	switch {
	case version == sqliteSchemaVersion:
		return nil
	case version > sqliteSchemaVersion:
		return fmt.Errorf("database schema version %d is newer than this build supports (%d); use a newer drover or another data directory", version, sqliteSchemaVersion)
	case version != 0:
		for v := version; v < sqliteSchemaVersion; v++ {
			up, ok := sqliteUpgrades[v]
			if !ok {
				return fmt.Errorf("database schema version %d has no upgrade path to %d", v, sqliteSchemaVersion)
			}
			if _, err := tx.ExecContext(ctx, up.statements); err != nil {
				return fmt.Errorf("upgrade schema from version %d: %w", v, err)
			}
			if up.backfill != nil {
				if err := up.backfill(ctx, tx); err != nil {
					return fmt.Errorf("upgrade schema from version %d: %w", v, err)
				}
			}
		}
	default:
		if _, err := tx.ExecContext(ctx, sqliteSchema+sqlRolloutsTable+sqlHistoryTable+sqlWebhookTables); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", sqliteSchemaVersion)); err != nil {
		return fmt.Errorf("set schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit schema: %w", err)
	}
	return nil
}

// backfillRunSummaries fills in the run summary's step and attention of every run recorded
// before the store kept them (the upgrade to schema version 3), from the run's step states.
func backfillRunSummaries(ctx context.Context, tx *sql.Tx) error {
	runs, err := readRunsForBackfill(ctx, tx)
	if err != nil {
		return fmt.Errorf("backfill run summaries: %w", err)
	}
	update, err := tx.PrepareContext(ctx, `UPDATE runs SET step_name = ?, step_status = ?, attention = ? WHERE migration_id = ? AND candidate_id = ?`)
	if err != nil {
		return fmt.Errorf("backfill run summaries: %w", err)
	}
	defer update.Close()
	for _, r := range runs {
		step, attention := summaryStep(r.run, r.candidateSteps, r.migrationSteps)
		if _, err := update.ExecContext(ctx, step.StepName, string(step.Status), string(attention), r.run.MigrationID, r.run.CandidateID); err != nil {
			return fmt.Errorf("backfill run summary of %s/%s: %w", r.run.MigrationID, r.run.CandidateID, err)
		}
	}
	return nil
}

// backfillRun is a run with the step definitions it most likely started with.
type backfillRun struct {
	run                            migrations.RunRecord
	candidateSteps, migrationSteps []api.StepDefinition
}

// readRunsForBackfill reads every run with its step states and definitions, closing each result
// set before the caller writes.
func readRunsForBackfill(ctx context.Context, tx *sql.Tx) ([]backfillRun, error) {
	rows, err := tx.QueryContext(ctx, `
SELECT r.migration_id, r.candidate_id, r.status, r.step_names, c.definition, m.definition
FROM runs r
JOIN candidates c ON c.migration_id = r.migration_id AND c.id = r.candidate_id
JOIN migrations m ON m.id = r.migration_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []backfillRun
	for rows.Next() {
		var b backfillRun
		var names, candDef, migDef string
		if err := rows.Scan(&b.run.MigrationID, &b.run.CandidateID, &b.run.Status, &names, &candDef, &migDef); err != nil {
			return nil, err
		}
		var cand api.CandidateInput
		var mig api.Migration
		if err := errors.Join(json.Unmarshal([]byte(names), &b.run.StepNames), decodeDef([]byte(candDef), &cand, upgradeCandidateDef), decodeDef([]byte(migDef), &mig, upgradeMigrationDef)); err != nil {
			return nil, fmt.Errorf("decode run of %s/%s: %w", b.run.MigrationID, b.run.CandidateID, err)
		}
		b.candidateSteps, b.migrationSteps = cand.Steps, mig.Steps
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	states, err := readAllStepStates(ctx, tx)
	if err != nil {
		return nil, err
	}
	for i := range out {
		r := &out[i].run
		r.Steps = orderSteps(r.StepNames, states[r.MigrationID+"/"+r.CandidateID])
	}
	return out, nil
}

// readAllStepStates returns every stored step state by "migration/candidate" and step name.
func readAllStepStates(ctx context.Context, tx *sql.Tx) (map[string]map[string]api.StepState, error) {
	rows, err := tx.QueryContext(ctx, `SELECT migration_id, candidate_id, step_name, state FROM run_steps`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]map[string]api.StepState{}
	for rows.Next() {
		var mid, cid, name, state string
		if err := rows.Scan(&mid, &cid, &name, &state); err != nil {
			return nil, err
		}
		st, err := decodeStepState([]byte(state))
		if err != nil {
			return nil, fmt.Errorf("decode step %s of %s/%s: %w", name, mid, cid, err)
		}
		key := mid + "/" + cid
		if out[key] == nil {
			out[key] = map[string]api.StepState{}
		}
		out[key][name] = st
	}
	return out, rows.Err()
}

// Ping reports whether the database answers a query.
func (s *SQLiteStore) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping sqlite: %w", backendError(err))
	}
	return nil
}

// Close closes both connection pools.
func (s *SQLiteStore) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// write runs fn in a BEGIN IMMEDIATE transaction and commits it when fn returns nil.
func (s *SQLiteStore) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return backendError(err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return backendError(err)
	}
	return nil
}

// read runs fn in a read-only (deferred) transaction, so its queries see one snapshot.
func (s *SQLiteStore) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return backendError(err)
	}
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}

// queryer is what *sql.DB and *sql.Tx have in common.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// missing tells apart, for a candidate row that was not found, an unknown migration, an unknown
// candidate and (when the candidate exists) notFound.
func missing(ctx context.Context, q queryer, migrationID, candidateID string, notFound error) error {
	var hasMigration, hasCandidate bool
	err := q.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM migrations WHERE id = ?),
		EXISTS (SELECT 1 FROM candidate_states WHERE migration_id = ? AND candidate_id = ?)`,
		migrationID, migrationID, candidateID).Scan(&hasMigration, &hasCandidate)
	switch {
	case err != nil:
		return backendError(err)
	case !hasMigration:
		return migrations.ErrMigrationNotFound
	case !hasCandidate:
		return migrations.ErrCandidateNotFound
	}
	return notFound
}

// requireMigration returns ErrMigrationNotFound when the migration does not exist.
func requireMigration(ctx context.Context, q queryer, migrationID string) error {
	var exists bool
	if err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM migrations WHERE id = ?)`, migrationID).Scan(&exists); err != nil {
		return backendError(err)
	}
	if !exists {
		return migrations.ErrMigrationNotFound
	}
	return nil
}

// SaveMigration upserts a migration, keeping the created_at of an existing row.
func (s *SQLiteStore) SaveMigration(ctx context.Context, m api.Migration) error {
	def, err := encodeMigrationDef(m)
	if err != nil {
		return err
	}
	created, updated := migrationTimes(m)
	_, err = s.w.ExecContext(ctx, `
INSERT INTO migrations (id, definition, created_at, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at, version = version + 1`,
		m.Id, string(def), toNanos(created), toNanos(updated))
	if err != nil {
		return fmt.Errorf("save migration %s: %w", m.Id, backendError(err))
	}
	return nil
}

// GetMigration reads a migration and its counts in one snapshot.
func (s *SQLiteStore) GetMigration(ctx context.Context, id string) (api.Migration, error) {
	var m api.Migration
	err := s.read(ctx, func(tx *sql.Tx) error {
		var def string
		var created, updated int64
		err := tx.QueryRowContext(ctx, `SELECT definition, created_at, updated_at FROM migrations WHERE id = ?`, id).
			Scan(&def, &created, &updated)
		if errors.Is(err, sql.ErrNoRows) {
			return migrations.ErrMigrationNotFound
		}
		if err != nil {
			return backendError(err)
		}
		if m, err = decodeMigrationDef(id, []byte(def), created, updated); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, sqlCountCandidates, id)
		if err != nil {
			return backendError(err)
		}
		defer rows.Close()
		for rows.Next() {
			var status string
			var n int
			if err := rows.Scan(&status, &n); err != nil {
				return backendError(err)
			}
			countStatus(&m.Counts, api.CandidateStatus(status), n)
		}
		return backendErrorOrNil(rows.Err())
	})
	if err != nil {
		return api.Migration{}, fmt.Errorf("get migration %s: %w", id, err)
	}
	return m, nil
}

// ListMigrations reads all migrations, their counts and optionally their candidates in one
// snapshot.
func (s *SQLiteStore) ListMigrations(ctx context.Context, withCandidates bool) ([]api.Migration, error) {
	var out []api.Migration
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		if out, err = listMigrationRows(ctx, tx); err != nil {
			return err
		}
		byID := make(map[string]*api.Migration, len(out))
		for i := range out {
			byID[out[i].Id] = &out[i]
			if withCandidates {
				out[i].Candidates = []api.Candidate{}
			}
		}
		if err := addCounts(ctx, tx, byID); err != nil {
			return err
		}
		if withCandidates {
			return addCandidates(ctx, tx, byID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	return out, nil
}

func listMigrationRows(ctx context.Context, tx *sql.Tx) ([]api.Migration, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, definition, created_at, updated_at FROM migrations ORDER BY created_at, id`)
	if err != nil {
		return nil, backendError(err)
	}
	defer rows.Close()
	out := []api.Migration{}
	for rows.Next() {
		var id, def string
		var created, updated int64
		if err := rows.Scan(&id, &def, &created, &updated); err != nil {
			return nil, backendError(err)
		}
		m, err := decodeMigrationDef(id, []byte(def), created, updated)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, backendErrorOrNil(rows.Err())
}

func addCounts(ctx context.Context, tx *sql.Tx, byID map[string]*api.Migration) error {
	rows, err := tx.QueryContext(ctx, sqlCountAllCandidates)
	if err != nil {
		return backendError(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, status string
		var n int
		if err := rows.Scan(&id, &status, &n); err != nil {
			return backendError(err)
		}
		if m := byID[id]; m != nil {
			countStatus(&m.Counts, api.CandidateStatus(status), n)
		}
	}
	return backendErrorOrNil(rows.Err())
}

func addCandidates(ctx context.Context, tx *sql.Tx, byID map[string]*api.Migration) error {
	rows, err := tx.QueryContext(ctx, sqlListAllCandidates)
	if err != nil {
		return backendError(err)
	}
	defer rows.Close()
	var migrationID string
	row := newCandidateRow(&migrationID)
	for rows.Next() {
		c, err := row.scan(rows)
		if err != nil {
			return err
		}
		if m := byID[migrationID]; m != nil {
			m.Candidates = append(m.Candidates, c)
		}
	}
	return backendErrorOrNil(rows.Err())
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

// candidateRow receives rows of sqlCandidateColumns, after an optional prefix. One is reused for
// every row of a query, so that scanning 10,000 candidates does not allocate fresh scan targets
// for each.
type candidateRow struct {
	id, def, status                            string
	updated                                    int64
	inputs                                     sql.NullString
	runStatus, stepName, stepStatus, attention sql.NullString
	started, finished, waitingSince            sql.NullInt64
	dest                                       []any
}

func newCandidateRow(prefix ...any) *candidateRow {
	r := &candidateRow{}
	r.dest = append(prefix, &r.id, &r.def, &r.status, &r.updated, &r.inputs,
		&r.runStatus, &r.started, &r.finished, &r.stepName, &r.stepStatus, &r.attention, &r.waitingSince)
	return r
}

// scan reads one row into a candidate.
func (r *candidateRow) scan(row scanner) (api.Candidate, error) {
	if err := row.Scan(r.dest...); err != nil {
		return api.Candidate{}, backendError(err)
	}
	c, err := decodeCandidate(r.id, []byte(r.def), r.status, r.updated, []byte(r.inputs.String))
	if err != nil {
		return api.Candidate{}, err
	}
	c.Run = runSummary(r.runStatus.String, r.started.Int64, r.finished.Int64, r.stepName.String, r.stepStatus.String, r.attention.String, r.waitingSince.Int64)
	return c, nil
}

// MergeCandidates merges a submission in one transaction: a definition is rewritten only while
// its candidate is not_started, and new candidates get a not_started state.
func (s *SQLiteStore) MergeCandidates(ctx context.Context, migrationID string, candidates []api.CandidateInput, at time.Time) error {
	defs := make([]string, len(candidates))
	for i, c := range candidates {
		def, err := encodeCandidateDef(c)
		if err != nil {
			return fmt.Errorf("merge candidates of %s: %w", migrationID, err)
		}
		defs[i] = string(def)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := requireMigration(ctx, tx, migrationID); err != nil {
			return err
		}
		if len(candidates) == 0 {
			return nil
		}
		mergeDef, err := tx.PrepareContext(ctx, sqlMergeCandidate)
		if err != nil {
			return backendError(err)
		}
		defer mergeDef.Close()
		addState, err := tx.PrepareContext(ctx, sqlInsertCandidateState)
		if err != nil {
			return backendError(err)
		}
		defer addState.Close()
		updated := toNanos(at)
		for i, c := range candidates {
			if _, err := mergeDef.ExecContext(ctx, migrationID, c.Id, defs[i]); err != nil {
				return backendError(err)
			}
			if _, err := addState.ExecContext(ctx, migrationID, c.Id, updated); err != nil {
				return backendError(err)
			}
		}
		_, err = tx.ExecContext(ctx, sqlBumpVersion, migrationID)
		return backendErrorOrNil(err)
	})
	if err != nil {
		return fmt.Errorf("merge candidates of %s: %w", migrationID, err)
	}
	return nil
}

// ListCandidates returns a migration's candidates ordered by id with one indexed query.
func (s *SQLiteStore) ListCandidates(ctx context.Context, migrationID string) ([]api.Candidate, error) {
	out, err := s.listCandidates(ctx, migrationID)
	if err != nil {
		return nil, fmt.Errorf("list candidates of %s: %w", migrationID, err)
	}
	return out, nil
}

func (s *SQLiteStore) listCandidates(ctx context.Context, migrationID string) ([]api.Candidate, error) {
	rows, err := s.r.QueryContext(ctx, sqlListCandidates, migrationID)
	if err != nil {
		return nil, backendError(err)
	}
	defer rows.Close()
	out := []api.Candidate{}
	row := newCandidateRow()
	for rows.Next() {
		c, err := row.scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, backendError(err)
	}
	if len(out) == 0 {
		// Only an empty result needs to tell an unknown migration from one without candidates.
		if err := requireMigration(ctx, s.r, migrationID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// GetCandidate returns one candidate with its state and run summary.
func (s *SQLiteStore) GetCandidate(ctx context.Context, migrationID, candidateID string) (api.Candidate, error) {
	c, err := newCandidateRow().scan(s.r.QueryRowContext(ctx, sqlGetCandidate, migrationID, candidateID))
	if errors.Is(err, sql.ErrNoRows) {
		err = missing(ctx, s.r, migrationID, candidateID, migrations.ErrCandidateNotFound)
	}
	if err != nil {
		return api.Candidate{}, fmt.Errorf("get candidate %s/%s: %w", migrationID, candidateID, err)
	}
	return c, nil
}

// MergeInputs reads, merges and writes a candidate's inputs in one immediate transaction.
func (s *SQLiteStore) MergeInputs(ctx context.Context, migrationID, candidateID string, inputs map[string]string) (map[string]string, error) {
	var merged map[string]string
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		merged, err = mergeInputsTx(ctx, tx, migrationID, candidateID, inputs)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("merge inputs of %s/%s: %w", migrationID, candidateID, err)
	}
	return merged, nil
}

// BeginRun makes the candidate running and replaces its run record (so its run summary) and step
// states in one transaction.
func (s *SQLiteStore) BeginRun(ctx context.Context, run migrations.RunRecord) error {
	names, err := encodeJSON("step names", nonNil(run.StepNames))
	if err != nil {
		return fmt.Errorf("begin run of %s/%s: %w", run.MigrationID, run.CandidateID, err)
	}
	started := run.StartedAt
	if started.IsZero() {
		started = time.Now()
	}
	mid, cid := run.MigrationID, run.CandidateID
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE candidate_states SET status = 'running', updated_at = ? WHERE migration_id = ? AND candidate_id = ?`,
			toNanos(started), mid, cid)
		if err != nil {
			return backendError(err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return backendError(err)
		} else if n == 0 {
			return missing(ctx, tx, mid, cid, migrations.ErrCandidateNotFound)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM run_steps WHERE migration_id = ? AND candidate_id = ?`, mid, cid); err != nil {
			return backendError(err)
		}
		if len(run.Inputs) > 0 {
			if _, err := mergeInputsTx(ctx, tx, mid, cid, run.Inputs); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, sqlBumpVersion, mid); err != nil {
			return backendError(err)
		}
		_, err = tx.ExecContext(ctx, `
INSERT INTO runs (migration_id, candidate_id, run_id, execution_id, status, step_names, started_at, finished_at)
VALUES (?, ?, ?, ?, ?, ?, ?, 0)
ON CONFLICT (migration_id, candidate_id) DO UPDATE SET
	run_id = excluded.run_id, execution_id = excluded.execution_id, status = excluded.status,
	step_names = excluded.step_names, started_at = excluded.started_at, finished_at = 0,
	step_name = '', step_status = '', attention = '', waiting_since = 0, cancellation = ''`,
			mid, cid, run.RunID, run.ExecutionID, string(statusOrDefault(run.Status, api.RunStatusRunning)), names, toNanos(started))
		if err != nil {
			return backendError(err)
		}
		run.StartedAt = started
		return s.appendHistory(ctx, tx, mid, cid, []api.HistoryEvent{migrations.RunStartedEvent(run)})
	})
	if err != nil {
		return fmt.Errorf("begin run of %s/%s: %w", mid, cid, err)
	}
	return nil
}

// currentRun returns the execution id and status of the candidate's run inside tx, or the
// reason there is none.
func currentRun(ctx context.Context, tx *sql.Tx, migrationID, candidateID string) (exec string, status api.RunStatus, err error) {
	err = tx.QueryRowContext(ctx, `SELECT execution_id, status FROM runs WHERE migration_id = ? AND candidate_id = ?`,
		migrationID, candidateID).Scan(&exec, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", missing(ctx, tx, migrationID, candidateID, migrations.ErrRunNotFound)
	}
	return exec, status, backendErrorOrNil(err)
}

// PutStepState writes one step state and the run summary it makes, if executionID is still the
// candidate's current run; the migration's version grows when the summary changed.
func (s *SQLiteStore) PutStepState(ctx context.Context, migrationID, candidateID, executionID string, step api.StepState, attention api.Attention) error {
	state, err := encodeStepState(step)
	if err != nil {
		return fmt.Errorf("put step state %s of %s/%s: %w", step.StepName, migrationID, candidateID, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		cur, status, err := currentRun(ctx, tx, migrationID, candidateID)
		if err != nil || cur != executionID {
			return err
		}
		if status != api.RunStatusRunning {
			attention = "" // a finished run needs nobody
		}
		prev, hadPrev, err := storedStepTx(ctx, tx, migrationID, candidateID, step.StepName)
		if err != nil {
			return err
		}
		if err := s.appendHistory(ctx, tx, migrationID, candidateID, migrations.StepHistory(executionID, prev, hadPrev, step)); err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, `
INSERT INTO run_steps (migration_id, candidate_id, step_name, state) VALUES (?, ?, ?, ?)
ON CONFLICT (migration_id, candidate_id, step_name) DO UPDATE SET state = excluded.state`,
			migrationID, candidateID, step.StepName, state); err != nil {
			return backendError(err)
		}
		return setRunStep(ctx, tx, migrationID, candidateID, step.StepName, step.Status, attention, toNanos(migrations.AttentionSince(step, attention)))
	})
	if err != nil {
		return fmt.Errorf("put step state %s of %s/%s: %w", step.StepName, migrationID, candidateID, err)
	}
	return nil
}

// setRunStep sets the run summary's step and attention, and bumps the migration's version when
// they changed.
func setRunStep(ctx context.Context, tx *sql.Tx, migrationID, candidateID, stepName string, stepStatus api.StepStatus, attention api.Attention, waitingSince int64) error {
	res, err := tx.ExecContext(ctx, `
UPDATE runs SET step_name = ?, step_status = ?, attention = ?, waiting_since = ?
WHERE migration_id = ? AND candidate_id = ? AND NOT (step_name = ? AND step_status = ? AND attention = ? AND waiting_since = ?)`,
		stepName, string(stepStatus), string(attention), waitingSince, migrationID, candidateID, stepName, string(stepStatus), string(attention), waitingSince)
	if err != nil {
		return backendError(err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return backendErrorOrNil(err)
	}
	_, err = tx.ExecContext(ctx, sqlBumpVersion, migrationID)
	return backendErrorOrNil(err)
}

// FinishRun ends the current run, clearing its attention, and sets the candidate's status in
// one transaction.
func (s *SQLiteStore) FinishRun(ctx context.Context, migrationID, candidateID, executionID string, status api.RunStatus, candidateStatus api.CandidateStatus, at time.Time) error {
	return s.finishRun(ctx, migrationID, candidateID, executionID, status, candidateStatus, at, false)
}

// ReconcileRun ends the run as cancelled only while it is still running.
func (s *SQLiteStore) ReconcileRun(ctx context.Context, migrationID, candidateID, executionID string, at time.Time) error {
	return s.finishRun(ctx, migrationID, candidateID, executionID, api.RunStatusCancelled, api.CandidateStatusNotStarted, at, true)
}

func (s *SQLiteStore) finishRun(ctx context.Context, migrationID, candidateID, executionID string, status api.RunStatus, candidateStatus api.CandidateStatus, at time.Time, onlyRunning bool) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		cur, st, err := currentRun(ctx, tx, migrationID, candidateID)
		if err != nil || cur != executionID || (onlyRunning && st != api.RunStatusRunning) {
			return err // another run began since, or (reconciling) this one has already ended
		}
		if st == api.RunStatusRunning {
			var atStep string
			if err := tx.QueryRowContext(ctx, `SELECT step_name FROM runs WHERE migration_id = ? AND candidate_id = ?`, migrationID, candidateID).Scan(&atStep); err != nil {
				return backendError(err)
			}
			if err := s.appendHistory(ctx, tx, migrationID, candidateID, migrations.RunFinishedEvents(executionID, status, atStep, at)); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, finished_at = ?, attention = '', waiting_since = 0 WHERE migration_id = ? AND candidate_id = ?`,
			string(status), toNanos(at), migrationID, candidateID); err != nil {
			return backendError(err)
		}
		if _, err = tx.ExecContext(ctx, `UPDATE candidate_states SET status = ?, updated_at = ? WHERE migration_id = ? AND candidate_id = ?`,
			string(candidateStatus), toNanos(at), migrationID, candidateID); err != nil {
			return backendError(err)
		}
		_, err = tx.ExecContext(ctx, sqlBumpVersion, migrationID)
		return backendErrorOrNil(err)
	})
	if err != nil {
		return fmt.Errorf("finish run of %s/%s: %w", migrationID, candidateID, err)
	}
	return nil
}

// mergeInputsTx merges inputs into the candidate's stored inputs within tx (bumping the
// migration's version when they change) and returns the inputs after the merge.
func mergeInputsTx(ctx context.Context, tx *sql.Tx, migrationID, candidateID string, inputs map[string]string) (map[string]string, error) {
	var cur sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT inputs FROM candidate_states WHERE migration_id = ? AND candidate_id = ?`,
		migrationID, candidateID).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, missing(ctx, tx, migrationID, candidateID, migrations.ErrCandidateNotFound)
	}
	if err != nil {
		return nil, backendError(err)
	}
	merged, err := decodeInputs([]byte(cur.String))
	if err != nil {
		return nil, fmt.Errorf("decode stored inputs: %w", err)
	}
	if len(inputs) == 0 {
		return merged, nil
	}
	if merged == nil {
		merged = make(map[string]string, len(inputs))
	}
	for k, v := range inputs {
		merged[k] = v
	}
	enc, err := encodeJSON("inputs", merged)
	if err != nil {
		return nil, err
	}
	if _, err = tx.ExecContext(ctx, `UPDATE candidate_states SET inputs = ? WHERE migration_id = ? AND candidate_id = ?`,
		enc, migrationID, candidateID); err != nil {
		return nil, backendError(err)
	}
	_, err = tx.ExecContext(ctx, sqlBumpVersion, migrationID)
	return merged, backendErrorOrNil(err)
}

// GetRun reads the candidate's run and its step states with one query.
func (s *SQLiteStore) GetRun(ctx context.Context, migrationID, candidateID string) (migrations.RunRecord, error) {
	run, err := s.getRun(ctx, migrationID, candidateID)
	if err != nil {
		return migrations.RunRecord{}, fmt.Errorf("get run of %s/%s: %w", migrationID, candidateID, err)
	}
	return run, nil
}

func (s *SQLiteStore) getRun(ctx context.Context, migrationID, candidateID string) (migrations.RunRecord, error) {
	rows, err := s.r.QueryContext(ctx, sqlGetRun, migrationID, candidateID)
	if err != nil {
		return migrations.RunRecord{}, backendError(err)
	}
	defer rows.Close()
	run := migrations.RunRecord{MigrationID: migrationID, CandidateID: candidateID}
	var names, cancellation string
	var started, finished int64
	states := make(map[string]api.StepState)
	found := false
	for rows.Next() {
		var stepName, state sql.NullString
		if err := rows.Scan(&run.RunID, &run.ExecutionID, &run.Status, &names, &started, &finished, &cancellation, &stepName, &state); err != nil {
			return migrations.RunRecord{}, backendError(err)
		}
		found = true
		if !stepName.Valid {
			continue
		}
		st, err := decodeStepState([]byte(state.String))
		if err != nil {
			return migrations.RunRecord{}, fmt.Errorf("decode step %s: %w", stepName.String, err)
		}
		states[stepName.String] = st
	}
	if err := rows.Err(); err != nil {
		return migrations.RunRecord{}, backendError(err)
	}
	if !found {
		return migrations.RunRecord{}, missing(ctx, s.r, migrationID, candidateID, migrations.ErrRunNotFound)
	}
	if err := json.Unmarshal([]byte(names), &run.StepNames); err != nil {
		return migrations.RunRecord{}, fmt.Errorf("decode step names: %w", err)
	}
	run.StartedAt, run.FinishedAt = fromNanos(started), fromNanos(finished)
	run.Steps = orderSteps(run.StepNames, states)
	if run.Cancellation, err = decodeCancellation(cancellation); err != nil {
		return migrations.RunRecord{}, err
	}
	return run, nil
}

// PutCancellation records the cancelled run's notice, if executionID is still the candidate's run.
func (s *SQLiteStore) PutCancellation(ctx context.Context, migrationID, candidateID, executionID string, c api.RunCancellation) error {
	enc, err := encodeJSON("run cancellation", c)
	if err != nil {
		return fmt.Errorf("put cancellation of %s/%s: %w", migrationID, candidateID, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		cur, _, err := currentRun(ctx, tx, migrationID, candidateID)
		if err != nil || cur != executionID {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE runs SET cancellation = ? WHERE migration_id = ? AND candidate_id = ?`, string(enc), migrationID, candidateID)
		return backendErrorOrNil(err)
	})
	if err != nil {
		return fmt.Errorf("put cancellation of %s/%s: %w", migrationID, candidateID, err)
	}
	return nil
}

// backendErrorOrNil is backendError for an error that may be nil; sentinel errors of package
// migrations pass through unchanged.
func backendErrorOrNil(err error) error {
	if err == nil || isDomainError(err) {
		return err
	}
	return backendError(err)
}

func isDomainError(err error) bool {
	return errors.Is(err, migrations.ErrMigrationNotFound) || errors.Is(err, migrations.ErrCandidateNotFound) ||
		errors.Is(err, migrations.ErrRunNotFound) || errors.Is(err, migrations.ErrUnavailable)
}

// MigrationVersion returns the migration's change counter.
func (s *SQLiteStore) MigrationVersion(ctx context.Context, id string) (int64, error) {
	var v int64
	err := s.r.QueryRowContext(ctx, `SELECT version FROM migrations WHERE id = ?`, id).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("version of migration %s: %w", id, migrations.ErrMigrationNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("version of migration %s: %w", id, backendError(err))
	}
	return v, nil
}

// MigrationVersions returns every migration's id and change counter in ListMigrations order.
func (s *SQLiteStore) MigrationVersions(ctx context.Context) ([]migrations.MigrationVersion, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, version FROM migrations ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("migration versions: %w", backendError(err))
	}
	defer rows.Close()
	var out []migrations.MigrationVersion
	for rows.Next() {
		var mv migrations.MigrationVersion
		if err := rows.Scan(&mv.ID, &mv.Version); err != nil {
			return nil, fmt.Errorf("migration versions: %w", backendError(err))
		}
		out = append(out, mv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migration versions: %w", backendError(err))
	}
	return out, nil
}

// PutRollout creates or replaces a rollout's read model.
func (s *SQLiteStore) PutRollout(ctx context.Context, r api.Rollout) error {
	enc, err := encodeJSON("rollout", r)
	if err != nil {
		return fmt.Errorf("put rollout %s of %s: %w", r.Id, r.MigrationId, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		if err := missingMigration(ctx, tx, r.MigrationId); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `
INSERT INTO rollouts (migration_id, id, created_at, body) VALUES (?, ?, ?, ?)
ON CONFLICT (migration_id, id) DO UPDATE SET body = excluded.body`, r.MigrationId, r.Id, toNanos(r.CreatedAt), enc)
		return backendErrorOrNil(err)
	})
	if err != nil {
		return fmt.Errorf("put rollout %s of %s: %w", r.Id, r.MigrationId, err)
	}
	return nil
}

// CountAttention counts the running candidates whose run summary needs attention.
func (s *SQLiteStore) CountAttention(ctx context.Context, migrationID string) (int, error) {
	var n int
	err := s.read(ctx, func(tx *sql.Tx) error {
		if err := missingMigration(ctx, tx, migrationID); err != nil {
			return err
		}
		return backendErrorOrNil(tx.QueryRowContext(ctx, `
SELECT COUNT(*) FROM candidate_states s
JOIN runs r ON r.migration_id = s.migration_id AND r.candidate_id = s.candidate_id
WHERE s.migration_id = ? AND s.status = ? AND r.attention != ''`, migrationID, string(api.CandidateStatusRunning)).Scan(&n))
	})
	if err != nil {
		return 0, fmt.Errorf("count attention of %s: %w", migrationID, err)
	}
	return n, nil
}

// GetRollout returns one rollout.
func (s *SQLiteStore) GetRollout(ctx context.Context, migrationID, id string) (api.Rollout, error) {
	var enc string
	err := s.r.QueryRowContext(ctx, `SELECT body FROM rollouts WHERE migration_id = ? AND id = ?`, migrationID, id).Scan(&enc)
	if errors.Is(err, sql.ErrNoRows) {
		if merr := missingMigration(ctx, s.r, migrationID); merr != nil {
			return api.Rollout{}, fmt.Errorf("get rollout %s of %s: %w", id, migrationID, merr)
		}
		return api.Rollout{}, fmt.Errorf("get rollout %s of %s: %w", id, migrationID, migrations.ErrRolloutNotFound)
	}
	if err != nil {
		return api.Rollout{}, fmt.Errorf("get rollout %s of %s: %w", id, migrationID, backendError(err))
	}
	r, err := decodeRollout(enc)
	if err != nil {
		return api.Rollout{}, fmt.Errorf("get rollout %s of %s: %w", id, migrationID, err)
	}
	return r, nil
}

// ListRollouts returns a migration's rollouts, oldest first.
func (s *SQLiteStore) ListRollouts(ctx context.Context, migrationID string) ([]api.Rollout, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT body FROM rollouts WHERE migration_id = ? ORDER BY created_at, id`, migrationID)
	if err != nil {
		return nil, fmt.Errorf("list rollouts of %s: %w", migrationID, backendError(err))
	}
	defer rows.Close()
	out := []api.Rollout{}
	for rows.Next() {
		var enc string
		if err := rows.Scan(&enc); err != nil {
			return nil, fmt.Errorf("list rollouts of %s: %w", migrationID, backendError(err))
		}
		r, err := decodeRollout(enc)
		if err != nil {
			return nil, fmt.Errorf("list rollouts of %s: %w", migrationID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list rollouts of %s: %w", migrationID, backendError(err))
	}
	if len(out) == 0 {
		if merr := missingMigration(ctx, s.r, migrationID); merr != nil {
			return nil, fmt.Errorf("list rollouts of %s: %w", migrationID, merr)
		}
	}
	return out, nil
}

// missingMigration is ErrMigrationNotFound when the migration is unknown, else nil.
func missingMigration(ctx context.Context, q queryer, migrationID string) error {
	var known bool
	if err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM migrations WHERE id = ?)`, migrationID).Scan(&known); err != nil {
		return backendError(err)
	}
	if !known {
		return migrations.ErrMigrationNotFound
	}
	return nil
}
