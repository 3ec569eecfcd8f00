package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

// casTries is how often a write that read before it wrote (the step state it derives history
// from) reads again when that changed meanwhile. One writer per run makes a second try rare.
const casTries = 5

var errKeptChanging = errors.New("the stored state kept changing during the write; try again")

// SetHistoryRetention sets how long run history is kept (DefaultHistoryRetention when d <= 0).
// Call it before the store is used.
func (s *RedisStore) SetHistoryRetention(d time.Duration) {
	s.retention = d
}

func (s *RedisStore) historyRetention() time.Duration {
	if s.retention <= 0 {
		return migrations.DefaultHistoryRetention
	}
	return s.retention
}

// historyArgs encodes events for luaAddHistory: the oldest stream id to keep, the retention in
// milliseconds, then each event's outcome flag and JSON.
func (s *RedisStore) historyArgs(evs []api.HistoryEvent, candidateID string) ([]any, error) {
	keep := s.historyRetention()
	args := []any{strconv.FormatInt(time.Now().Add(-keep).UnixMilli(), 10), strconv.FormatInt(keep.Milliseconds(), 10)}
	for _, e := range evs {
		e.Id, e.CandidateId = "", candidateID
		body, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encode history event: %w", err)
		}
		args = append(args, flag(migrations.IsOutcome(e.Kind)), string(body))
	}
	return args, nil
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// ListHistory reads a page of a candidate's history stream, newest first.
func (s *RedisStore) ListHistory(ctx context.Context, migrationID, candidateID string, page migrations.HistoryPage) ([]api.HistoryEvent, string, error) {
	limit := historyLimit(page.Limit)
	k := s.keys(migrationID)
	end := "+"
	if page.Before != "" {
		end = "(" + page.Before
	}
	var msgs *redis.XMessageSliceCmd
	var exists *redis.IntCmd
	var known *redis.BoolCmd
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		exists = p.Exists(ctx, k.meta)
		known = p.HExists(ctx, k.status, candidateID)
		msgs = p.XRevRangeN(ctx, k.history(candidateID), end, "-", int64(limit+1))
		return nil
	})
	switch {
	case err != nil:
		return nil, "", fmt.Errorf("list history of %s/%s: %w", migrationID, candidateID, backendError(err))
	case exists.Val() == 0:
		return nil, "", fmt.Errorf("list history of %s/%s: %w", migrationID, candidateID, migrations.ErrMigrationNotFound)
	case !known.Val():
		return nil, "", fmt.Errorf("list history of %s/%s: %w", migrationID, candidateID, migrations.ErrCandidateNotFound)
	}
	out, err := decodeMessages(msgs.Val())
	if err != nil {
		return nil, "", fmt.Errorf("list history of %s/%s: %w", migrationID, candidateID, err)
	}
	events, next := historyPageOf(out, limit)
	return events, next, nil
}

// ListOutcomes reads the migration's outcome stream from since on, oldest first.
func (s *RedisStore) ListOutcomes(ctx context.Context, migrationID string, since time.Time) ([]api.HistoryEvent, error) {
	k := s.keys(migrationID)
	var msgs *redis.XMessageSliceCmd
	var exists *redis.IntCmd
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		exists = p.Exists(ctx, k.meta)
		msgs = p.XRange(ctx, k.outcomes, strconv.FormatInt(max(since.UnixMilli(), 0), 10), "+")
		return nil
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("list outcomes of %s: %w", migrationID, backendError(err))
	case exists.Val() == 0:
		return nil, fmt.Errorf("list outcomes of %s: %w", migrationID, migrations.ErrMigrationNotFound)
	}
	out, err := decodeMessages(msgs.Val())
	if err != nil {
		return nil, fmt.Errorf("list outcomes of %s: %w", migrationID, err)
	}
	// Stream ids are when Redis wrote the event; keep the events' own times to the bound too.
	kept := out[:0]
	for _, e := range out {
		if !e.At.Before(since) {
			kept = append(kept, e)
		}
	}
	return kept, nil
}

func decodeMessages(msgs []redis.XMessage) ([]api.HistoryEvent, error) {
	out := make([]api.HistoryEvent, 0, len(msgs))
	for _, m := range msgs {
		body, _ := m.Values["e"].(string)
		e, err := decodeHistoryEvent(body)
		if err != nil {
			return nil, err
		}
		e.Id = m.ID
		out = append(out, e)
	}
	return out, nil
}
