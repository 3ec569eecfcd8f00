package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

// mergeChunk is how many candidates one merge script handles, so that a large submission does
// not block Redis for long in a single script.
const mergeChunk = 500

// RedisStore is the production MigrationStore. Key layout, with P the prefix and {M} a
// migration id (in braces, so that all of a migration's keys share a Redis Cluster slot):
//
//	P:migrations              ZSET  migration ids, scored by CreatedAt (Unix µs)
//	P:{M}:migration           HASH  def (JSON), createdAt, updatedAt (Unix ns), count:<status>,
//	                                version, runSummaries
//	P:{M}:candidates:def      HASH  candidate id -> definition JSON (id, kind, metadata, files, steps)
//	P:{M}:candidates:status   HASH  candidate id -> not_started | running | completed
//	P:{M}:candidates:updated  HASH  candidate id -> updatedAt (Unix ns)
//	P:{M}:candidates:inputs   HASH  candidate id -> operator inputs JSON
//	P:{M}:candidates:run      HASH  candidate id -> run summary JSON (status, startedAt, finishedAt,
//	                                stepName, stepStatus, attention; all strings, times Unix ns)
//	P:{M}:run:<candidate>     HASH  runId, executionId, status, stepNames, startedAt, finishedAt,
//	                                stepName, stepStatus, attention, step:<name> -> StepState JSON
//	P:{M}:history:<candidate> STREAM e -> HistoryEvent JSON, every event of the candidate's runs
//	P:{M}:outcomes            STREAM e -> HistoryEvent JSON, the outcome events of all of them
//
// Both streams drop entries older than the history retention (MINID on every add) and expire
// a retention after their last entry, so an idle candidate's history goes without a sweep.
//
// Every status change runs in a Lua script that also moves the candidate between the
// count:<status> counters, so counts never need a scan; every run change runs in a script that
// also copies the run's summary into candidates:run, so lists never read run hashes.
type RedisStore struct {
	client    redis.UniversalClient
	prefix    string
	scripts   redisScripts
	retention time.Duration // of run history
}

var _ migrations.MigrationStore = (*RedisStore)(nil)

// NewRedisStore returns a store keeping its keys under prefix (e.g. "drover"). The store owns
// client: Close closes it.
func NewRedisStore(client redis.UniversalClient, prefix string) *RedisStore {
	if prefix != "" && !strings.HasSuffix(prefix, ":") {
		prefix += ":"
	}
	return &RedisStore{client: client, prefix: prefix, scripts: newRedisScripts()}
}

// redisKeys are the keys of one migration.
type redisKeys struct {
	base, meta, defs, status, updated, inputs, runs, rollouts, outcomes string
}

func (s *RedisStore) indexKey() string { return s.prefix + "migrations" }

func (s *RedisStore) keys(migrationID string) redisKeys {
	base := s.prefix + "{" + migrationID + "}:"
	return redisKeys{
		base:    base,
		meta:    base + "migration",
		defs:    base + "candidates:def",
		status:  base + "candidates:status",
		updated: base + "candidates:updated",
		inputs:  base + "candidates:inputs",
		runs:    base + "candidates:run",
		// rollouts: rollout id -> Rollout JSON
		rollouts: base + "rollouts",
		// outcomes: a stream of the outcome events of every run (migrations.IsOutcome)
		outcomes: base + "outcomes",
	}
}

func (k redisKeys) run(candidateID string) string { return k.base + "run:" + candidateID }

// history is the stream of a candidate's history events.
func (k redisKeys) history(candidateID string) string { return k.base + "history:" + candidateID }

func nanosArg(t time.Time) string { return strconv.FormatInt(toNanos(t), 10) }

// parseInt reads a number the store wrote; a missing field reads as 0.
func parseInt(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// Ping reports whether Redis answers.
func (s *RedisStore) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping redis: %w", backendError(err))
	}
	return nil
}

// Close closes the Redis client.
func (s *RedisStore) Close() error {
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("close redis client: %w", err)
	}
	return nil
}

