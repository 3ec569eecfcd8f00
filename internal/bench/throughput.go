package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"

	"github.com/drover-dev/drover/internal/app"
	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/migrations/store"
	"github.com/drover-dev/drover/pkg/api"
)

const throughputMigration = "bench-throughput"

// openStore opens the store a phase measures: Redis under a fresh prefix when configured for
// kind "redis" (with that prefix), otherwise SQLite in the bench directory.
func (e *env) openStore(kind, name string) (migrations.MigrationStore, string, func() error, error) {
	if kind == "redis" {
		rc := redis.NewClient(&redis.Options{Addr: e.cfg.RedisAddr, PoolSize: 64})
		if err := rc.Ping(context.Background()).Err(); err != nil {
			_ = rc.Close()
			return nil, "", nil, fmt.Errorf("connect to Redis at %s: %w", e.cfg.RedisAddr, err)
		}
		prefix := fmt.Sprintf("drover-bench-%s-%d", name, time.Now().UnixNano())
		cleanup := func() error {
			ctx := context.Background()
			iter := rc.Scan(ctx, 0, prefix+":*", 1000).Iterator()
			for iter.Next(ctx) {
				rc.Del(ctx, iter.Val())
			}
			return rc.Close()
		}
		return store.NewRedisStore(rc, prefix), prefix, cleanup, nil
	}
	st, err := store.OpenSQLite(filepath.Join(e.dir, name+".db"))
	if err != nil {
		return nil, "", nil, err
	}
	return st, "", st.Close, nil
}

// migratorStub acknowledges every dispatch and calls back `succeeded` at once over HTTP. It
// counts the runs open on its side (from the first step's dispatch to the last step's callback).
type migratorStub struct {
	drover  string
	client  *http.Client
	timings *timings
	steps   int
	errors  atomic.Int64
	pending sync.WaitGroup
	open    atomic.Int64
	most    atomic.Int64
	held    atomic.Pointer[chan api.DispatchStepRequest] // when set, dispatches go there instead of being answered
}

// hold makes the stub accept dispatches without calling back, handing each to held instead.
func (m *migratorStub) hold(held chan api.DispatchStepRequest) { m.held.Store(&held) }

func (m *migratorStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req api.DispatchStepRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":"bad dispatch"}`, http.StatusBadRequest)
		return
	}
	if h := m.held.Load(); h != nil {
		w.WriteHeader(http.StatusAccepted)
		select {
		case *h <- req:
		default:
			m.errors.Add(1)
		}
		return
	}
	step, _ := strconv.Atoi(strings.TrimPrefix(req.StepName, "s"))
	first := m.timings.mark(req.CallbackId, step)
	if first && step == 0 {
		n := m.open.Add(1)
		for most := m.most.Load(); n > most && !m.most.CompareAndSwap(most, n); most = m.most.Load() {
		}
	}
	w.WriteHeader(http.StatusAccepted)
	m.pending.Add(1)
	go func() {
		defer m.pending.Done()
		if first && step == m.steps-1 {
			m.open.Add(-1) // as it calls back for its last step, the run is no longer open here
		}
		ev := api.StepStatusEvent{StepName: req.EventName, CandidateId: req.Candidate.Id, Status: api.StepEventStatusSucceeded}
		if code, err := post(m.client, m.drover+"/event/"+req.CallbackId, ev); err != nil || code != http.StatusAccepted {
			m.errors.Add(1)
		}
	}()
}

// benchDrover is Drover in process with a migrator stub, and a migration of e.cfg.Candidates
// candidates of e.cfg.Steps steps announced to it.
type benchDrover struct {
	r     *app.Running
	st    migrations.MigrationStore
	c     client.Client
	stub  *migratorStub
	hc    *http.Client
	mid   string
	close func()
}

