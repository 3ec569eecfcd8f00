package migrator_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-dev/drover/pkg/migrator"
	"github.com/drover-dev/drover/pkg/migrator/migratortest"
	"github.com/drover-dev/drover/pkg/migrator/wire"
)

const wait = 5 * time.Second

// fixture is a migrator with one step ("change") whose handler the test supplies, served over
// real HTTP and talking to a fake Drover.
type fixture struct {
	drover *migratortest.Server
	m      *migrator.Migrator
	url    string
}

func newFixture(t *testing.T, handler migrator.StepFunc, mutate ...func(*migrator.Config)) *fixture {
	t.Helper()
	return newFixtureWith(t, migratortest.NewServer(t), handler, mutate...)
}

// newFixtureWith is newFixture talking to the given fake Drover.
func newFixtureWith(t *testing.T, drover *migratortest.Server, handler migrator.StepFunc, mutate ...func(*migrator.Config)) *fixture {
	t.Helper()
	f := &fixture{drover: drover}
	srv := httptest.NewUnstartedServer(nil)
	cfg := migrator.Config{
		Drover: drover.URL, URL: "http://" + srv.Listener.Addr().String(),
		Definition: migrator.Definition{ID: "m", Name: "M", Steps: []wire.StepDefinition{{Name: "change"}}},
		Steps:      map[string]migrator.StepFunc{"change": handler},
		RetryMax:   50 * time.Millisecond,
		Logger:     slog.New(slog.DiscardHandler),
	}
	for _, fn := range mutate {
		fn(&cfg)
	}
	m, err := migrator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = m.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	f.m, f.url = m, srv.URL
	return f
}

func (f *fixture) dispatch(t *testing.T, candidate string) int {
	t.Helper()
	return f.drover.Dispatch(t, f.url, "m", "change", wire.Candidate{Id: candidate, Kind: "service"})
}

func statuses(evs []migratortest.Event) []wire.StepEventStatus {
	out := make([]wire.StepEventStatus, len(evs))
	for i, e := range evs {
		out[i] = e.Status
	}
	return out
}

func TestDispatchIsAnsweredAtOnceAndRunsAsynchronously(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, func(ctx context.Context, req migrator.StepRequest) (migrator.Result, error) {
		if err := req.Report(ctx, map[string]string{"prUrl": "https://git.example/pr/1"}); err != nil {
			return migrator.Result{}, err
		}
		<-release
		return migrator.Merged(map[string]string{"sha": req.Candidate.Id}), nil
	})
	start := time.Now()
	if code := f.dispatch(t, "a"); code != http.StatusAccepted {
		t.Fatalf("dispatch answered %d", code)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("dispatch took %s: the handler ran synchronously", d)
	}
	pending := f.drover.WaitEvent(t, "m__a", "change", wire.StepEventStatusPending, wait)
	if pending.Metadata["prUrl"] != "https://git.example/pr/1" || pending.CandidateId != "a" {
		t.Fatalf("pending event %+v", pending)
	}
	close(release)
	merged := f.drover.WaitEvent(t, "m__a", "change", wire.StepEventStatusMerged, wait)
	if merged.Metadata["sha"] != "a" {
		t.Fatalf("merged event %+v", merged)
	}
	if got := statuses(f.drover.Events()); len(got) != 2 || got[0] != wire.StepEventStatusPending {
		t.Fatalf("events out of order: %v", got)
	}
}

func TestCallbacksAreRetriedWhileDroverIsDown(t *testing.T) {
	f := newFixture(t, func(context.Context, migrator.StepRequest) (migrator.Result, error) {
		return migrator.Succeeded(nil), nil
	})
	f.drover.FailNext(503, 502, 500)
	f.dispatch(t, "a")
	f.drover.WaitEvent(t, "m__a", "change", wire.StepEventStatusSucceeded, wait)
	if n := len(f.drover.Events()); n != 1 {
		t.Fatalf("%d events recorded, want exactly 1", n)
	}
}

func TestRefusedCallbackIsNotRetried(t *testing.T) {
	f := newFixture(t, func(context.Context, migrator.StepRequest) (migrator.Result, error) {
		return migrator.Succeeded(nil), nil
	})
	f.drover.FailNext(409)
	f.dispatch(t, "a")
	time.Sleep(500 * time.Millisecond) // ten times the retry back-off
	if evs := f.drover.Events(); len(evs) != 0 {
		t.Fatalf("a 4xx answer was retried: %+v", evs)
	}
}

