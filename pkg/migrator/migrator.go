// Package migrator is the SDK for writing Drover migrators. An author declares the migration,
// a discovery function and a handler per step; the SDK serves /dispatch-step and /dry-run,
// answers dispatches at once and runs the handlers asynchronously with bounded concurrency,
// delivers callbacks to Drover with retry, announces the migration (retrying until Drover
// answers), re-runs discovery on an interval, ignores repeated dispatches of a step that is
// running or done, and shuts down gracefully.
//
// A step either finishes in its handler (Succeeded, Merged, Failed) or reports Pending and is
// finished later, e.g. when a pull request merges, with Migrator.Complete.
//
// When an operator cancels a run, Drover POSTs /cancel-run; with Config.OnCancel the migrator
// undoes what the run's steps did (closes its pull requests, deletes its branches), and without
// it the SDK answers 404: the migrator does not take part in cancellations.
//
// With Config.Secret, traffic is signed both ways on the Standard Webhooks scheme (package
// signature): the SDK signs what it sends to Drover and refuses (401) dispatches and dry runs
// that Drover did not sign, that are stale, or that replay a webhook-id.
package migrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/drover-dev/drover/pkg/migrator/wire"
)

// Definition describes the migration a migrator announces.
type Definition struct {
	ID, Name, Description string
	// App is this migrator's app id, announced as the migratorApp of every step (the
	// migration's and the candidates' own) that does not name one; default ID.
	App string
	// Overview names the migration's high-level phases, one string each.
	Overview []string
	// Phases optionally describes those phases with the steps each groups (a Drover extra;
	// the console shows them when present).
	Phases         []wire.OverviewPhase
	RequiredInputs []wire.RequiredInput
	Steps          []wire.StepDefinition
}

// StepRequest is one dispatched step, as the handler sees it.
type StepRequest struct {
	RunID       string // the run to report to (Drover's callbackId)
	MigrationID string
	StepName    string
	Type        string
	Config      map[string]string
	MigratorApp string // the step's migratorApp, as announced
	// Candidate carries the candidate's metadata merged with the operator's inputs.
	Candidate wire.Candidate
	// Report sends a progress update (status pending) with metadata, e.g. a PR URL; it returns
	// once Drover has accepted it.
	Report func(ctx context.Context, metadata map[string]string) error
	// TraceParent is the W3C trace context Drover sent with the dispatch ("" when tracing is
	// off), for a handler that traces its own work; the SDK sends it back with the step's events.
	TraceParent string
}

// Result is how a step ended, or Pending when it will be completed later.
type Result struct {
	Status   wire.StepEventStatus
	Metadata map[string]string
}

// Succeeded, Merged, Pending and Failed build Results; metadata may be nil.
func Succeeded(metadata map[string]string) Result {
	return Result{Status: wire.StepEventStatusSucceeded, Metadata: metadata}
}

// Merged reports a step whose change was merged.
func Merged(metadata map[string]string) Result {
	return Result{Status: wire.StepEventStatusMerged, Metadata: metadata}
}

// Pending reports a step that goes on outside the handler; finish it with Migrator.Complete.
func Pending(metadata map[string]string) Result {
	return Result{Status: wire.StepEventStatusPending, Metadata: metadata}
}

// Failed reports a failed step; err's text is shown to operators.
func Failed(err error, metadata map[string]string) Result {
	md := map[string]string{}
	for k, v := range metadata {
		md[k] = v
	}
	if err != nil {
		md["error"] = err.Error()
	}
	return Result{Status: wire.StepEventStatusFailed, Metadata: md}
}

// CancelRequest is a cancelled run, as Config.OnCancel sees it: what is needed to undo what the
// run's steps did, e.g. close the pull request a step's metadata names.
type CancelRequest struct {
	RunID       string // the cancelled run (Drover's callbackId, as in its dispatches)
	MigrationID string
	Candidate   wire.Candidate
	// Steps are the run's dispatched steps, in order, each with its last status, dispatch id and
	// metadata (e.g. the prUrl a step reported).
	Steps []wire.CancelledStep
}

// StepFunc does one step. Returning an error is the same as returning Failed(err, nil).
type StepFunc func(ctx context.Context, req StepRequest) (Result, error)

// DryRunFunc previews a candidate's steps without changing anything.
type DryRunFunc func(ctx context.Context, req wire.DryRunRequest) (wire.DryRunResult, error)