// SaveMigration creates or replaces a migration's definition, keeping the CreatedAt of an
// existing one.
func (s *RedisStore) SaveMigration(ctx context.Context, m api.Migration) error {
	def, err := encodeMigrationDef(m)
	if err != nil {
		return err
	}
	created, updated := migrationTimes(m)
	// The index entry goes first: readers treat an indexed id without a migration hash as absent,
	// so a failure between the two writes leaves nothing half-visible.
	if err := s.client.ZAddNX(ctx, s.indexKey(), redis.Z{Score: float64(created.UnixMicro()), Member: m.Id}).Err(); err != nil {
		return fmt.Errorf("save migration %s: %w", m.Id, backendError(err))
	}
	k := s.keys(m.Id)
	if err := s.scripts.saveMigration.Run(ctx, s.client, []string{k.meta}, string(def), nanosArg(created), nanosArg(updated)).Err(); err != nil {
		return fmt.Errorf("save migration %s: %w", m.Id, backendError(err))
	}
	return nil
}

// GetMigration returns a migration's definition and counts.
func (s *RedisStore) GetMigration(ctx context.Context, id string) (api.Migration, error) {
	h, err := s.client.HGetAll(ctx, s.keys(id).meta).Result()
	if err != nil {
		return api.Migration{}, fmt.Errorf("get migration %s: %w", id, backendError(err))
	}
	if len(h) == 0 {
		return api.Migration{}, fmt.Errorf("get migration %s: %w", id, migrations.ErrMigrationNotFound)
	}
	m, err := migrationFromHash(id, h)
	if err != nil {
		return api.Migration{}, fmt.Errorf("get migration %s: %w", id, err)
	}
	return m, nil
}

func migrationFromHash(id string, h map[string]string) (api.Migration, error) {
	m, err := decodeMigrationDef(id, []byte(h[migFieldDef]), parseInt(h[migFieldCreatedAt]), parseInt(h[migFieldUpdatedAt]))
	if err != nil {
		return api.Migration{}, err
	}
	m.Counts = api.CandidateCounts{
		NotStarted: int(parseInt(h[countField+string(api.CandidateStatusNotStarted)])),
		Running:    int(parseInt(h[countField+string(api.CandidateStatusRunning)])),
		Completed:  int(parseInt(h[countField+string(api.CandidateStatusCompleted)])),
	}
	return m, nil
}

// candidateHashes are the pipelined reads of a migration's candidate hashes.
type candidateHashes struct {
	defs, status, updated, inputs, runs *redis.MapStringStringCmd
}

func (k redisKeys) readCandidates(ctx context.Context, p redis.Pipeliner) candidateHashes {
	return candidateHashes{
		defs:    p.HGetAll(ctx, k.defs),
		status:  p.HGetAll(ctx, k.status),
		updated: p.HGetAll(ctx, k.updated),
		inputs:  p.HGetAll(ctx, k.inputs),
		runs:    p.HGetAll(ctx, k.runs),
	}
}

// candidates assembles the candidates read, ordered by id. The status hash is authoritative; a
// candidate without a definition (impossible when read in one transaction) is skipped.
func (c candidateHashes) candidates() ([]api.Candidate, error) {
	status := c.status.Val()
	defs, updated, inputs, runs := c.defs.Val(), c.updated.Val(), c.inputs.Val(), c.runs.Val()
	out := make([]api.Candidate, 0, len(status))
	for id, st := range status {
		def, ok := defs[id]
		if !ok {
			continue
		}
		cand, err := decodeCandidate(id, []byte(def), st, parseInt(updated[id]), []byte(inputs[id]))
		if err != nil {
			return nil, err
		}
		if cand.Run, err = decodeRunSummary(runs[id]); err != nil {
			return nil, fmt.Errorf("decode run summary of candidate %s: %w", id, err)
		}
		out = append(out, cand)
	}
	sortCandidates(out)
	return out, nil
}

// storedSummary is a run summary as the scripts write it (see luaWriteSummary).
type storedSummary struct {
	Status     string `json:"status"`
	StartedAt  string `json:"startedAt"`
	FinishedAt string `json:"finishedAt"`
	StepName   string `json:"stepName"`
	StepStatus string `json:"stepStatus"`
	Attention  string `json:"attention"`
	// WaitingSince is empty in summaries written before silent and overdue steps existed.
	WaitingSince string `json:"waitingSince"`
}

