package store

import (
	"context"
	"database/sql"
)

// sqliteSchemaVersion is stored in PRAGMA user_version; bump it with a migration step when the
// schema below changes.
const sqliteSchemaVersion = 8

// sqliteSchema creates the current version. Candidate definitions and candidate states are separate
// tables sharing the key (migration_id, candidate id): re-discovery rewrites definitions, runs
// rewrite states. Times are Unix nanoseconds.
const sqliteSchema = `
CREATE TABLE migrations (
	id         TEXT PRIMARY KEY,
	definition TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	version    INTEGER NOT NULL DEFAULT 0 -- grows with every change to the migration or its candidates
) STRICT;
CREATE INDEX migrations_by_created ON migrations (created_at, id);

CREATE TABLE candidates (
	migration_id TEXT NOT NULL REFERENCES migrations (id) ON DELETE CASCADE,
	id           TEXT NOT NULL,
	definition   TEXT NOT NULL,
	PRIMARY KEY (migration_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE candidate_states (
	migration_id TEXT NOT NULL,
	candidate_id TEXT NOT NULL,
	status       TEXT NOT NULL CHECK (status IN ('not_started', 'running', 'completed')),
	updated_at   INTEGER NOT NULL,
	inputs       TEXT,
	PRIMARY KEY (migration_id, candidate_id),
	FOREIGN KEY (migration_id, candidate_id) REFERENCES candidates (migration_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX candidate_states_by_status ON candidate_states (migration_id, status);

CREATE TABLE runs (
	migration_id TEXT NOT NULL,
	candidate_id TEXT NOT NULL,
	run_id       TEXT NOT NULL,
	execution_id TEXT NOT NULL,
	status       TEXT NOT NULL,
	step_names   TEXT NOT NULL,
	started_at   INTEGER NOT NULL,
	finished_at  INTEGER NOT NULL DEFAULT 0,
	step_name    TEXT NOT NULL DEFAULT '', -- the run summary: the latest step written, its status,
	step_status  TEXT NOT NULL DEFAULT '', -- and why the run needs an operator ('' when it does not)
	attention    TEXT NOT NULL DEFAULT '',
	waiting_since INTEGER NOT NULL DEFAULT 0, -- for silent and overdue attention: since when
	cancellation TEXT NOT NULL DEFAULT '', -- JSON: how the cancelled run's notice went
	PRIMARY KEY (migration_id, candidate_id),
	FOREIGN KEY (migration_id, candidate_id) REFERENCES candidates (migration_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE TABLE run_steps (
	migration_id TEXT NOT NULL,
	candidate_id TEXT NOT NULL,
	step_name    TEXT NOT NULL,
	state        TEXT NOT NULL,
	PRIMARY KEY (migration_id, candidate_id, step_name),
	FOREIGN KEY (migration_id, candidate_id) REFERENCES runs (migration_id, candidate_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
`

// sqliteUpgrade upgrades a database by one schema version: its statements, then its backfill
// (when not nil), in the upgrade's transaction.
type sqliteUpgrade struct {
	statements string
	backfill   func(ctx context.Context, tx *sql.Tx) error
}

// sqliteUpgrades[v] upgrades a database of schema version v to v+1.
var sqliteUpgrades = map[int]sqliteUpgrade{
	1: {statements: `ALTER TABLE migrations ADD COLUMN version INTEGER NOT NULL DEFAULT 0`},
	2: {
		statements: `
ALTER TABLE runs ADD COLUMN step_name TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN step_status TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN attention TEXT NOT NULL DEFAULT '';`,
		backfill: backfillRunSummaries,
	},
	3: {statements: `ALTER TABLE runs ADD COLUMN waiting_since INTEGER NOT NULL DEFAULT 0`},
	4: {statements: `ALTER TABLE runs ADD COLUMN cancellation TEXT NOT NULL DEFAULT ''`},
	5: {statements: sqlRolloutsTable},
	6: {statements: sqlHistoryTable},
	7: {statements: sqlWebhookTables},
}

