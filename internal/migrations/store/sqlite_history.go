package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

// sqlHistoryTable holds every run's history (schema version 7): seq orders a candidate's events
// and never repeats (AUTOINCREMENT), outcome marks what insights read.
const sqlHistoryTable = `
CREATE TABLE run_history (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	migration_id TEXT NOT NULL,
	candidate_id TEXT NOT NULL,
	at           INTEGER NOT NULL,
	outcome      INTEGER NOT NULL,
	written_at   INTEGER NOT NULL, -- when it was stored: the retention counts from here
	body         TEXT NOT NULL -- the HistoryEvent, JSON, without its id
) STRICT;
CREATE INDEX run_history_by_candidate ON run_history (migration_id, candidate_id, seq);
CREATE INDEX run_history_outcomes ON run_history (migration_id, at) WHERE outcome = 1;
CREATE INDEX run_history_by_written ON run_history (written_at);`

// historyPruneEvery is how often writes also drop the history older than the retention.
const historyPruneEvery = time.Hour

// SetHistoryRetention sets how long run history is kept (DefaultHistoryRetention when d <= 0).
// Call it before the store is used.
func (s *SQLiteStore) SetHistoryRetention(d time.Duration) {
	if d <= 0 {
		d = migrations.DefaultHistoryRetention
	}
	s.retention = d
}

func (s *SQLiteStore) historyRetention() time.Duration {
	if s.retention <= 0 {
		return migrations.DefaultHistoryRetention
	}
	return s.retention
}

// appendHistory adds events of a candidate inside tx, and once an hour drops the history stored
// longer ago than the retention.
func (s *SQLiteStore) appendHistory(ctx context.Context, tx *sql.Tx, migrationID, candidateID string, evs []api.HistoryEvent) error {
	if len(evs) == 0 {
		return nil
	}
	now := time.Now()
	for _, e := range evs {
		e.Id, e.CandidateId = "", candidateID
		body, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode history event: %w", err)
		}
		outcome := 0
		if migrations.IsOutcome(e.Kind) {
			outcome = 1
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO run_history (migration_id, candidate_id, at, outcome, written_at, body) VALUES (?, ?, ?, ?, ?, ?)`,
			migrationID, candidateID, toNanos(e.At), outcome, toNanos(now), string(body)); err != nil {
			return backendError(err)
		}
	}
	s.pruneMu.Lock()
	due := now.Sub(s.prunedAt) >= historyPruneEvery
	if due {
		s.prunedAt = now
	}
	s.pruneMu.Unlock()
	if due {
		if _, err := tx.ExecContext(ctx, `DELETE FROM run_history WHERE written_at < ?`, toNanos(now.Add(-s.historyRetention()))); err != nil {
			return backendError(err)
		}
	}
	return nil
}

// storedStepTx reads a step's stored state inside tx; ok is false when the step has not started.
func storedStepTx(ctx context.Context, tx *sql.Tx, migrationID, candidateID, step string) (st api.StepState, ok bool, err error) {
	var raw string
	err = tx.QueryRowContext(ctx, `SELECT state FROM run_steps WHERE migration_id = ? AND candidate_id = ? AND step_name = ?`,
		migrationID, candidateID, step).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return api.StepState{}, false, nil
	}
	if err != nil {
		return api.StepState{}, false, backendError(err)
	}
	st, err = decodeStepState([]byte(raw))
	if err != nil {
		return api.StepState{}, false, fmt.Errorf("decode stored step %s: %w", step, err)
	}
	return st, true, nil
}

// ListHistory reads a page of a candidate's history, newest first.
func (s *SQLiteStore) ListHistory(ctx context.Context, migrationID, candidateID string, page migrations.HistoryPage) ([]api.HistoryEvent, string, error) {
	limit := historyLimit(page.Limit)
	before := int64(-1)
	if page.Before != "" {
		n, err := strconv.ParseInt(strings.SplitN(page.Before, "-", 2)[0], 10, 64)
		if err != nil {
			return nil, "", migrations.Invalid("before", "%q is not an event id of this history", page.Before)
		}
		before = n
	}
	var out []api.HistoryEvent
	err := s.read(ctx, func(tx *sql.Tx) error {
		if err := missing(ctx, tx, migrationID, candidateID, nil); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `
SELECT seq, body FROM run_history
WHERE migration_id = ? AND candidate_id = ? AND (? < 0 OR seq < ?)
ORDER BY seq DESC LIMIT ?`, migrationID, candidateID, before, before, limit+1)
		if err != nil {
			return backendError(err)
		}
		out, err = scanHistory(rows)
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list history of %s/%s: %w", migrationID, candidateID, err)
	}
	events, next := historyPageOf(out, limit)
	return events, next, nil
}

// ListOutcomes reads the migration's outcome events at or after since, oldest first.
func (s *SQLiteStore) ListOutcomes(ctx context.Context, migrationID string, since time.Time) ([]api.HistoryEvent, error) {
	var out []api.HistoryEvent
	err := s.read(ctx, func(tx *sql.Tx) error {
		if err := missingMigration(ctx, tx, migrationID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `
SELECT seq, body FROM run_history WHERE migration_id = ? AND outcome = 1 AND at >= ? ORDER BY at, seq`,
			migrationID, toNanos(since))
		if err != nil {
			return backendError(err)
		}
		out, err = scanHistory(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list outcomes of %s: %w", migrationID, err)
	}
	return out, nil
}

func scanHistory(rows *sql.Rows) ([]api.HistoryEvent, error) {
	defer func() { _ = rows.Close() }()
	var out []api.HistoryEvent
	for rows.Next() {
		var seq int64
		var body string
		if err := rows.Scan(&seq, &body); err != nil {
			return nil, backendError(err)
		}
		e, err := decodeHistoryEvent(body)
		if err != nil {
			return nil, err
		}
		e.Id = strconv.FormatInt(seq, 10)
		out = append(out, e)
	}
	return out, backendErrorOrNil(rows.Err())
}

// decodeHistoryEvent reads an event as the store wrote it.
func decodeHistoryEvent(body string) (api.HistoryEvent, error) {
	var e api.HistoryEvent
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		return api.HistoryEvent{}, fmt.Errorf("decode history event: %w", err)
	}
	return e, nil
}

// historyLimit bounds a page's size.
func historyLimit(n int) int {
	switch {
	case n <= 0:
		return migrations.DefaultHistoryPage
	case n > migrations.MaxHistoryPage:
		return migrations.MaxHistoryPage
	}
	return n
}

// historyPageOf cuts one more event than limit, read to learn whether there is a next page, off
// evs; next is the last kept event's id when there is.
func historyPageOf(evs []api.HistoryEvent, limit int) (page []api.HistoryEvent, next string) {
	if evs == nil {
		evs = []api.HistoryEvent{}
	}
	if len(evs) <= limit {
		return evs, ""
	}
	return evs[:limit], evs[limit-1].Id
}