// CountAttention counts the running candidates whose run summary needs attention.
func (s *RedisStore) CountAttention(ctx context.Context, migrationID string) (int, error) {
	k := s.keys(migrationID)
	var status, runs *redis.MapStringStringCmd
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		status, runs = p.HGetAll(ctx, k.status), p.HGetAll(ctx, k.runs)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count attention of %s: %w", migrationID, backendError(err))
	}
	if len(status.Val()) == 0 {
		if err := s.missingMigration(ctx, k); err != nil {
			return 0, fmt.Errorf("count attention of %s: %w", migrationID, err)
		}
	}
	n := 0
	for id, enc := range runs.Val() {
		if status.Val()[id] != string(api.CandidateStatusRunning) {
			continue
		}
		sum, err := decodeRunSummary(enc)
		if err != nil {
			return 0, fmt.Errorf("count attention of %s: run summary of %s: %w", migrationID, id, err)
		}
		if sum.Attention != "" {
			n++
		}
	}
	return n, nil
}

// decodeRunSummary decodes a stored run summary; none (the candidate never ran) is the zero one.
func decodeRunSummary(enc string) (api.RunSummary, error) {
	if enc == "" {
		return api.RunSummary{}, nil
	}
	var st storedSummary
	if err := json.Unmarshal([]byte(enc), &st); err != nil {
		return api.RunSummary{}, err
	}
	return runSummary(st.Status, parseInt(st.StartedAt), parseInt(st.FinishedAt), st.StepName, st.StepStatus, st.Attention, parseInt(st.WaitingSince)), nil
}

// ListMigrations returns all migrations ordered by CreatedAt, in two round trips. With
// candidates, each migration's counts are tallied from the candidates returned, so they agree.
func (s *RedisStore) ListMigrations(ctx context.Context, withCandidates bool) ([]api.Migration, error) {
	ids, err := s.client.ZRange(ctx, s.indexKey(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", backendError(err))
	}
	metas := make([]*redis.MapStringStringCmd, len(ids))
	cands := make([]candidateHashes, len(ids))
	// A plain pipeline: a transaction cannot span the Cluster slots of several migrations.
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			k := s.keys(id)
			metas[i] = p.HGetAll(ctx, k.meta)
			if withCandidates {
				cands[i] = k.readCandidates(ctx, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", backendError(err))
	}
	if withCandidates {
		if backfilled, err := s.backfillWhereNeeded(ctx, ids, metas); err != nil || backfilled {
			if err != nil {
				return nil, fmt.Errorf("list migrations: %w", err)
			}
			return s.ListMigrations(ctx, withCandidates) // read again, now with every summary
		}
	}
	out := make([]api.Migration, 0, len(ids))
	for i, id := range ids {
		h := metas[i].Val()
		if len(h) == 0 {
			continue
		}
		m, err := migrationFromHash(id, h)
		if err != nil {
			return nil, fmt.Errorf("list migrations: %w", err)
		}
		if withCandidates {
			if m.Candidates, err = cands[i].candidates(); err != nil {
				return nil, fmt.Errorf("list migrations: %s: %w", id, err)
			}
			m.Counts = api.CandidateCounts{}
			for _, c := range m.Candidates {
				countStatus(&m.Counts, c.Status, 1)
			}
		}
		out = append(out, m)
	}
	sortMigrations(out)
	return out, nil
}

// MergeCandidates merges a submission in chunks; each chunk is one script, so each candidate's
// status check and write are atomic. Chunks after the first are pipelined.
func (s *RedisStore) MergeCandidates(ctx context.Context, migrationID string, candidates []api.CandidateInput, at time.Time) error {
	k := s.keys(migrationID)
	keys := []string{k.meta, k.defs, k.status, k.updated}
	var chunks [][]any
	for start := 0; start < len(candidates) || start == 0; start += mergeChunk {
		end := min(start+mergeChunk, len(candidates))
		args := make([]any, 0, 1+2*(end-start))
		args = append(args, nanosArg(at))
		for _, c := range candidates[start:end] {
			def, err := encodeCandidateDef(c)
			if err != nil {
				return fmt.Errorf("merge candidates of %s: %w", migrationID, err)
			}
			args = append(args, c.Id, string(def))
		}
		chunks = append(chunks, args)
	}
	check := func(code int64, err error) error {
		switch {
		case err != nil:
			return fmt.Errorf("merge candidates of %s: %w", migrationID, backendError(err))
		case code == codeNoMigration:
			return fmt.Errorf("merge candidates of %s: %w", migrationID, migrations.ErrMigrationNotFound)
		}
		return nil
	}
	// The first chunk goes alone: it loads the script if Redis does not know it yet.
	if err := check(s.scripts.mergeCandidates.Run(ctx, s.client, keys, chunks[0]...).Int64()); err != nil {
		return err
	}
	if len(chunks) == 1 {
		return nil
	}
	cmds := make([]*redis.Cmd, 0, len(chunks)-1)
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, args := range chunks[1:] {
			cmds = append(cmds, s.scripts.mergeCandidates.EvalSha(ctx, p, keys, args...))
		}
		return nil
	})
	if err != nil && !redis.HasErrorPrefix(err, "NOSCRIPT") {
		return fmt.Errorf("merge candidates of %s: %w", migrationID, backendError(err))
	}
	for i, cmd := range cmds {
		code, err := cmd.Int64()
		if redis.HasErrorPrefix(err, "NOSCRIPT") {
			// The script cache was flushed meanwhile; merging a chunk again is harmless.
			code, err = s.scripts.mergeCandidates.Run(ctx, s.client, keys, chunks[i+1]...).Int64()
		}
		if err := check(code, err); err != nil {
			return err
		}
	}
	return nil
}

