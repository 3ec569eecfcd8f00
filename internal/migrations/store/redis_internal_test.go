package store

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/testsupport"
	"github.com/drover-dev/drover/pkg/api"
)

// roundTrips counts the commands and pipelines a client sends, each one network round trip.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() != "hello" && cmd.Name() != "client" { // connection set-up, not ours
			r.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && cmds[0].Name() != "hello" && cmds[0].Name() != "client" { // connection set-up
			r.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

// measure returns how many round trips fn made.
func (r *roundTrips) measure(fn func()) int64 {
	before := r.n.Load()
	fn()
	return r.n.Load() - before
}

func TestRedisRoundTripsAndKeyLayout(t *testing.T) {
	ctx := context.Background()
	client := testsupport.RedisClient(t)
	counter := &roundTrips{}
	client.AddHook(counter)
	s := NewRedisStore(client, "drover")

	const total = 10_000
	require.NoError(t, s.SaveMigration(ctx, api.Migration{Id: "big", Name: "Big", Steps: []api.StepDefinition{{Name: "one"}}, CreatedAt: time.Now()}))
	cands := make([]api.CandidateInput, total)
	for i := range cands {
		cands[i] = api.CandidateInput{Id: fmt.Sprintf("c%05d", i), Kind: "service", Metadata: map[string]string{"i": fmt.Sprint(i)}}
	}
	require.NoError(t, s.MergeCandidates(ctx, "big", cands, time.Now()))
	// With the script cached: one script for the first chunk, then one pipeline for the rest.
	require.EqualValues(t, 2, counter.measure(func() {
		require.NoError(t, s.MergeCandidates(ctx, "big", cands, time.Now()))
	}))
	require.NoError(t, s.BeginRun(ctx, migrations.RunRecord{MigrationID: "big", CandidateID: "c00007", ExecutionID: "e", StepNames: []string{"one"}, StartedAt: time.Now()}))
	require.NoError(t, s.PutStepState(ctx, "big", "c00007", "e", api.StepState{StepName: "one", Status: api.StepStatusPending}, ""))

	var list []api.Candidate
	require.EqualValues(t, 1, counter.measure(func() {
		var err error
		list, err = s.ListCandidates(ctx, "big")
		require.NoError(t, err)
	}))
	require.Len(t, list, total)
	require.EqualValues(t, 1, counter.measure(func() {
		_, err := s.GetMigration(ctx, "big")
		require.NoError(t, err)
	}))
	require.EqualValues(t, 2, counter.measure(func() {
		ms, err := s.ListMigrations(ctx, true)
		require.NoError(t, err)
		require.Len(t, ms[0].Candidates, total)
	}))
	require.EqualValues(t, 1, counter.measure(func() {
		run, err := s.GetRun(ctx, "big", "c00007")
		require.NoError(t, err)
		require.Len(t, run.Steps, 1)
	}))
	require.EqualValues(t, 1, counter.measure(func() {
		_, err := s.GetCandidate(ctx, "big", "c00007")
		require.NoError(t, err)
	}))

	_, err := s.MergeInputs(ctx, "big", "c00008", map[string]string{"ticket": "T-1"})
	require.NoError(t, err)
	// A fixed set of keys per migration plus two per candidate that ran (its run, its history).
	keys, err := client.Keys(ctx, "drover:*").Result()
	require.NoError(t, err)
	slices.Sort(keys)
	require.Equal(t, []string{
		"drover:migrations",
		"drover:{big}:candidates:def",
		"drover:{big}:candidates:inputs",
		"drover:{big}:candidates:run",
		"drover:{big}:candidates:status",
		"drover:{big}:candidates:updated",
		"drover:{big}:history:c00007",
		"drover:{big}:migration",
		"drover:{big}:outcomes",
		"drover:{big}:run:c00007",
	}, keys)
}

func TestRedisMergeReloadsAFlushedScriptCache(t *testing.T) {
	ctx := context.Background()
	client := testsupport.RedisClient(t)
	s := NewRedisStore(client, "p")
	require.NoError(t, s.SaveMigration(ctx, api.Migration{Id: "m", CreatedAt: time.Now()}))
	cands := make([]api.CandidateInput, 3*mergeChunk)
	for i := range cands {
		cands[i] = api.CandidateInput{Id: fmt.Sprintf("c%05d", i), Kind: "service"}
	}
	require.NoError(t, s.MergeCandidates(ctx, "m", cands[:10], time.Now()))
	// Flushed after the first chunk has loaded the script would be the worst case; flushing
	// before the call exercises the same NOSCRIPT fallback for every path.
	require.NoError(t, client.ScriptFlush(ctx).Err())
	require.NoError(t, s.MergeCandidates(ctx, "m", cands, time.Now()))
	require.NoError(t, client.ScriptFlush(ctx).Err())
	_, err := s.MergeInputs(ctx, "m", "c00001", map[string]string{"k": "v"})
	require.NoError(t, err)
	list, err := s.ListCandidates(ctx, "m")
	require.NoError(t, err)
	require.Len(t, list, len(cands))
	m, err := s.GetMigration(ctx, "m")
	require.NoError(t, err)
	require.Equal(t, api.CandidateCounts{NotStarted: len(cands)}, m.Counts)
}

func TestRedisPrefixesIsolateStores(t *testing.T) {
	ctx := context.Background()
	addr := testsupport.Redis(t)
	a := NewRedisStore(redis.NewClient(&redis.Options{Addr: addr}), "a")
	b := NewRedisStore(redis.NewClient(&redis.Options{Addr: addr}), "b:")
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	require.NoError(t, a.SaveMigration(ctx, api.Migration{Id: "m", CreatedAt: time.Now()}))
	_, err := b.GetMigration(ctx, "m")
	require.ErrorIs(t, err, migrations.ErrMigrationNotFound)
	ms, err := b.ListMigrations(ctx, false)
	require.NoError(t, err)
	require.Empty(t, ms)
}

// TestRedisBackfillsRunSummaries: a migration written before the store kept run summaries gets
// them, derived from its run hashes, on the first read that needs them; a summary a run script
// wrote meanwhile is kept.
func TestRedisBackfillsRunSummaries(t *testing.T) {
	ctx := context.Background()
	client := testsupport.RedisClient(t)
	s := NewRedisStore(client, "old")
	t0 := time.Unix(1_700_000_000, 0).UTC()
	steps := []api.StepDefinition{{Name: "change"}, {Name: "review", Manual: true}}
	require.NoError(t, s.SaveMigration(ctx, api.Migration{Id: "m", Name: "M", Steps: steps, CreatedAt: t0}))
	require.NoError(t, s.MergeCandidates(ctx, "m", []api.CandidateInput{
		{Id: "waiting", Kind: "service"}, {Id: "failed", Kind: "service"}, {Id: "done", Kind: "service"},
		{Id: "never", Kind: "service"}, {Id: "fresh", Kind: "service"},
	}, t0))
	run := func(cid string, states ...api.StepState) {
		require.NoError(t, s.BeginRun(ctx, migrations.RunRecord{MigrationID: "m", CandidateID: cid, ExecutionID: "e-" + cid,
			Status: api.RunStatusRunning, StepNames: []string{"change", "review"}, StartedAt: t0}))
		for _, st := range states {
			require.NoError(t, s.PutStepState(ctx, "m", cid, "e-"+cid, st, ""))
		}
	}
	done := api.StepState{StepName: "change", Status: api.StepStatusSucceeded}
	run("waiting", done, api.StepState{StepName: "review", Status: api.StepStatusPending})
	run("failed", api.StepState{StepName: "change", Status: api.StepStatusFailed})
	run("done", done)
	require.NoError(t, s.FinishRun(ctx, "m", "done", "e-done", api.RunStatusCompleted, api.CandidateStatusCompleted, t0.Add(time.Hour)))
	run("fresh")

	// Make it look written by an older Drover: no summaries, no mark, no summary fields.
	k := s.keys("m")
	require.NoError(t, client.HDel(ctx, k.meta, migFieldRunSummaries).Err())
	require.NoError(t, client.Del(ctx, k.runs).Err())
	for _, cid := range []string{"waiting", "failed", "done", "fresh"} {
		require.NoError(t, client.HDel(ctx, k.run(cid), runFieldStepName, runFieldStepStatus, runFieldAttention).Err())
	}
	// ...except for one candidate a new replica's script has written meanwhile.
	const written = `{"status":"running","startedAt":"1700000000000000000","finishedAt":"0","stepName":"review","stepStatus":"pending","attention":""}`
	require.NoError(t, client.HSet(ctx, k.runs, "fresh", written).Err())
	v0, err := s.MigrationVersion(ctx, "m")
	require.NoError(t, err)

	one, err := s.GetCandidate(ctx, "m", "failed")
	require.NoError(t, err)
	require.Equal(t, api.AttentionFailed, one.Run.Attention)
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
		"waiting": running("review", api.StepStatusPending, api.AttentionWaiting),
		"failed":  running("change", api.StepStatusFailed, api.AttentionFailed),
		"done":    {Status: api.RunStatusCompleted, StartedAt: t0, FinishedAt: t0.Add(time.Hour), StepName: "change", StepStatus: api.StepStatusSucceeded},
		"never":   {},
		"fresh":   running("review", api.StepStatusPending, ""),
	}, got)
	marked, err := client.HGet(ctx, k.meta, migFieldRunSummaries).Result()
	require.NoError(t, err)
	require.Equal(t, "1", marked)
	v1, err := s.MigrationVersion(ctx, "m")
	require.NoError(t, err)
	require.Greater(t, v1, v0, "filled-in summaries change the lists, so the version")

	// The run hashes got their summary fields, so the scripts carry on from them.
	require.NoError(t, s.FinishRun(ctx, "m", "failed", "e-failed", api.RunStatusCancelled, api.CandidateStatusNotStarted, t0.Add(time.Hour)))
	c, err := s.GetCandidate(ctx, "m", "failed")
	require.NoError(t, err)
	require.Equal(t, api.RunSummary{Status: api.RunStatusCancelled, StartedAt: t0, FinishedAt: t0.Add(time.Hour), StepName: "change", StepStatus: api.StepStatusFailed}, c.Run)

	// ListMigrations fills in summaries too.
	require.NoError(t, client.HDel(ctx, k.meta, migFieldRunSummaries).Err())
	require.NoError(t, client.HDel(ctx, k.runs, "waiting").Err())
	ms, err := s.ListMigrations(ctx, true)
	require.NoError(t, err)
	require.Equal(t, api.AttentionWaiting, ms[0].Candidates[4].Run.Attention, "candidate %s", ms[0].Candidates[4].Id)
}