// Config is everything a migrator is made of.
type Config struct {
	// Drover is Drover's base URL, e.g. http://127.0.0.1:8080.
	Drover string
	// Secret is this migrator's credential, the "whsec_" secret an admin got from
	// POST /admin/migrators (the examples read it from DROVER_MIGRATOR_SECRET). Every request to
	// Drover is signed with it, and dispatches and dry runs must be signed with it. While a
	// secret rotates, give both, separated by a space: a dispatch signed with either verifies,
	// and requests are signed with each. Empty: nothing is signed or verified, for a Drover
	// that allows this migrator unsigned traffic.
	Secret string
	// URL is this migrator's base URL as Drover reaches it (announced as migratorUrl).
	URL        string
	Definition Definition
	// Discover returns the current candidates; it runs at start and every DiscoverEvery.
	Discover      func(ctx context.Context) ([]wire.CandidateInput, error)
	DiscoverEvery time.Duration
	// Steps maps a step's type (or, when a step has no type, its name) to its handler.
	Steps  map[string]StepFunc
	DryRun DryRunFunc // optional: without it every step is reported skipped
	// OnCancel undoes a cancelled run's work (closes its pull requests, deletes its branches); it
	// runs while Drover waits for the answer, and an error makes Drover retry the notice, so it
	// must be safe to repeat. Optional: without it /cancel-run answers 404 (not taking part).
	OnCancel func(ctx context.Context, req CancelRequest) error
	// Concurrency bounds the handlers running at once (default 8); Queue bounds the dispatches
	// waiting for a slot (default 64), beyond which dispatches are answered 503 and Drover
	// retries them later.
	Concurrency int
	Queue       int
	// Remember is how many ended steps are remembered to ignore their repeated dispatches
	// (default 10,000); older ones are forgotten so that memory stays bounded.
	Remember   int
	HTTPClient *http.Client
	Logger     *slog.Logger
	// RetryMax caps the back-off between callback or announce attempts (default 30 s).
	RetryMax time.Duration
}

// Migrator serves a migration to Drover.
type Migrator struct {
	cfg   Config
	log   *slog.Logger
	http  *http.Client
	keys  [][]byte // Config.Secret's keys; none: unsigned
	seen  *seenIDs // webhook-ids of verified requests, to refuse replays
	slots chan struct{}
	queue chan struct{}

	mu       sync.Mutex
	steps    map[stepKey]stepState // dispatches seen, for de-duplication
	results  map[stepKey]Result    // the last result reported for a dispatch, sent again on a redelivery
	traces   map[stepKey]string    // the dispatch's traceparent, sent back with its events
	finished []stepKey             // steps that ended, oldest first, to forget beyond Remember
	latest   map[[2]string]string  // run and step -> the dispatch id last seen, for Complete
	closing  bool
	inFlight sync.WaitGroup
	stopCtx  context.Context // cancelled when Shutdown's deadline passes
	stop     context.CancelFunc
}

// stepKey names one dispatch: a run's step and Drover's dispatch id (empty from servers that
// send none, in which case a failed step's next dispatch is taken as the operator's retry).
type stepKey struct{ run, step, dispatch string }

type stepState int

const (
	stepRunning stepState = iota + 1 // the handler runs
	stepPending                      // reported pending, to be completed later
	stepDone                         // succeeded or merged
	stepFailed                       // failed: a new dispatch (the operator's retry) runs again
)

// New checks cfg and returns a Migrator; nothing runs until Start or Run.
func New(cfg Config) (*Migrator, error) {
	switch {
	case cfg.Drover == "":
		return nil, errors.New("migrator: Config.Drover (Drover's base URL) is required")
	case cfg.URL == "":
		return nil, errors.New("migrator: Config.URL (this migrator's base URL) is required")
	case cfg.Definition.ID == "" || len(cfg.Definition.Steps) == 0:
		return nil, errors.New("migrator: Config.Definition needs an ID and at least one step")
	}
	for _, s := range cfg.Definition.Steps {
		if _, ok := cfg.Steps[stepHandlerKey(s)]; !ok {
			return nil, fmt.Errorf("migrator: no handler in Config.Steps for step %q (key %q)", s.Name, stepHandlerKey(s))
		}
	}
	keys, err := parseSecrets(cfg.Secret)
	if err != nil {
		return nil, err
	}
	if cfg.Definition.App == "" {
		cfg.Definition.App = cfg.Definition.ID
	}
	cfg.Definition.Steps = withApp(cfg.Definition.Steps, cfg.Definition.App)
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 64
	}
	if cfg.Remember <= 0 {
		cfg.Remember = 10000
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 30 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, stop := context.WithCancel(context.Background())
	m := &Migrator{
		cfg: cfg, log: cfg.Logger.With("migration", cfg.Definition.ID), http: cfg.HTTPClient,
		keys: keys, seen: newSeenIDs(replayWindow, maxSeen),
		slots: make(chan struct{}, cfg.Concurrency), queue: make(chan struct{}, cfg.Concurrency+cfg.Queue),
		steps: map[stepKey]stepState{}, results: map[stepKey]Result{}, traces: map[stepKey]string{}, latest: map[[2]string]string{}, stopCtx: ctx, stop: stop,
	}
	if len(keys) == 0 {
		m.log.Warn("no Config.Secret: dispatches and dry runs are not verified (anyone who reaches this migrator can dispatch steps) and requests to Drover are not signed")
	}
	return m, nil
}