// ListCandidates reads a migration's candidates in one transaction (one round trip).
func (s *RedisStore) ListCandidates(ctx context.Context, migrationID string) ([]api.Candidate, error) {
	k := s.keys(migrationID)
	var exists *redis.IntCmd
	var marked *redis.StringCmd
	var hashes candidateHashes
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		exists = p.Exists(ctx, k.meta)
		marked = p.HGet(ctx, k.meta, migFieldRunSummaries)
		hashes = k.readCandidates(ctx, p)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("list candidates of %s: %w", migrationID, backendError(err))
	}
	if exists.Val() == 0 {
		return nil, fmt.Errorf("list candidates of %s: %w", migrationID, migrations.ErrMigrationNotFound)
	}
	if marked.Val() == "" {
		if err := s.backfillRunSummaries(ctx, migrationID); err != nil {
			return nil, fmt.Errorf("list candidates of %s: %w", migrationID, err)
		}
		return s.ListCandidates(ctx, migrationID)
	}
	out, err := hashes.candidates()
	if err != nil {
		return nil, fmt.Errorf("list candidates of %s: %w", migrationID, err)
	}
	return out, nil
}

// GetCandidate reads one candidate in one transaction.
func (s *RedisStore) GetCandidate(ctx context.Context, migrationID, candidateID string) (api.Candidate, error) {
	k := s.keys(migrationID)
	var exists *redis.IntCmd
	var def, status, updated, inputs, run, marked *redis.StringCmd
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		exists = p.Exists(ctx, k.meta)
		def = p.HGet(ctx, k.defs, candidateID)
		status = p.HGet(ctx, k.status, candidateID)
		updated = p.HGet(ctx, k.updated, candidateID)
		inputs = p.HGet(ctx, k.inputs, candidateID)
		run = p.HGet(ctx, k.runs, candidateID)
		marked = p.HGet(ctx, k.meta, migFieldRunSummaries)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return api.Candidate{}, fmt.Errorf("get candidate %s/%s: %w", migrationID, candidateID, backendError(err))
	}
	switch {
	case exists.Val() == 0:
		return api.Candidate{}, fmt.Errorf("get candidate %s/%s: %w", migrationID, candidateID, migrations.ErrMigrationNotFound)
	case status.Err() != nil || def.Err() != nil:
		return api.Candidate{}, fmt.Errorf("get candidate %s/%s: %w", migrationID, candidateID, migrations.ErrCandidateNotFound)
	}
	if marked.Val() == "" {
		if err := s.backfillRunSummaries(ctx, migrationID); err != nil {
			return api.Candidate{}, fmt.Errorf("get candidate %s/%s: %w", migrationID, candidateID, err)
		}
		return s.GetCandidate(ctx, migrationID, candidateID)
	}
	c, err := decodeCandidate(candidateID, []byte(def.Val()), status.Val(), parseInt(updated.Val()), []byte(inputs.Val()))
	if err != nil {
		return api.Candidate{}, fmt.Errorf("get candidate %s/%s: %w", migrationID, candidateID, err)
	}
	if c.Run, err = decodeRunSummary(run.Val()); err != nil {
		return api.Candidate{}, fmt.Errorf("get candidate %s/%s: decode run summary: %w", migrationID, candidateID, err)
	}
	return c, nil
}