func TestHandlerErrorAndPanicFailTheStep(t *testing.T) {
	f := newFixture(t, func(_ context.Context, req migrator.StepRequest) (migrator.Result, error) {
		if req.Candidate.Id == "boom" {
			panic("nil map")
		}
		return migrator.Result{}, errors.New("tests are red")
	})
	f.dispatch(t, "a")
	f.dispatch(t, "boom")
	ev := f.drover.WaitEvent(t, "m__a", "change", wire.StepEventStatusFailed, wait)
	if ev.Metadata["error"] != "tests are red" {
		t.Fatalf("failed event %+v", ev)
	}
	ev = f.drover.WaitEvent(t, "m__boom", "change", wire.StepEventStatusFailed, wait)
	if ev.Metadata["error"] == "" {
		t.Fatalf("a panic must fail the step with a message: %+v", ev)
	}
}

func TestRepeatedDispatchIsIgnoredUntilTheStepFails(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	f := newFixture(t, func(ctx context.Context, req migrator.StepRequest) (migrator.Result, error) {
		n := calls.Add(1)
		<-release
		if n == 1 {
			return migrator.Failed(errors.New("first try fails"), nil), nil
		}
		return migrator.Succeeded(nil), nil
	})
	for range 3 { // Drover dispatches at least once
		if code := f.dispatch(t, "a"); code != http.StatusAccepted {
			t.Fatalf("dispatch answered %d", code)
		}
	}
	close(release)
	f.drover.WaitEvent(t, "m__a", "change", wire.StepEventStatusFailed, wait)
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times for one step", n)
	}
	f.dispatch(t, "a") // the operator's retry after the failure runs again
	f.drover.WaitEvent(t, "m__a", "change", wire.StepEventStatusSucceeded, wait)
	f.dispatch(t, "a") // and a repeat after success does not
	time.Sleep(200 * time.Millisecond)
	if n := calls.Load(); n != 2 {
		t.Fatalf("handler ran %d times, want 2", n)
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	var running, peak atomic.Int32
	release := make(chan struct{})
	f := newFixture(t, func(context.Context, migrator.StepRequest) (migrator.Result, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		running.Add(-1)
		return migrator.Succeeded(nil), nil
	}, func(c *migrator.Config) { c.Concurrency, c.Queue = 2, 1 })
	codes := map[int]int{}
	for _, c := range []string{"a", "b", "c", "d"} {
		codes[f.dispatch(t, c)]++
	}
	if codes[http.StatusAccepted] != 3 || codes[http.StatusServiceUnavailable] != 1 {
		t.Fatalf("with 2 slots and a queue of 1, 4 dispatches answered %v", codes)
	}
	time.Sleep(200 * time.Millisecond)
	close(release)
	for _, c := range []string{"a", "b", "c"} {
		f.drover.WaitEvent(t, "m__"+c, "change", wire.StepEventStatusSucceeded, wait)
	}
	if p := peak.Load(); p != 2 {
		t.Fatalf("%d handlers ran at once, want 2", p)
	}
}

func TestPendingStepCompletedLater(t *testing.T) {
	f := newFixture(t, func(context.Context, migrator.StepRequest) (migrator.Result, error) {
		return migrator.Pending(map[string]string{"instructions": "review the change, then mark it done"}), nil
	})
	f.dispatch(t, "a")
	f.drover.WaitEvent(t, "m__a", "change", wire.StepEventStatusPending, wait)
	f.dispatch(t, "a") // a repeated dispatch of a pending step is ignored
	if err := f.m.Complete(context.Background(), "m__a", "change", migrator.Merged(nil)); err != nil {
		t.Fatal(err)
	}
	f.drover.WaitEvent(t, "m__a", "change", wire.StepEventStatusMerged, wait)
	if got := statuses(f.drover.Events()); len(got) != 2 {
		t.Fatalf("events %v, want pending then merged", got)
	}
}