// sqlWebhookTables hold notification webhooks and their delivery logs (schema version 8).
const sqlWebhookTables = `
CREATE TABLE webhooks (
	id         TEXT PRIMARY KEY,
	created_at INTEGER NOT NULL,
	body       TEXT NOT NULL -- the Webhook with its secret, JSON
) STRICT, WITHOUT ROWID;
CREATE TABLE webhook_deliveries (
	webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	id         TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	body       TEXT NOT NULL, -- the WebhookDelivery, JSON
	PRIMARY KEY (webhook_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (webhook_id, created_at, id);`

// sqlRolloutsTable holds rollouts' read models (schema version 6).
const sqlRolloutsTable = `
CREATE TABLE rollouts (
	migration_id TEXT NOT NULL REFERENCES migrations (id) ON DELETE CASCADE,
	id           TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	body         TEXT NOT NULL, -- the Rollout, JSON
	PRIMARY KEY (migration_id, id)
) STRICT, WITHOUT ROWID;`

// sqlBumpVersion marks a change to a migration or its candidates, for readers' caches.
const sqlBumpVersion = `UPDATE migrations SET version = version + 1 WHERE id = ?`

// sqlCandidateColumns are the columns a candidateRow reads after any prefix: the definition, the
// state and the run summary (NULL when the candidate never ran), from candidates c, candidate
// states s and runs r.
const sqlCandidateColumns = `c.id, c.definition, s.status, s.updated_at, s.inputs,
	r.status, r.started_at, r.finished_at, r.step_name, r.step_status, r.attention, r.waiting_since`

// sqlCandidateTables joins a candidate to its state and its latest run.
const sqlCandidateTables = `candidates c
JOIN candidate_states s ON s.migration_id = c.migration_id AND s.candidate_id = c.id
LEFT JOIN runs r ON r.migration_id = c.migration_id AND r.candidate_id = c.id`

// Queries shared by several methods (and checked for their plans in tests).
const (
	sqlListCandidates = `
SELECT ` + sqlCandidateColumns + `
FROM ` + sqlCandidateTables + `
WHERE c.migration_id = ?
ORDER BY c.id`

	sqlListAllCandidates = `
SELECT c.migration_id, ` + sqlCandidateColumns + `
FROM ` + sqlCandidateTables + `
ORDER BY c.migration_id, c.id`

	sqlGetCandidate = `
SELECT ` + sqlCandidateColumns + `
FROM ` + sqlCandidateTables + `
WHERE c.migration_id = ? AND c.id = ?`

	sqlCountCandidates = `
SELECT status, COUNT(*) FROM candidate_states WHERE migration_id = ? GROUP BY status`

	sqlCountAllCandidates = `
SELECT migration_id, status, COUNT(*) FROM candidate_states GROUP BY migration_id, status`

	sqlGetRun = `
SELECT r.run_id, r.execution_id, r.status, r.step_names, r.started_at, r.finished_at, r.cancellation, s.step_name, s.state
FROM runs r
LEFT JOIN run_steps s ON s.migration_id = r.migration_id AND s.candidate_id = r.candidate_id
WHERE r.migration_id = ? AND r.candidate_id = ?`

	sqlMergeCandidate = `
INSERT INTO candidates (migration_id, id, definition) VALUES (?, ?, ?)
ON CONFLICT (migration_id, id) DO UPDATE SET definition = excluded.definition
WHERE EXISTS (
	SELECT 1 FROM candidate_states s
	WHERE s.migration_id = candidates.migration_id AND s.candidate_id = candidates.id AND s.status = 'not_started'
)`

	sqlInsertCandidateState = `
INSERT INTO candidate_states (migration_id, candidate_id, status, updated_at) VALUES (?, ?, 'not_started', ?)
ON CONFLICT (migration_id, candidate_id) DO NOTHING`
)