// MergeInputs sets the given inputs of a candidate in one script and returns all its inputs.
func (s *RedisStore) MergeInputs(ctx context.Context, migrationID, candidateID string, inputs map[string]string) (map[string]string, error) {
	k := s.keys(migrationID)
	args := make([]any, 0, 1+2*len(inputs))
	args = append(args, candidateID)
	for key, v := range inputs {
		args = append(args, key, v)
	}
	res, err := s.scripts.mergeInputs.Run(ctx, s.client, []string{k.meta, k.status, k.inputs}, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("merge inputs of %s/%s: %w", migrationID, candidateID, backendError(err))
	}
	code, _ := res[0].(int64)
	if err := codeError(code); err != nil {
		return nil, fmt.Errorf("merge inputs of %s/%s: %w", migrationID, candidateID, err)
	}
	enc, _ := res[1].(string)
	merged, err := decodeInputs([]byte(enc))
	if err != nil {
		return nil, fmt.Errorf("merge inputs of %s/%s: decode: %w", migrationID, candidateID, err)
	}
	return merged, nil
}

// codeError turns a script's not-found code into the sentinel error.
func codeError(code int64) error {
	switch code {
	case codeNoMigration:
		return migrations.ErrMigrationNotFound
	case codeNoCandidate:
		return migrations.ErrCandidateNotFound
	}
	return nil
}

// BeginRun makes the candidate running and replaces its run record and run summary, in one
// script.
func (s *RedisStore) BeginRun(ctx context.Context, run migrations.RunRecord) error {
	k := s.keys(run.MigrationID)
	names, err := encodeJSON("step names", nonNil(run.StepNames))
	if err != nil {
		return fmt.Errorf("begin run of %s/%s: %w", run.MigrationID, run.CandidateID, err)
	}
	started := run.StartedAt
	if started.IsZero() {
		started = time.Now()
	}
	args := []any{run.CandidateID, run.RunID, run.ExecutionID, string(statusOrDefault(run.Status, api.RunStatusRunning)), names, nanosArg(started), len(run.Inputs)}
	for key, v := range run.Inputs {
		args = append(args, key, v)
	}
	run.StartedAt = started
	hist, err := s.historyArgs([]api.HistoryEvent{migrations.RunStartedEvent(run)}, run.CandidateID)
	if err != nil {
		return fmt.Errorf("begin run of %s/%s: %w", run.MigrationID, run.CandidateID, err)
	}
	code, err := s.scripts.beginRun.Run(ctx, s.client,
		[]string{k.meta, k.status, k.updated, k.run(run.CandidateID), k.runs, k.inputs, k.history(run.CandidateID), k.outcomes}, append(args, hist...)...).Int64()
	if err != nil {
		return fmt.Errorf("begin run of %s/%s: %w", run.MigrationID, run.CandidateID, backendError(err))
	}
	if err := codeError(code); err != nil {
		return fmt.Errorf("begin run of %s/%s: %w", run.MigrationID, run.CandidateID, err)
	}
	return nil
}

