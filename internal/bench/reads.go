package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drover-dev/drover/internal/app"
	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

const bigMigration = "bench-big"

// seed writes the read data set straight into the store: one migration with ReadCandidates
// candidates, ReadRunning of them with a run and step history (half completed), and small
// migrations up to ReadMigrations in all.
func (e *env) seed(ctx context.Context, st migrations.MigrationStore) ([]string, error) {
	now := time.Now().UTC()
	steps := []api.StepDefinition{{Name: "open-pr", MigratorApp: "bench", Type: "git"}, {Name: "merge", MigratorApp: "bench"}, {Name: "verify", MigratorApp: "bench"}}
	def := func(id string) api.Migration {
		return api.Migration{Id: id, Name: "Migration " + id, Description: "Bench data set", MigratorUrl: "http://127.0.0.1:1",
			RequiredInputs: []api.RequiredInput{{Name: "team", Label: "Team"}}, Steps: steps, CreatedAt: now, UpdatedAt: now}
	}
	candidates := func(prefix string, n int) []api.CandidateInput {
		cs := make([]api.CandidateInput, n)
		for i := range cs {
			cs[i] = api.CandidateInput{Id: fmt.Sprintf("%s%05d", prefix, i), Kind: "service", Metadata: map[string]string{
				"repo": fmt.Sprintf("acme/service-%05d", i), "team": "team-" + strconv.Itoa(i%40), "language": "go"}}
		}
		return cs
	}
	if err := st.SaveMigration(ctx, def(bigMigration)); err != nil {
		return nil, err
	}
	all := candidates("svc-", e.cfg.ReadCandidates)
	for i := 0; i < len(all); i += 1000 {
		if err := st.MergeCandidates(ctx, bigMigration, all[i:min(i+1000, len(all))], now); err != nil {
			return nil, err
		}
	}
	// More migrations of the same size (--read-big), without runs: the console's counts-only
	// reads must stay cheap however many candidates there are in all.
	for k := 2; k <= e.cfg.ReadBig; k++ {
		id := fmt.Sprintf("%s-%02d", bigMigration, k)
		if err := st.SaveMigration(ctx, def(id)); err != nil {
			return nil, err
		}
		for i := 0; i < len(all); i += 1000 {
			if err := st.MergeCandidates(ctx, id, all[i:min(i+1000, len(all))], now); err != nil {
				return nil, err
			}
		}
	}
	var running []string
	for i := range min(e.cfg.ReadRunning, len(all)) {
		cid := all[i*len(all)/max(e.cfg.ReadRunning, 1)].Id
		exec := fmt.Sprintf("exec-%d", i)
		rec := migrations.RunRecord{RunID: migrations.RunID(bigMigration, cid), ExecutionID: exec, MigrationID: bigMigration, CandidateID: cid,
			Status: api.RunStatusRunning, StepNames: []string{"open-pr", "merge", "verify"}, StartedAt: now}
		if err := st.BeginRun(ctx, rec); err != nil {
			return nil, err
		}
		for j, s := range rec.StepNames {
			status := api.StepStatusSucceeded
			if j == 2 && i%2 == 1 {
				status = api.StepStatusPending
			}
			state := api.StepState{StepName: s, Status: status, StartedAt: now, UpdatedAt: now,
				Metadata: map[string]string{"prUrl": "https://git.example/acme/" + cid + "/pull/1"}}
			if err := st.PutStepState(ctx, bigMigration, cid, exec, state, ""); err != nil {
				return nil, err
			}
		}
		if i%2 == 0 {
			if err := st.FinishRun(ctx, bigMigration, cid, exec, api.RunStatusCompleted, api.CandidateStatusCompleted, now); err != nil {
				return nil, err
			}
		}
		running = append(running, cid)
	}
	for i := max(e.cfg.ReadBig, 1); i < e.cfg.ReadMigrations; i++ {
		id := fmt.Sprintf("bench-small-%03d", i)
		if err := st.SaveMigration(ctx, def(id)); err != nil {
			return nil, err
		}
		if err := st.MergeCandidates(ctx, id, candidates("c-", 20), now); err != nil {
			return nil, err
		}
	}
	return running, nil
}

type endpoint struct {
	name string
	path func() string
}

