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

// migratorStub acknowledges every dispatch and calls back `succeeded` at once over HTTP.
type migratorStub struct {
	drover  string
	client  *http.Client
	timings *timings
	errors  atomic.Int64
	pending sync.WaitGroup
}

func (m *migratorStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req api.DispatchStepRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":"bad dispatch"}`, http.StatusBadRequest)
		return
	}
	step, _ := strconv.Atoi(strings.TrimPrefix(req.StepName, "s"))
	m.timings.mark(req.CallbackId, step)
	w.WriteHeader(http.StatusAccepted)
	m.pending.Add(1)
	go func() {
		defer m.pending.Done()
		ev := api.StepStatusEvent{StepName: req.EventName, CandidateId: req.Candidate.Id, Status: api.StepEventStatusSucceeded}
		if code, err := post(m.client, m.drover+"/event/"+req.CallbackId, ev); err != nil || code != http.StatusAccepted {
			m.errors.Add(1)
		}
	}()
}

func (e *env) throughput(ctx context.Context) (*Throughput, error) {
	kind := "sqlite"
	if e.cfg.RedisAddr != "" {
		kind = "redis"
	}
	st, _, closeStore, err := e.openStore(kind, "throughput")
	if err != nil {
		return nil, err
	}
	c, err := app.DialTemporal(ctx, e.temporal, "default", e.log)
	if err != nil {
		_ = closeStore()
		return nil, err
	}
	r, err := app.Start(app.Config{Addr: "127.0.0.1:0", TaskQueue: "bench-drover", Logger: e.log, Trust: app.LoopbackTrust()}, st, c,
		closeStore, func() error { c.Close(); return nil })
	if err != nil {
		return nil, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Stop(sctx)
	}()

	hc := httpClient()
	stub := &migratorStub{drover: r.URL, client: hc, timings: newTimings()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.StripPrefix("/dispatch-step", stub), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	n, steps := e.cfg.Candidates, e.cfg.Steps
	ann := api.MigrationAnnouncement{Id: throughputMigration, Name: "bench", Description: "throughput", MigratorUrl: "http://" + ln.Addr().String()}
	for i := range steps {
		ann.Steps = append(ann.Steps, api.StepDefinition{Name: fmt.Sprintf("s%d", i), MigratorApp: "bench"})
	}
	for i := range n {
		ann.Candidates = append(ann.Candidates, api.CandidateInput{Id: fmt.Sprintf("c%05d", i), Kind: "service", Metadata: map[string]string{"team": "bench"}})
	}
	if code, err := post(hc, r.URL+"/registry/announce", ann); err != nil || code != http.StatusOK {
		return nil, fmt.Errorf("announce answered %d: %v", code, err)
	}

	peak := watchRSS()
	start := time.Now()
	var startErrors atomic.Int64
	startAll(n, e.cfg.StartConcurrency, func(i int, _ func()) {
		url := fmt.Sprintf("%s/migrations/%s/candidates/c%05d/start", r.URL, throughputMigration, i)
		if code, err := post(hc, url, struct{}{}); err != nil || code != http.StatusAccepted {
			startErrors.Add(1)
		}
	})

	deadline := time.Now().Add(15 * time.Minute)
	var done int
	for time.Now().Before(deadline) {
		m, err := st.GetMigration(ctx, throughputMigration)
		if err != nil {
			return nil, err
		}
		done = m.Counts.Completed
		if done >= n-int(startErrors.Load()) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	stub.pending.Wait()
	t := summarize(n, steps, elapsed, stub.timings)
	t.Errors = startErrors.Load() + stub.errors.Load() + int64(n-done)
	t.PeakRSSMB = peak()
	t.Events = historyEvents(ctx, c, migrations.RunID(throughputMigration, "c00000"))
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