// PutStepState writes one step state and the run summary it makes, if executionID is still the
// candidate's current run, in one script; the migration's version grows when the summary changed.
func (s *RedisStore) PutStepState(ctx context.Context, migrationID, candidateID, executionID string, step api.StepState, attention api.Attention) error {
	state, err := encodeStepState(step)
	if err != nil {
		return fmt.Errorf("put step state %s of %s/%s: %w", step.StepName, migrationID, candidateID, err)
	}
	k := s.keys(migrationID)
	field := runStepField + step.StepName
	for range casTries {
		stored, err := s.client.HGet(ctx, k.run(candidateID), field).Result()
		hadPrev := err == nil
		if err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("put step state %s of %s/%s: %w", step.StepName, migrationID, candidateID, backendError(err))
		}
		var prev api.StepState
		if hadPrev {
			if prev, err = decodeStepState([]byte(stored)); err != nil {
				return fmt.Errorf("put step state %s of %s/%s: decode stored state: %w", step.StepName, migrationID, candidateID, err)
			}
		}
		hist, err := s.historyArgs(migrations.StepHistory(executionID, prev, hadPrev, step), candidateID)
		if err != nil {
			return fmt.Errorf("put step state %s of %s/%s: %w", step.StepName, migrationID, candidateID, err)
		}
		args := append([]any{executionID, field, state, candidateID, step.StepName, string(step.Status), string(attention),
			nanosArg(migrations.AttentionSince(step, attention)), flag(hadPrev), stored}, hist...)
		code, err := s.scripts.putStepState.Run(ctx, s.client, []string{k.run(candidateID), k.runs, k.meta, k.history(candidateID), k.outcomes}, args...).Int64()
		if err != nil {
			return fmt.Errorf("put step state %s of %s/%s: %w", step.StepName, migrationID, candidateID, backendError(err))
		}
		switch code {
		case codeNoRun:
			return fmt.Errorf("put step state %s of %s/%s: %w", step.StepName, migrationID, candidateID, s.whyNoRun(ctx, k, candidateID))
		case codeChanged:
			continue
		}
		return nil
	}
	return fmt.Errorf("put step state %s of %s/%s: %w", step.StepName, migrationID, candidateID, errKeptChanging)
}

// FinishRun ends the current run, clearing its attention, and sets the candidate's status in one
// script.
func (s *RedisStore) FinishRun(ctx context.Context, migrationID, candidateID, executionID string, status api.RunStatus, candidateStatus api.CandidateStatus, at time.Time) error {
	return s.finishRun(ctx, migrationID, candidateID, executionID, status, candidateStatus, at, "0")
}

// ReconcileRun ends the run as cancelled only while it is still running.
func (s *RedisStore) ReconcileRun(ctx context.Context, migrationID, candidateID, executionID string, at time.Time) error {
	return s.finishRun(ctx, migrationID, candidateID, executionID, api.RunStatusCancelled, api.CandidateStatusNotStarted, at, "1")
}

func (s *RedisStore) finishRun(ctx context.Context, migrationID, candidateID, executionID string, status api.RunStatus, candidateStatus api.CandidateStatus, at time.Time, onlyRunning string) error {
	k := s.keys(migrationID)
	for range casTries {
		atStep, err := s.client.HGet(ctx, k.run(candidateID), runFieldStepName).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("finish run of %s/%s: %w", migrationID, candidateID, backendError(err))
		}
		hist, err := s.historyArgs(migrations.RunFinishedEvents(executionID, status, atStep, at), candidateID)
		if err != nil {
			return fmt.Errorf("finish run of %s/%s: %w", migrationID, candidateID, err)
		}
		args := append([]any{candidateID, executionID, string(status), nanosArg(at), string(candidateStatus), onlyRunning, atStep}, hist...)
		code, err := s.scripts.finishRun.Run(ctx, s.client,
			[]string{k.meta, k.status, k.updated, k.run(candidateID), k.runs, k.history(candidateID), k.outcomes}, args...).Int64()
		if err != nil {
			return fmt.Errorf("finish run of %s/%s: %w", migrationID, candidateID, backendError(err))
		}
		switch code {
		case codeNoRun:
			return fmt.Errorf("finish run of %s/%s: %w", migrationID, candidateID, s.whyNoRun(ctx, k, candidateID))
		case codeChanged:
			continue
		}
		return nil
	}
	return fmt.Errorf("finish run of %s/%s: %w", migrationID, candidateID, errKeptChanging)
}