// TestRedisHistoryRetention: every write drops the candidate's and the migration's history
// entries older than the retention and sets the streams to expire a retention after it.
func TestRedisHistoryRetention(t *testing.T) {
	ctx := context.Background()
	client := testsupport.RedisClient(t)
	s := NewRedisStore(client, "r")
	s.SetHistoryRetention(time.Hour)
	now := time.Now().UTC()
	require.NoError(t, s.SaveMigration(ctx, api.Migration{Id: "m", Name: "M", Steps: []api.StepDefinition{{Name: "change"}}, CreatedAt: now}))
	require.NoError(t, s.MergeCandidates(ctx, "m", []api.CandidateInput{{Id: "a", Kind: "service"}}, now))
	k := s.keys("m")
	for _, key := range []string{k.history("a"), k.outcomes} { // written two hours ago
		require.NoError(t, client.XAdd(ctx, &redis.XAddArgs{Stream: key, ID: fmt.Sprintf("%d-0", now.Add(-2*time.Hour).UnixMilli()), Values: []string{"e", `{"kind":"run_started"}`}}).Err())
	}
	require.NoError(t, s.BeginRun(ctx, migrations.RunRecord{MigrationID: "m", CandidateID: "a", ExecutionID: "e", Status: api.RunStatusRunning, StepNames: []string{"change"}, StartedAt: now}))
	for _, key := range []string{k.history("a"), k.outcomes} {
		n, err := client.XLen(ctx, key).Result()
		require.NoError(t, err)
		require.EqualValues(t, 1, n, "%s keeps only the new run's start", key)
		ttl, err := client.PTTL(ctx, key).Result()
		require.NoError(t, err)
		require.InDelta(t, time.Hour.Seconds(), ttl.Seconds(), 60, key)
	}
}
