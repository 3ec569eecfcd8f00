package testsupport

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/pkg/api"
	"github.com/drover-dev/drover/pkg/migrator/signature"
)

// Migrator is a real HTTP migrator for tests: it records every dispatch, dry-run and cancel-run
// request and answers as scripted. Tests play its asynchronous part by posting callbacks
// themselves. Like a migrator written against the bare contract, it answers cancel-run 404.
type Migrator struct {
	URL string

	mu          sync.Mutex
	dispatches  []api.DispatchStepRequest
	dryRuns     []api.DryRunRequest
	cancelRuns  []api.CancelRunRequest
	dispatchCh  chan api.DispatchStepRequest
	failNext    []int // statuses to answer the next dispatches with
	dryRunReply func(api.DryRunRequest) (int, any)
	dryRunDelay time.Duration
	keys        [][]byte // when set, dispatches must be signed with one of them
	refused     int
	traces      []string // each recorded dispatch's traceparent header ("" when none)
}

// TraceParents returns the traceparent header of each dispatch recorded, in order.
func (m *Migrator) TraceParents() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.traces)
}

// RequireSignature makes the migrator refuse (401) dispatches not signed with secret, as a
// migrator holding that credential would.
func (m *Migrator) RequireSignature(t testing.TB, secret string) {
	t.Helper()
	key, err := signature.ParseSecret(secret)
	if err != nil {
		t.Fatalf("migrator secret: %v", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys = append(m.keys, key)
}

// Refused returns how many dispatches it refused for their signature.
func (m *Migrator) Refused() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.refused
}

// NewMigrator starts a Migrator; it is closed when the test ends.
func NewMigrator(t testing.TB) *Migrator {
	t.Helper()
	m := &Migrator{dispatchCh: make(chan api.DispatchStepRequest, 1024)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /dispatch-step", m.dispatch)
	mux.HandleFunc("POST /dry-run", m.dryRun)
	mux.HandleFunc("POST /cancel-run", m.cancelRun)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	m.URL = srv.URL
	return m
}

func (m *Migrator) dispatch(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, `{"error":"unreadable dispatch body"}`, http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	keys := m.keys
	m.mu.Unlock()
	if len(keys) > 0 {
		if _, err := signature.Verify(keys, r.Header, raw, time.Now()); err != nil {
			m.mu.Lock()
			m.refused++
			m.mu.Unlock()
			http.Error(w, `{"error":"bad signature"}`, http.StatusUnauthorized)
			return
		}
	}
	var req api.DispatchStepRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		http.Error(w, `{"error":"bad dispatch body"}`, http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	if len(m.failNext) > 0 {
		code := m.failNext[0]
		m.failNext = m.failNext[1:]
		m.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"error":"scripted failure"}`))
		return
	}
	m.dispatches = append(m.dispatches, req)
	m.traces = append(m.traces, r.Header.Get("traceparent"))
	m.mu.Unlock()
	m.dispatchCh <- req
	w.WriteHeader(http.StatusAccepted)
}

func (m *Migrator) cancelRun(w http.ResponseWriter, r *http.Request) {
	var req api.CancelRunRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":"bad cancel-run body"}`, http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	m.cancelRuns = append(m.cancelRuns, req)
	m.mu.Unlock()
	http.Error(w, `{"error":"this migrator does not take part in cancellations"}`, http.StatusNotFound)
}

// CancelRuns returns the cancel-run requests received, in order.
func (m *Migrator) CancelRuns() []api.CancelRunRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]api.CancelRunRequest(nil), m.cancelRuns...)
}

func (m *Migrator) dryRun(w http.ResponseWriter, r *http.Request) {
	var req api.DryRunRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":"bad dry-run body"}`, http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	m.dryRuns = append(m.dryRuns, req)
	reply, delay := m.dryRunReply, m.dryRunDelay
	m.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	code, body := http.StatusOK, any(defaultDryRun(req))
	if reply != nil {
		code, body = reply(req)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// defaultDryRun reports one modified file per step, naming the candidate.
func defaultDryRun(req api.DryRunRequest) api.DryRunResult {
	out := api.DryRunResult{Steps: []api.StepDryRun{}}
	for _, s := range req.Steps {
		before := "owner: " + req.Candidate.Id + "\n"
		out.Steps = append(out.Steps, api.StepDryRun{StepName: s.Name, Files: []api.FileDiff{{
			Path: s.Name + ".yaml", Repo: req.Candidate.Id, Before: before, After: before + "step: " + s.Name + "\n", Status: api.Modified,
		}}})
	}
	return out
}

// FailNextDispatches makes the next dispatches answer with these HTTP statuses, in order.
func (m *Migrator) FailNextDispatches(codes ...int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failNext = append(m.failNext, codes...)
}

// Recover drops the scripted failures not yet answered: the migrator is back.
func (m *Migrator) Recover() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failNext = nil
}

// ReplyToDryRun scripts the dry-run answer; delay holds the answer back (for timeouts).
func (m *Migrator) ReplyToDryRun(delay time.Duration, reply func(api.DryRunRequest) (int, any)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dryRunReply, m.dryRunDelay = reply, delay
}

// NextDispatch waits for the next accepted dispatch.
func (m *Migrator) NextDispatch(t testing.TB, timeout time.Duration) api.DispatchStepRequest {
	t.Helper()
	select {
	case d := <-m.dispatchCh:
		return d
	case <-time.After(timeout):
		t.Fatalf("no dispatch within %s", timeout)
		return api.DispatchStepRequest{}
	}
}

// NoDispatch asserts that no dispatch arrives within d.
func (m *Migrator) NoDispatch(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case got := <-m.dispatchCh:
		t.Fatalf("unexpected dispatch of step %s for %s", got.StepName, got.CallbackId)
	case <-time.After(d):
	}
}

// Dispatches returns the accepted dispatches so far.
func (m *Migrator) Dispatches() []api.DispatchStepRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]api.DispatchStepRequest(nil), m.dispatches...)
}

// DryRuns returns the dry-run requests so far.
func (m *Migrator) DryRuns() []api.DryRunRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]api.DryRunRequest(nil), m.dryRuns...)
}