// GetRun reads the candidate's latest run with one HGETALL.
func (s *RedisStore) GetRun(ctx context.Context, migrationID, candidateID string) (migrations.RunRecord, error) {
	k := s.keys(migrationID)
	h, err := s.client.HGetAll(ctx, k.run(candidateID)).Result()
	if err != nil {
		return migrations.RunRecord{}, fmt.Errorf("get run of %s/%s: %w", migrationID, candidateID, backendError(err))
	}
	if len(h) == 0 {
		return migrations.RunRecord{}, fmt.Errorf("get run of %s/%s: %w", migrationID, candidateID, s.whyNoRun(ctx, k, candidateID))
	}
	run, err := runFromHash(migrationID, candidateID, h)
	if err != nil {
		return migrations.RunRecord{}, fmt.Errorf("get run of %s/%s: %w", migrationID, candidateID, err)
	}
	return run, nil
}

// runFromHash decodes a run hash.
func runFromHash(migrationID, candidateID string, h map[string]string) (migrations.RunRecord, error) {
	run := migrations.RunRecord{
		RunID:       h[runFieldRunID],
		ExecutionID: h[runFieldExecutionID],
		MigrationID: migrationID,
		CandidateID: candidateID,
		Status:      api.RunStatus(h[runFieldStatus]),
		StartedAt:   fromNanos(parseInt(h[runFieldStartedAt])),
		FinishedAt:  fromNanos(parseInt(h[runFieldFinishedAt])),
	}
	if err := json.Unmarshal([]byte(h[runFieldStepNames]), &run.StepNames); err != nil {
		return migrations.RunRecord{}, fmt.Errorf("decode step names: %w", err)
	}
	states := make(map[string]api.StepState)
	for field, v := range h {
		name, ok := strings.CutPrefix(field, runStepField)
		if !ok {
			continue
		}
		st, err := decodeStepState([]byte(v))
		if err != nil {
			return migrations.RunRecord{}, fmt.Errorf("decode step %s: %w", name, err)
		}
		states[name] = st
	}
	run.Steps = orderSteps(run.StepNames, states)
	c, err := decodeCancellation(h[runFieldCancel])
	if err != nil {
		return migrations.RunRecord{}, err
	}
	run.Cancellation = c
	return run, nil
}

// PutCancellation records the cancelled run's notice, if executionID is still the candidate's run.
func (s *RedisStore) PutCancellation(ctx context.Context, migrationID, candidateID, executionID string, c api.RunCancellation) error {
	enc, err := encodeJSON("run cancellation", c)
	if err != nil {
		return fmt.Errorf("put cancellation of %s/%s: %w", migrationID, candidateID, err)
	}
	k := s.keys(migrationID)
	code, err := s.scripts.putCancellation.Run(ctx, s.client, []string{k.run(candidateID)}, executionID, enc).Int64()
	if err != nil {
		return fmt.Errorf("put cancellation of %s/%s: %w", migrationID, candidateID, backendError(err))
	}
	if code == codeNoRun {
		return fmt.Errorf("put cancellation of %s/%s: %w", migrationID, candidateID, s.whyNoRun(ctx, k, candidateID))
	}
	return nil
}

// whyNoRun tells apart, for a candidate without a run record, an unknown migration, an unknown
// candidate and a candidate that never ran.
func (s *RedisStore) whyNoRun(ctx context.Context, k redisKeys, candidateID string) error {
	var exists *redis.IntCmd
	var known *redis.BoolCmd
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		exists = p.Exists(ctx, k.meta)
		known = p.HExists(ctx, k.status, candidateID)
		return nil
	})
	switch {
	case err != nil:
		return backendError(err)
	case exists.Val() == 0:
		return migrations.ErrMigrationNotFound
	case !known.Val():
		return migrations.ErrCandidateNotFound
	}
	return migrations.ErrRunNotFound
}

