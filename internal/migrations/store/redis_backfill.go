package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

// backfillChunk is how many runs one backfill script handles.
const backfillChunk = 500

// backfillWhereNeeded fills in the run summaries of every listed migration whose hash (as read
// in metas) lacks the runSummaries mark, and reports whether there was any.
func (s *RedisStore) backfillWhereNeeded(ctx context.Context, ids []string, metas []*redis.MapStringStringCmd) (bool, error) {
	did := false
	for i, id := range ids {
		h := metas[i].Val()
		if len(h) == 0 || h[migFieldRunSummaries] != "" {
			continue
		}
		if err := s.backfillRunSummaries(ctx, id); err != nil {
			return false, err
		}
		did = true
	}
	return did, nil
}

// backfillRunSummaries fills in the run summaries of a migration created before the store kept
// them, from its candidates' run hashes, then marks the migration as done. It runs once per
// migration, on the first read that needs the summaries. A summary the run scripts write
// meanwhile always wins (see luaBackfillSummaries), so running workflows and other replicas
// backfilling at the same time are harmless.
func (s *RedisStore) backfillRunSummaries(ctx context.Context, migrationID string) error {
	k := s.keys(migrationID)
	m, defs, runs, err := s.readForBackfill(ctx, migrationID)
	if err != nil {
		return fmt.Errorf("backfill run summaries of %s: %w", migrationID, err)
	}
	keys := []string{k.meta, k.runs}
	var args []any
	for id, run := range runs {
		var cand api.CandidateInput
		if def, ok := defs[id]; ok {
			if err := decodeDef([]byte(def), &cand, upgradeCandidateDef); err != nil {
				return fmt.Errorf("backfill run summaries of %s: decode candidate %s: %w", migrationID, id, err)
			}
		}
		step, attention := summaryStep(run, cand.Steps, m.Steps)
		keys = append(keys, k.run(id))
		args = append(args, id, run.ExecutionID, step.StepName, string(step.Status), string(attention))
	}
	for start := 2; start < len(keys); start += backfillChunk {
		end := min(start+backfillChunk, len(keys))
		chunkKeys := append([]string{k.meta, k.runs}, keys[start:end]...)
		chunkArgs := args[(start-2)*5 : (end-2)*5]
		if err := s.scripts.backfill.Run(ctx, s.client, chunkKeys, chunkArgs...).Err(); err != nil {
			return fmt.Errorf("backfill run summaries of %s: %w", migrationID, backendError(err))
		}
	}
	if err := s.client.HSet(ctx, k.meta, migFieldRunSummaries, "1").Err(); err != nil {
		return fmt.Errorf("backfill run summaries of %s: mark done: %w", migrationID, backendError(err))
	}
	return nil
}

// readForBackfill reads a migration's definition, its candidates' definitions and every run
// of its candidates, in two round trips.
func (s *RedisStore) readForBackfill(ctx context.Context, migrationID string) (api.Migration, map[string]string, map[string]migrations.RunRecord, error) {
	k := s.keys(migrationID)
	var def *redis.StringCmd
	var defs *redis.MapStringStringCmd
	var ids *redis.StringSliceCmd
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		def = p.HGet(ctx, k.meta, migFieldDef)
		defs = p.HGetAll(ctx, k.defs)
		ids = p.HKeys(ctx, k.status)
		return nil
	})
	if errors.Is(def.Err(), redis.Nil) {
		return api.Migration{}, nil, nil, migrations.ErrMigrationNotFound
	}
	if err != nil {
		return api.Migration{}, nil, nil, backendError(err)
	}
	var m api.Migration
	if err := decodeDef([]byte(def.Val()), &m, upgradeMigrationDef); err != nil {
		return api.Migration{}, nil, nil, fmt.Errorf("decode migration: %w", err)
	}
	hashes := make([]*redis.MapStringStringCmd, len(ids.Val()))
	if len(hashes) == 0 {
		return m, defs.Val(), nil, nil
	}
	if _, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids.Val() {
			hashes[i] = p.HGetAll(ctx, k.run(id))
		}
		return nil
	}); err != nil {
		return api.Migration{}, nil, nil, backendError(err)
	}
	runs := make(map[string]migrations.RunRecord)
	for i, id := range ids.Val() {
		h := hashes[i].Val()
		if len(h) == 0 {
			continue // never ran
		}
		run, err := runFromHash(migrationID, id, h)
		if err != nil {
			return api.Migration{}, nil, nil, fmt.Errorf("run of %s: %w", id, err)
		}
		runs[id] = run
	}
	return m, defs.Val(), runs, nil
}