// withApp returns steps with app as the migratorApp of those that name none.
func withApp(steps []wire.StepDefinition, app string) []wire.StepDefinition {
	if len(steps) == 0 {
		return steps
	}
	out := make([]wire.StepDefinition, len(steps))
	for i, s := range steps {
		if s.MigratorApp == "" {
			s.MigratorApp = app
		}
		out[i] = s
	}
	return out
}

func stepHandlerKey(s wire.StepDefinition) string {
	if s.Type != "" {
		return s.Type
	}
	return s.Name
}

// Handler serves /dispatch-step, /dry-run and /cancel-run; mount it at the migrator's base URL.
func (m *Migrator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /dispatch-step", m.dispatch)
	mux.HandleFunc("POST /dry-run", m.dryRun)
	mux.HandleFunc("POST /cancel-run", m.cancelRun)
	return mux
}

func (m *Migrator) dispatch(w http.ResponseWriter, r *http.Request) {
	body, ok := m.verified(w, r)
	if !ok {
		return
	}
	var req wire.DispatchStepRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "dispatch body is not a DispatchStepRequest: "+err.Error())
		return
	}
	if req.CallbackId == "" || req.StepName == "" {
		writeError(w, http.StatusBadRequest, "dispatch needs callbackId and stepName")
		return
	}
	handler, ok := m.cfg.Steps[stepHandlerKey(wire.StepDefinition{Name: req.StepName, Type: req.Type})]
	if !ok {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("this migrator has no handler for step %q", req.StepName))
		return
	}
	key := stepKey{req.CallbackId, req.StepName, req.DispatchId}
	m.mu.Lock()
	if m.closing {
		m.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "migrator is shutting down; dispatch again later")
		return
	}
	state := m.steps[key]
	if state == stepRunning || state == stepPending || state == stepDone || (state == stepFailed && key.dispatch != "") {
		// Drover delivers a dispatch again when it heard nothing (the step's redeliver): the
		// handler does not run twice, but the result it reported, which Drover may have
		// missed, is sent again.
		res, ok := m.results[key]
		if ok && key.dispatch != "" {
			m.inFlight.Add(1)
		}
		m.mu.Unlock()
		m.log.Info("ignoring a repeated dispatch", "run", req.CallbackId, "step", req.StepName, "dispatch", req.DispatchId, "resending", ok && key.dispatch != "")
		w.WriteHeader(http.StatusAccepted)
		if ok && key.dispatch != "" {
			go m.resend(key, res)
		}
		return
	}
	m.latest[[2]string{key.run, key.step}] = key.dispatch
	if tp := r.Header.Get("traceparent"); tp != "" && len(tp) <= 128 {
		m.traces[key] = tp
	}
	select {
	case m.queue <- struct{}{}:
	default:
		m.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "migrator is busy; dispatch again later")
		return
	}
	m.steps[key] = stepRunning
	m.inFlight.Add(1)
	m.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	go m.run(key, handler, req)
}

// run executes a handler when a slot is free and delivers its result.
func (m *Migrator) run(key stepKey, handler StepFunc, req wire.DispatchStepRequest) {
	defer m.inFlight.Done()
	defer func() { <-m.queue }()
	select {
	case m.slots <- struct{}{}:
	case <-m.stopCtx.Done():
		m.interrupted(key)
		return
	}
	defer func() { <-m.slots }()
	ctx := m.stopCtx
	sreq := StepRequest{
		RunID: req.CallbackId, MigrationID: req.MigrationId, StepName: req.StepName, Type: req.Type,
		Config: req.Config, MigratorApp: req.MigratorApp, Candidate: req.Candidate, TraceParent: m.traceOf(key),
		Report: func(ctx context.Context, md map[string]string) error {
			return m.deliver(ctx, key, Result{Status: wire.StepEventStatusPending, Metadata: md})
		},
	}
	res, err := safeCall(ctx, handler, sreq)
	if err != nil {
		res = Failed(err, res.Metadata)
	}
	if ctx.Err() != nil && res.Status == wire.StepEventStatusFailed {
		m.interrupted(key)
		return
	}
	// Delivery retries until Drover accepts or shutdown gives up (the result is then lost: the
	// step stays in progress in Drover until an operator cancels the run).
	if err := m.deliver(m.stopCtx, key, res); err != nil {
		m.log.Error("could not report a step's result", "run", key.run, "step", key.step, "status", res.Status, "error", err)
	}
}