func (e *env) startDrover(ctx context.Context, name, mid string, mutate func(*app.Config)) (*benchDrover, error) {
	kind := "sqlite"
	if e.cfg.RedisAddr != "" {
		kind = "redis"
	}
	st, _, closeStore, err := e.openStore(kind, name)
	if err != nil {
		return nil, err
	}
	c, err := app.DialTemporal(ctx, e.temporal, "default", e.log)
	if err != nil {
		_ = closeStore()
		return nil, err
	}
	cfg := app.Config{Addr: "127.0.0.1:0", TaskQueue: "bench-" + name, Logger: e.log, Trust: app.LoopbackTrust()}
	if mutate != nil {
		mutate(&cfg)
	}
	r, err := app.Start(cfg, st, c, closeStore, func() error { c.Close(); return nil })
	if err != nil {
		return nil, err
	}
	hc := httpClient()
	stub := &migratorStub{drover: r.URL, client: hc, timings: newTimings(), steps: e.cfg.Steps}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.StripPrefix("/dispatch-step", stub), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	d := &benchDrover{r: r, st: st, c: c, stub: stub, hc: hc, mid: mid, close: func() {
		_ = srv.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Stop(sctx)
	}}

	ann := api.MigrationAnnouncement{Id: mid, Name: "bench", Description: name, MigratorUrl: "http://" + ln.Addr().String()}
	for i := range e.cfg.Steps {
		ann.Steps = append(ann.Steps, api.StepDefinition{Name: fmt.Sprintf("s%d", i), MigratorApp: "bench"})
	}
	for i := range e.cfg.Candidates {
		ann.Candidates = append(ann.Candidates, api.CandidateInput{Id: fmt.Sprintf("c%05d", i), Kind: "service", Metadata: map[string]string{"team": "bench"}})
	}
	if code, err := post(hc, r.URL+"/registry/announce", ann); err != nil || code != http.StatusOK {
		d.close()
		return nil, fmt.Errorf("announce answered %d: %v", code, err)
	}
	return d, nil
}

// waitCompleted waits until want candidates have completed (at most 15 minutes) and returns
// how many have.
func (d *benchDrover) waitCompleted(ctx context.Context, want int) (int, error) {
	deadline := time.Now().Add(15 * time.Minute)
	var done int
	for time.Now().Before(deadline) {
		m, err := d.st.GetMigration(ctx, d.mid)
		if err != nil {
			return 0, err
		}
		done = m.Counts.Completed
		if done >= want {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return done, nil
}

func (e *env) throughput(ctx context.Context) (*Throughput, error) {
	d, err := e.startDrover(ctx, "throughput", throughputMigration, nil)
	if err != nil {
		return nil, err
	}
	defer d.close()
	n, steps := e.cfg.Candidates, e.cfg.Steps
	peak := watchRSS()
	start := time.Now()
	var startErrors atomic.Int64
	startAll(n, e.cfg.StartConcurrency, func(i int, _ func()) {
		url := fmt.Sprintf("%s/migrations/%s/candidates/c%05d/start", d.r.URL, throughputMigration, i)
		if code, err := post(d.hc, url, struct{}{}); err != nil || code != http.StatusAccepted {
			startErrors.Add(1)
		}
	})
	done, err := d.waitCompleted(ctx, n-int(startErrors.Load()))
	if err != nil {
		return nil, err
	}
	elapsed := time.Since(start)
	d.stub.pending.Wait()
	t := summarize(n, steps, elapsed, d.stub.timings)
	t.Errors = startErrors.Load() + d.stub.errors.Load() + int64(n-done)
	t.PeakRSSMB = peak()
	t.MostOpen = int(d.stub.most.Load())
	t.Events = historyEvents(ctx, d.c, migrations.RunID(throughputMigration, "c00000"))
	return t, nil
}

func httpClient() *http.Client {
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: 90 * time.Second,
	}}
}

// post sends body as JSON and returns the status code, draining the answer.
func post(c *http.Client, url string, body any) (int, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	resp, err := c.Post(url, "application/json", bytes.NewReader(raw))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode >= 500 {
		return resp.StatusCode, errors.New(resp.Status)
	}
	return resp.StatusCode, nil
}