func endpoints(running []string, candidates int) []endpoint {
	big := fmt.Sprintf("(%d candidates)", candidates)
	return []endpoint{
		{"list candidates " + big, func() string { return "/migrations/" + bigMigration + "/candidates" }},
		{"get migration " + big, func() string { return "/migrations/" + bigMigration }},
		{"list migrations", func() string { return "/migrations" }},
		{"list migrations, counts only", func() string { return "/migrations?candidates=false" }},
		{"get migration " + big + ", counts only", func() string { return "/migrations/" + bigMigration + "?candidates=false" }},
		{"insights " + big + " (15 s cache)", func() string { return "/migrations/" + bigMigration + "/insights" }},
		{"insights overview (15 s cache)", func() string { return "/insights?days=7" }},
		{"get run steps", func() string {
			return "/migrations/" + bigMigration + "/candidates/" + running[rand.IntN(len(running))] + "/steps"
		}},
	}
}

// reads seeds the store of kind, serves it and puts each endpoint under load; for Redis it
// also measures drover serve's memory on the same data.
func (e *env) reads(ctx context.Context, kind string) ([]ReadResult, *MemoryResult, error) {
	st, prefix, closeStore, err := e.openStore(kind, "reads")
	if err != nil {
		return nil, nil, err
	}
	running, err := e.seed(ctx, st)
	if err != nil {
		_ = closeStore()
		return nil, nil, fmt.Errorf("seed: %w", err)
	}
	c, err := app.DialTemporal(ctx, e.temporal, "default", e.log)
	if err != nil {
		_ = closeStore()
		return nil, nil, err
	}
	r, err := app.Start(app.Config{Addr: "127.0.0.1:0", TaskQueue: "bench-reads", NoWorker: true, Logger: e.log, Trust: app.LoopbackTrust()}, st, c,
		closeStore, func() error { c.Close(); return nil })
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Stop(sctx)
	}()
	var out []ReadResult
	for _, ep := range endpoints(running, e.cfg.ReadCandidates) {
		res := load(ctx, r.URL, ep, e.cfg.ReadClients, e.cfg.ReadDuration)
		res.Store = kind
		out = append(out, res)
	}
	var mem *MemoryResult
	if kind == "redis" && e.cfg.ServeBinary != "" {
		if mem, err = e.memory(ctx, prefix, running); err != nil {
			return nil, nil, fmt.Errorf("memory: %w", err)
		}
	}
	return out, mem, nil
}

// load runs clients concurrent clients against ep for d and reports latency and throughput.
func load(ctx context.Context, base string, ep endpoint, clients int, d time.Duration) ReadResult {
	hc := httpClient()
	var mu sync.Mutex
	var lat []time.Duration
	var errs atomic.Int64
	var size atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				resp, err := hc.Get(base + ep.path())
				if err != nil {
					errs.Add(1)
					continue
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
				size.Store(n)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return ReadResult{Endpoint: ep.name, Requests: len(lat), Errors: errs.Load(), RPS: float64(len(lat)) / d.Seconds(),
		P50: percentile(lat, 50), P99: percentile(lat, 99), Bytes: int(size.Load())}
}

// memory starts `drover serve` on the Redis data under prefix and reads its resident memory
// idle and under the same read load.
func (e *env) memory(ctx context.Context, prefix string, running []string) (*MemoryResult, error) {
	cmd := exec.CommandContext(ctx, e.cfg.ServeBinary, "serve", "--addr", "127.0.0.1:0", "--log-format", "json",
		"--temporal-address", e.temporal, "--redis-addr", e.cfg.RedisAddr, "--redis-prefix", prefix, "--task-queue", "bench-memory",
		"--insecure-no-auth") // the bench's reads are anonymous, on loopback
	base, stop, err := startServing(cmd)
	if err != nil {
		return nil, err
	}
	defer stop()
	pid := strconv.Itoa(cmd.Process.Pid)
	res := &MemoryResult{StartMB: rssMB(pid, "VmRSS")}
	// What the console reads: counts without candidates, and insights.
	watch := watchRSSOf(pid)
	for _, ep := range endpoints(running, e.cfg.ReadCandidates) {
		if strings.Contains(ep.name, "counts only") || strings.Contains(ep.name, "insights") {
			load(ctx, base, ep, e.cfg.ReadClients, e.cfg.ReadDuration/2)
		}
	}
	res.ConsoleMB = watch()
	// One request of each kind loads what the idle server holds (connections, caches).
	for _, ep := range endpoints(running, e.cfg.ReadCandidates) {
		load(ctx, base, ep, 1, 10*time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	res.IdleMB = rssMB(pid, "VmRSS")
	peak := watchRSSOf(pid)
	for _, ep := range endpoints(running, e.cfg.ReadCandidates) {
		load(ctx, base, ep, e.cfg.ReadClients, e.cfg.ReadDuration/2)
	}
	res.LoadMB = peak()
	return res, nil
}