func TestGracefulShutdown(t *testing.T) {
	started := make(chan string, 4)
	release := make(chan struct{})
	f := newFixture(t, func(ctx context.Context, req migrator.StepRequest) (migrator.Result, error) {
		started <- req.Candidate.Id
		if req.Candidate.Id == "stuck" {
			<-ctx.Done() // only stops when shutdown gives up
			return migrator.Result{}, ctx.Err()
		}
		<-release
		return migrator.Succeeded(nil), nil
	})
	f.dispatch(t, "a")
	<-started
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		done <- f.m.Shutdown(ctx)
	}()
	time.Sleep(100 * time.Millisecond)
	if code := f.dispatch(t, "b"); code != http.StatusServiceUnavailable {
		t.Fatalf("a dispatch during shutdown answered %d, want 503 so that Drover dispatches it again", code)
	}
	select {
	case <-done:
		t.Fatal("shutdown returned while a step was still running")
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	f.drover.WaitEvent(t, "m__a", "change", wire.StepEventStatusSucceeded, wait)

	// A step that outlives the deadline is reported failed as interrupted, for an operator to retry.
	g := newFixture(t, func(ctx context.Context, req migrator.StepRequest) (migrator.Result, error) {
		<-ctx.Done()
		return migrator.Result{}, ctx.Err()
	})
	g.dispatch(t, "stuck")
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := g.m.Shutdown(ctx); err == nil {
		t.Fatal("shutdown past its deadline must say so")
	}
	ev := g.drover.WaitEvent(t, "m__stuck", "change", wire.StepEventStatusFailed, wait)
	if !strings.Contains(ev.Metadata["error"], "interrupted") {
		t.Fatalf("interrupted step reported as %+v", ev)
	}
}