// MigrationVersion returns the migration's change counter.
func (s *RedisStore) MigrationVersion(ctx context.Context, id string) (int64, error) {
	v, err := s.client.HMGet(ctx, s.keys(id).meta, migFieldVersion, migFieldDef).Result()
	if err != nil {
		return 0, fmt.Errorf("version of migration %s: %w", id, backendError(err))
	}
	if v[1] == nil {
		return 0, fmt.Errorf("version of migration %s: %w", id, migrations.ErrMigrationNotFound)
	}
	return parseVersion(v[0]), nil
}

// MigrationVersions returns every migration's id and change counter in ListMigrations order,
// in two round trips.
func (s *RedisStore) MigrationVersions(ctx context.Context) ([]migrations.MigrationVersion, error) {
	ids, err := s.client.ZRange(ctx, s.indexKey(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("migration versions: %w", backendError(err))
	}
	cmds := make([]*redis.SliceCmd, len(ids))
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, s.keys(id).meta, migFieldVersion, migFieldDef)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("migration versions: %w", backendError(err))
	}
	out := make([]migrations.MigrationVersion, 0, len(ids))
	for i, id := range ids {
		v := cmds[i].Val()
		if len(v) < 2 || v[1] == nil {
			continue // indexed but not written yet: absent, as ListMigrations treats it
		}
		out = append(out, migrations.MigrationVersion{ID: id, Version: parseVersion(v[0])})
	}
	return out, nil
}

func parseVersion(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// PutRollout creates or replaces a rollout's read model.
func (s *RedisStore) PutRollout(ctx context.Context, r api.Rollout) error {
	enc, err := encodeJSON("rollout", r)
	if err != nil {
		return fmt.Errorf("put rollout %s of %s: %w", r.Id, r.MigrationId, err)
	}
	k := s.keys(r.MigrationId)
	if err := s.missingMigration(ctx, k); err != nil {
		return fmt.Errorf("put rollout %s of %s: %w", r.Id, r.MigrationId, err)
	}
	if err := s.client.HSet(ctx, k.rollouts, r.Id, enc).Err(); err != nil {
		return fmt.Errorf("put rollout %s of %s: %w", r.Id, r.MigrationId, backendError(err))
	}
	return nil
}

// GetRollout returns one rollout.
func (s *RedisStore) GetRollout(ctx context.Context, migrationID, id string) (api.Rollout, error) {
	k := s.keys(migrationID)
	enc, err := s.client.HGet(ctx, k.rollouts, id).Result()
	if errors.Is(err, redis.Nil) {
		err = cmp.Or(s.missingMigration(ctx, k), migrations.ErrRolloutNotFound)
	} else if err != nil {
		err = backendError(err)
	}
	if err != nil {
		return api.Rollout{}, fmt.Errorf("get rollout %s of %s: %w", id, migrationID, err)
	}
	r, err := decodeRollout(enc)
	if err != nil {
		return api.Rollout{}, fmt.Errorf("get rollout %s of %s: %w", id, migrationID, err)
	}
	return r, nil
}

// missingMigration is ErrMigrationNotFound when the migration is unknown, else nil (or the
// backend's error).
func (s *RedisStore) missingMigration(ctx context.Context, k redisKeys) error {
	n, err := s.client.Exists(ctx, k.meta).Result()
	switch {
	case err != nil:
		return backendError(err)
	case n == 0:
		return migrations.ErrMigrationNotFound
	}
	return nil
}

// ListRollouts returns a migration's rollouts, oldest first.
func (s *RedisStore) ListRollouts(ctx context.Context, migrationID string) ([]api.Rollout, error) {
	k := s.keys(migrationID)
	all, err := s.client.HGetAll(ctx, k.rollouts).Result()
	if err != nil {
		return nil, fmt.Errorf("list rollouts of %s: %w", migrationID, backendError(err))
	}
	if len(all) == 0 {
		if err := s.missingMigration(ctx, k); err != nil {
			return nil, fmt.Errorf("list rollouts of %s: %w", migrationID, err)
		}
	}
	out := make([]api.Rollout, 0, len(all))
	for id, enc := range all {
		r, err := decodeRollout(enc)
		if err != nil {
			return nil, fmt.Errorf("list rollouts of %s: %s: %w", migrationID, id, err)
		}
		out = append(out, r)
	}
	sortRollouts(out)
	return out, nil
}