// interrupted reports a step that shutdown stopped as failed, so that an operator can retry it
// (Drover does not dispatch an acknowledged step again by itself). Best effort: a few seconds.
func (m *Migrator) interrupted(key stepKey) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := Failed(errors.New("interrupted: the migrator shut down before the step finished; retry it"), nil)
	if err := m.deliver(ctx, key, res); err != nil {
		m.log.Error("could not report an interrupted step", "run", key.run, "step", key.step, "error", err)
	}
}

func safeCall(ctx context.Context, f StepFunc, req StepRequest) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("step handler panicked: %v", p)
		}
	}()
	return f(ctx, req)
}

// Complete finishes a step that reported Pending (or reports more progress with Pending).
func (m *Migrator) Complete(ctx context.Context, runID, stepName string, res Result) error {
	m.mu.Lock()
	key := stepKey{runID, stepName, m.latest[[2]string{runID, stepName}]}
	m.mu.Unlock()
	return m.deliver(ctx, key, res)
}

// resend posts a result again for a redelivered dispatch, without changing the step's state.
func (m *Migrator) resend(key stepKey, res Result) {
	defer m.inFlight.Done()
	_, candidateID, _ := cutRunID(key.run)
	ev := wire.StepStatusEvent{StepName: key.step, CandidateId: candidateID, Status: res.Status, Metadata: res.Metadata, DispatchId: key.dispatch}
	if err := m.postWithRetry(withTrace(m.stopCtx, m.traceOf(key)), "/event/"+key.run, ev); err != nil {
		m.log.Error("could not report a step's result again", "run", key.run, "step", key.step, "status", res.Status, "error", err)
	}
}

// deliver records the step's state and posts the event to Drover until it is accepted.
func (m *Migrator) deliver(ctx context.Context, key stepKey, res Result) error {
	_, candidateID, ok := cutRunID(key.run)
	if !ok {
		return fmt.Errorf("%q is not a Drover run id", key.run)
	}
	// The state changes before the event is sent: Drover may re-dispatch a failed step (the
	// operator's retry) as soon as it has the event, and that dispatch must run.
	m.mu.Lock()
	m.results[key] = res
	m.mu.Unlock()
	switch res.Status {
	case wire.StepEventStatusPending:
		m.setState(key, stepPending)
	case wire.StepEventStatusFailed:
		m.setState(key, stepFailed)
	default:
		m.setState(key, stepDone)
	}
	ev := wire.StepStatusEvent{StepName: key.step, CandidateId: candidateID, Status: res.Status, Metadata: res.Metadata, DispatchId: key.dispatch}
	return m.postWithRetry(withTrace(ctx, m.traceOf(key)), "/event/"+key.run, ev)
}

// traceOf is the traceparent the step's dispatch came with ("" when none).
func (m *Migrator) traceOf(key stepKey) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.traces[key]
}

type traceKey struct{}

// withTrace has the requests made with ctx carry traceparent (when not empty), so that Drover
// sees a step's events in the trace of its dispatch.
func withTrace(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return context.WithValue(ctx, traceKey{}, traceparent)
}

func (m *Migrator) setState(key stepKey, s stepState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s == 0 {
		delete(m.steps, key)
		delete(m.results, key)
		delete(m.traces, key)
		return
	}
	m.steps[key] = s
	if s != stepDone && s != stepFailed {
		return
	}
	m.finished = append(m.finished, key)
	for len(m.finished) > m.cfg.Remember {
		old := m.finished[0]
		m.finished = m.finished[1:]
		if st := m.steps[old]; st == stepDone || st == stepFailed {
			delete(m.steps, old)
			delete(m.results, old)
			delete(m.traces, old)
			if m.latest[[2]string{old.run, old.step}] == old.dispatch {
				delete(m.latest, [2]string{old.run, old.step})
			}
		}
	}
}

func cutRunID(runID string) (string, string, bool) {
	for i := 0; i+1 < len(runID); i++ {
		if runID[i] == '_' && runID[i+1] == '_' {
			return runID[:i], runID[i+2:], true
		}
	}
	return "", "", false
}

func (m *Migrator) dryRun(w http.ResponseWriter, r *http.Request) {
	body, ok := m.verified(w, r)
	if !ok {
		return
	}
	var req wire.DryRunRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "dry-run body is not a DryRunRequest: "+err.Error())
		return
	}
	res := wire.DryRunResult{Steps: []wire.StepDryRun{}}
	if m.cfg.DryRun == nil {
		for _, s := range req.Steps {
			res.Steps = append(res.Steps, wire.StepDryRun{StepName: s.Name, Skipped: true})
		}
	} else {
		var err error
		if res, err = m.cfg.DryRun(r.Context(), req); err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(wire.Error{Error: msg})
}