func TestAnnounceRetriesAndRediscovers(t *testing.T) {
	var mu sync.Mutex
	round := 0
	f := newFixture(t, func(context.Context, migrator.StepRequest) (migrator.Result, error) {
		return migrator.Succeeded(nil), nil
	}, func(c *migrator.Config) {
		c.Discover = func(context.Context) ([]wire.CandidateInput, error) {
			mu.Lock()
			defer mu.Unlock()
			round++
			out := []wire.CandidateInput{{Id: "a", Kind: "service"}}
			if round > 1 {
				out = append(out, wire.CandidateInput{Id: "b", Kind: "service"})
			}
			return out, nil
		}
		c.DiscoverEvery = 50 * time.Millisecond
	})
	f.drover.FailNext(503, 503) // Drover is still starting
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := f.m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	anns := f.drover.Announcements()
	if len(anns) != 1 || len(anns[0].Candidates) != 1 || anns[0].MigratorUrl != f.url || anns[0].Steps[0].Name != "change" {
		t.Fatalf("announcements %+v", anns)
	}
	deadline := time.Now().Add(wait)
	for len(f.drover.Submissions()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no re-discovery was submitted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := f.drover.Submissions()[0].Candidates; len(got) != 2 {
		t.Fatalf("re-discovery submitted %+v", got)
	}
}

func TestDryRun(t *testing.T) {
	f := newFixture(t, func(context.Context, migrator.StepRequest) (migrator.Result, error) {
		return migrator.Succeeded(nil), nil
	})
	req := wire.DryRunRequest{MigrationId: "m", Candidate: wire.Candidate{Id: "a", Kind: "service", Status: wire.CandidateStatusNotStarted},
		Steps: []wire.StepDefinition{{Name: "change"}}}
	res := f.drover.DryRun(t, f.url, req)
	if len(res.Steps) != 1 || !res.Steps[0].Skipped {
		t.Fatalf("without a dry-run function every step is skipped: %+v", res)
	}
	g := newFixture(t, nil, func(c *migrator.Config) {
		c.Steps["change"] = func(context.Context, migrator.StepRequest) (migrator.Result, error) {
			return migrator.Succeeded(nil), nil
		}
		c.DryRun = func(_ context.Context, req wire.DryRunRequest) (wire.DryRunResult, error) {
			return wire.DryRunResult{Steps: []wire.StepDryRun{{StepName: "change", Files: []wire.FileDiff{
				{Repo: req.Candidate.Id, Path: "go.mod", Before: "go 1.21\n", After: "go 1.26\n", Status: wire.Modified}}}}}, nil
		}
	})
	res = g.drover.DryRun(t, g.url, req)
	if len(res.Steps) != 1 || res.Steps[0].Files[0].After != "go 1.26\n" {
		t.Fatalf("dry run %+v", res)
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := migrator.New(migrator.Config{Drover: "http://x", URL: "http://y",
		Definition: migrator.Definition{ID: "m", Steps: []wire.StepDefinition{{Name: "a"}}}})
	if err == nil {
		t.Fatal("a step without a handler must be refused")
	}
	if _, err := migrator.New(migrator.Config{URL: "http://y"}); err == nil {
		t.Fatal("a config without Drover's URL must be refused")
	}
}

func TestEndedStepsAreForgottenBeyondRemember(t *testing.T) {
	var calls sync.Map
	f := newFixture(t, func(_ context.Context, req migrator.StepRequest) (migrator.Result, error) {
		n, _ := calls.LoadOrStore(req.Candidate.Id, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		return migrator.Succeeded(nil), nil
	}, func(c *migrator.Config) { c.Remember = 2 })
	for _, c := range []string{"a", "b", "c"} {
		f.dispatch(t, c)
		f.drover.WaitEvent(t, "m__"+c, "change", wire.StepEventStatusSucceeded, wait)
	}
	f.dispatch(t, "c") // remembered: ignored
	f.dispatch(t, "a") // forgotten: runs again
	f.drover.WaitEvent(t, "m__a", "change", wire.StepEventStatusSucceeded, wait)
	deadline := time.Now().Add(wait)
	for count(&calls, "a") != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if count(&calls, "a") != 2 || count(&calls, "c") != 1 {
		t.Fatalf("handler runs: a=%d c=%d, want 2 and 1", count(&calls, "a"), count(&calls, "c"))
	}
}

func count(m *sync.Map, k string) int32 {
	v, ok := m.Load(k)
	if !ok {
		return 0
	}
	return v.(*atomic.Int32).Load()
}

// TestDispatchIDsTellRunsApart: Drover gives every dispatch an id; a repeated delivery of one id
// is ignored, while a new run of the same candidate (same run id, new dispatch id) runs.
func TestDispatchIDsTellRunsApart(t *testing.T) {
	var calls atomic.Int32
	f := newFixture(t, func(context.Context, migrator.StepRequest) (migrator.Result, error) {
		calls.Add(1)
		return migrator.Succeeded(nil), nil
	})
	req := func(id string) wire.DispatchStepRequest {
		return wire.DispatchStepRequest{MigrationId: "m", StepName: "change", CallbackId: "m__a", EventName: "change",
			Candidate: wire.Candidate{Id: "a", Kind: "service", Status: wire.CandidateStatusRunning}, DispatchId: id}
	}
	f.drover.DispatchRequest(t, f.url, req("exec-1/change/1"))
	f.drover.WaitEvent(t, "m__a", "change", wire.StepEventStatusSucceeded, wait)
	f.drover.DispatchRequest(t, f.url, req("exec-1/change/1")) // a repeated delivery
	f.drover.DispatchRequest(t, f.url, req("exec-2/change/1")) // the candidate's next run
	deadline := time.Now().Add(wait)
	for calls.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if n := calls.Load(); n != 2 {
		t.Fatalf("handler ran %d times, want 2 (once per dispatch id)", n)
	}
}

// TestRedeliveryResendsTheResult: Drover delivers a dispatch again when it heard nothing (a
// step's redeliver); the handler does not run again, but its result is reported again.
func TestRedeliveryResendsTheResult(t *testing.T) {
	var calls atomic.Int32
	f := newFixture(t, func(context.Context, migrator.StepRequest) (migrator.Result, error) {
		calls.Add(1)
		return migrator.Succeeded(map[string]string{"prUrl": "u"}), nil
	})
	req := wire.DispatchStepRequest{MigrationId: "m", StepName: "change", CallbackId: "m__a", EventName: "change",
		Candidate: wire.Candidate{Id: "a", Kind: "service", Status: wire.CandidateStatusRunning}, DispatchId: "exec-1/change/1"}
	f.drover.DispatchRequest(t, f.url, req)
	f.drover.WaitEvent(t, "m__a", "change", wire.StepEventStatusSucceeded, wait)
	f.drover.DispatchRequest(t, f.url, req) // Drover did not hear the first result
	deadline := time.Now().Add(wait)
	for len(f.drover.Events()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	evs := f.drover.Events()
	if len(evs) != 2 {
		t.Fatalf("got %d events, want the result twice: %+v", len(evs), evs)
	}
	if evs[1].Status != wire.StepEventStatusSucceeded || evs[1].DispatchId != req.DispatchId || evs[1].Metadata["prUrl"] != "u" {
		t.Fatalf("the resent result differs: %+v", evs[1])
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want once", n)
	}
}

// TestStepsAnnounceTheirMigratorApp: every step the SDK announces names a migratorApp (its own,
// else Definition.App, else the migration id), the contract's overview is strings, and a
// dispatch's migratorApp and string config reach the handler.
func TestStepsAnnounceTheirMigratorApp(t *testing.T) {
	got := make(chan migrator.StepRequest, 1)
	f := newFixture(t, func(_ context.Context, req migrator.StepRequest) (migrator.Result, error) {
		got <- req
		return migrator.Succeeded(nil), nil
	}, func(c *migrator.Config) {
		c.Definition.App = "renamer"
		c.Definition.Overview = []string{"Change the files"}
		c.Definition.Steps = append(c.Definition.Steps, wire.StepDefinition{Name: "tidy", MigratorApp: "tidier"})
		c.Steps["tidy"] = c.Steps["change"]
		c.Discover = func(context.Context) ([]wire.CandidateInput, error) {
			return []wire.CandidateInput{{Id: "a", Kind: "service", Steps: []wire.StepDefinition{{Name: "change"}}}}, nil
		}
	})
	if err := f.m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	anns := f.drover.Announcements()
	if len(anns) != 1 {
		t.Fatalf("announcements %+v", anns)
	}
	a := anns[0]
	if a.Steps[0].MigratorApp != "renamer" || a.Steps[1].MigratorApp != "tidier" || a.Candidates[0].Steps[0].MigratorApp != "renamer" {
		t.Fatalf("migratorApp of the announced steps: %+v, candidate steps %+v", a.Steps, a.Candidates[0].Steps)
	}
	if len(a.Overview) != 1 || a.Overview[0] != "Change the files" {
		t.Fatalf("overview %+v", a.Overview)
	}
	req := wire.DispatchStepRequest{MigrationId: "m", StepName: "change", Candidate: wire.Candidate{Id: "a", Kind: "service", Status: wire.CandidateStatusRunning},
		CallbackId: "m__a", EventName: "change", MigratorApp: "renamer", MigratorUrl: f.url, Config: wire.StepConfig{"branch": "drover/x"}}
	if code := f.drover.DispatchRequest(t, f.url, req); code != http.StatusAccepted {
		t.Fatalf("dispatch answered %d", code)
	}
	select {
	case r := <-got:
		if r.MigratorApp != "renamer" || r.Config["branch"] != "drover/x" {
			t.Fatalf("step request %+v", r)
		}
	case <-time.After(wait):
		t.Fatal("the handler did not run")
	}

}

// The trace context of a dispatch goes back to Drover with the step's events, and the handler
// sees it; without one, events carry none.
func TestTraceContextGoesBackWithTheEvents(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	seen := make(chan string, 2)
	f := newFixture(t, func(ctx context.Context, req migrator.StepRequest) (migrator.Result, error) {
		seen <- req.TraceParent
		if err := req.Report(ctx, map[string]string{"prUrl": "https://git.example/pr/1"}); err != nil {
			return migrator.Result{}, err
		}
		return migrator.Pending(nil), nil
	})
	if code := f.drover.DispatchTraced(t, f.url, "m", "change", wire.Candidate{Id: "a", Kind: "service", Status: wire.CandidateStatusRunning}, tp); code != http.StatusAccepted {
		t.Fatalf("dispatch answered %d", code)
	}
	if got := <-seen; got != tp {
		t.Fatalf("the handler saw traceparent %q", got)
	}
	f.drover.WaitEvent(t, "m__a", "change", wire.StepEventStatusPending, wait)
	if err := f.m.Complete(context.Background(), "m__a", "change", migrator.Merged(nil)); err != nil {
		t.Fatal(err)
	}
	f.drover.WaitEvent(t, "m__a", "change", wire.StepEventStatusMerged, wait)
	for _, ev := range f.drover.Events() {
		if ev.TraceParent != tp {
			t.Fatalf("event %s carried traceparent %q, want the dispatch's", ev.Status, ev.TraceParent)
		}
	}

	f.dispatch(t, "b")
	if got := <-seen; got != "" {
		t.Fatalf("an untraced dispatch gave the handler traceparent %q", got)
	}
	f.drover.WaitEvent(t, "m__b", "change", wire.StepEventStatusPending, wait)
	for _, ev := range f.drover.Events() {
		if ev.RunID == "m__b" && ev.TraceParent != "" {
			t.Fatalf("an untraced step's event carried %q", ev.TraceParent)
		}
	}
}
