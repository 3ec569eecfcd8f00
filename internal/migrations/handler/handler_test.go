package handler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/access"
	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/migrations/handler"
	"github.com/drover-dev/drover/internal/migrations/migrator"
	"github.com/drover-dev/drover/internal/migrations/store"
	"github.com/drover-dev/drover/internal/testsupport"
	"github.com/drover-dev/drover/pkg/api"
	"github.com/drover-dev/drover/schemas"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

// ---------------------------------------------------------------------------------------------
// A fake of the execution engine port: records calls and answers as told.

type signalCall struct {
	RunID   string
	Name    string
	Payload any
}

type fakeEngine struct {
	mu           sync.Mutex
	open         map[string]bool // run ids with an open run
	starts       []migrations.RunInput
	signals      []signalCall
	cancels      []string
	startErr     error
	signalErr    error
	cancelErr    error
	cancelStatus migrations.RunStatus
	pingErr      error
	// beforeCancel, when set, runs as a cancel reaches the engine: the worst moment for a run
	// to end on its own.
	beforeCancel func(runID string)
	rollouts     []migrations.RolloutInput
	rolloutCmds  []migrations.RolloutControl
	openRollouts map[string]bool // workflow ids of open rollouts
	rolloutErr   error
}

var _ migrations.ExecutionEngine = (*fakeEngine)(nil)

func newFakeEngine() *fakeEngine {
	return &fakeEngine{open: map[string]bool{}, openRollouts: map[string]bool{}}
}

func (f *fakeEngine) StartRollout(_ context.Context, in migrations.RolloutInput) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rollouts = append(f.rollouts, in)
	if f.rolloutErr != nil {
		return f.rolloutErr
	}
	f.openRollouts[migrations.RolloutWorkflowID(in.MigrationID, in.RolloutID)] = true
	return nil
}

func (f *fakeEngine) SignalRollout(_ context.Context, migrationID, rolloutID string, cmd migrations.RolloutControl) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.openRollouts[migrations.RolloutWorkflowID(migrationID, rolloutID)] {
		return fmt.Errorf("rollout %s: %w", rolloutID, migrations.ErrRolloutNotFound)
	}
	f.rolloutCmds = append(f.rolloutCmds, cmd)
	return nil
}

func (f *fakeEngine) Rollouts() []migrations.RolloutInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.rollouts)
}

func (f *fakeEngine) RolloutCmds() []migrations.RolloutControl {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.rolloutCmds)
}

func (f *fakeEngine) StartRun(_ context.Context, in migrations.RunInput) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts = append(f.starts, in)
	if f.startErr != nil {
		return f.startErr
	}
	f.open[migrations.RunID(in.MigrationID, in.CandidateID)] = true
	return nil
}

func (f *fakeEngine) CancelRun(_ context.Context, runID string) (migrations.RunStatus, error) {
	f.mu.Lock()
	hook := f.beforeCancel
	f.mu.Unlock()
	if hook != nil {
		hook(runID)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancels = append(f.cancels, runID)
	if f.cancelErr != nil {
		return "", f.cancelErr
	}
	if !f.open[runID] {
		return "", fmt.Errorf("run %s: %w", runID, migrations.ErrRunNotFound)
	}
	delete(f.open, runID)
	if f.cancelStatus != "" {
		return f.cancelStatus, nil
	}
	return migrations.RunCancelled, nil
}

func (f *fakeEngine) Signal(_ context.Context, runID, name string, payload any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signals = append(f.signals, signalCall{RunID: runID, Name: name, Payload: payload})
	if f.signalErr != nil {
		return f.signalErr
	}
	if !f.open[runID] {
		return fmt.Errorf("run %s: %w", runID, migrations.ErrRunNotFound)
	}
	return nil
}

func (f *fakeEngine) Ping(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pingErr
}

// set changes the fake's behaviour under its lock.
func (f *fakeEngine) set(fn func(f *fakeEngine)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeEngine) markOpen(runID string) { f.set(func(f *fakeEngine) { f.open[runID] = true }) }

func (f *fakeEngine) Starts() []migrations.RunInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.starts)
}

func (f *fakeEngine) Signals() []signalCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.signals)
}

func (f *fakeEngine) Cancels() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.cancels)
}

// ---------------------------------------------------------------------------------------------
// The test environment: real service, real SQLite store, real migrator client and HTTP
// migrator, the handler over real HTTP; only the engine is fake.

const mig = "topic-rename"

var stepNames = []string{"open-pr", "merge-pr", "verify"}

type env struct {
	t        *testing.T
	api      *testsupport.API
	store    migrations.MigrationStore // publishes live events
	feed     *store.MemoryFeed
	engine   *fakeEngine
	queue    *fakeQueue // notification deliveries enqueued
	migrator *testsupport.Migrator
	handler  http.Handler
	logs     *logBuffer
}

// fakeQueue records the notification deliveries enqueued.
type fakeQueue struct {
	mu  sync.Mutex
	ins []migrations.DeliveryInput
}

func (q *fakeQueue) EnqueueDelivery(_ context.Context, in migrations.DeliveryInput) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ins = append(q.ins, in)
	return nil
}

func (q *fakeQueue) all() []migrations.DeliveryInput {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]migrations.DeliveryInput(nil), q.ins...)
}

func (q *fakeQueue) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ins)
}

// logBuffer keeps what the server logged (and passes it on to the test's output).
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
	out io.Writer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	return l.out.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newEnv is the API without login (as drover dev), with the fixture announced unsigned.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := startEnv(t, handler.Config{Access: openAccess(t, access.Config{UnsignedUnowned: true})})
	r := e.api.Do(t, http.MethodPost, "/registry/announce", announcement(e.migrator.URL))
	require.Equal(t, http.StatusOK, r.Status, "announce the fixture: %s", r.Body)
	return e
}

// startEnv serves the API over a fresh store, a fake engine and a real HTTP migrator, with the
// access model and options of cfg.
func startEnv(t *testing.T, cfg handler.Config) *env {
	t.Helper()
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "drover.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	eng := newFakeEngine()
	m := testsupport.NewMigrator(t)
	logs := &logBuffer{out: t.Output()}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	feed := store.NewMemoryFeed(1000)
	pub := migrations.Publishing(st, feed, nil, log)
	mc := migrator.NewClient(nil, 0, 200*time.Millisecond)
	cfg.Service = migrations.NewService(pub, eng, mc, nil, log)
	queue := &fakeQueue{}
	if cfg.Webhooks == nil {
		cfg.Webhooks = migrations.NewNotifications(migrations.NotificationsConfig{Webhooks: st, Migrations: pub, Queue: queue, Sender: mc, Log: log})
	}
	cfg.Log = log
	hub := migrations.NewHub(feed, pub, log)
	hctx, stopHub := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() { hub.Run(hctx); close(hubDone) }()
	if cfg.Live == nil {
		cfg.Live = hub
	}
	h, err := handler.New(cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(func() { stopHub(); <-hubDone; srv.Close() }) // streams end with the hub
	return &env{t: t, api: testsupport.NewAPI(srv.URL), store: pub, feed: feed, engine: eng, queue: queue, migrator: m, handler: h, logs: logs}
}

// announcement is the fixture migration: three steps, one required input, and candidates
// svc-a..svc-d (svc-meta carries the required input in its metadata).
func announcement(migratorURL string) map[string]any {
	steps := make([]any, 0, len(stepNames))
	for _, s := range stepNames {
		steps = append(steps, map[string]any{"name": s, "migratorApp": "topic-app"})
	}
	return map[string]any{
		"id":          mig,
		"name":        "Rename Kafka topics",
		"description": "Moves every service to the new topic names",
		"migratorUrl": migratorURL,
		"requiredInputs": []any{
			map[string]any{"name": "ticket", "label": "Change ticket"},
		},
		"steps": steps,
		"candidates": []any{
			map[string]any{"id": "svc-a", "kind": "service"},
			map[string]any{"id": "svc-b", "kind": "service"},
			map[string]any{"id": "svc-c", "kind": "service"},
			map[string]any{"id": "svc-d", "kind": "service"},
			map[string]any{"id": "svc-meta", "kind": "service", "metadata": map[string]any{"ticket": "T-1"}},
		},
	}
}

func execID(cid string) string { return "exec-" + cid }

// beginRun records a running run of cid in the store, as the workflow's first activity does,
// with the given step states, and tells the fake engine the run is open.
func (e *env) beginRun(cid string, steps ...api.StepState) {
	e.t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	require.NoError(e.t, e.store.BeginRun(ctx, migrations.RunRecord{
		RunID:       migrations.RunID(mig, cid),
		ExecutionID: execID(cid),
		MigrationID: mig,
		CandidateID: cid,
		Status:      api.RunStatusRunning,
		StepNames:   stepNames,
		StartedAt:   now,
	}))
	for _, st := range steps {
		st.StartedAt, st.UpdatedAt = now, now
		// The fixture's steps are not manual: the attention the workflow would compute.
		require.NoError(e.t, e.store.PutStepState(ctx, mig, cid, execID(cid), st, migrations.Attention(st, api.StepDefinition{Name: st.StepName})))
	}
	e.engine.markOpen(migrations.RunID(mig, cid))
}

// finishRun ends cid's run in the store, as the workflow's last activity does.
func (e *env) finishRun(cid string, status api.RunStatus, candidate api.CandidateStatus) {
	e.t.Helper()
	require.NoError(e.t, e.store.FinishRun(context.Background(), mig, cid, execID(cid), status, candidate, time.Now().UTC()))
	e.engine.set(func(f *fakeEngine) { delete(f.open, migrations.RunID(mig, cid)) })
}

func step(name string, status api.StepStatus) api.StepState {
	return api.StepState{StepName: name, Status: status, Attempts: 1}
}

// requireError asserts the status code, that the body is a JSON error naming field (exactly;
// "" for none), and that the message contains each of words (case-insensitively).
func requireError(t *testing.T, r testsupport.Response, status int, field string, words ...string) {
	t.Helper()
	require.Equal(t, status, r.Status, "body: %s", r.Body)
	var e api.Error
	r.JSON(t, &e)
	require.NotEmpty(t, e.Error, "the error message must not be empty: %s", r.Body)
	require.Equal(t, field, e.Field, "field of error %q", e.Error)
	msg := strings.ToLower(e.Error)
	for _, w := range words {
		require.Contains(t, msg, strings.ToLower(w), "error message %q should mention %q", e.Error, w)
	}
	require.NotContains(t, msg, "internal error")
}

type errCase struct {
	name   string
	method string
	path   string
	body   any // nil: no body; string: sent as is; anything else: JSON
	status int
	field  string
	words  []string
	exact  string // when set, the whole message
}

func runCases(t *testing.T, e *env, cases []errCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.api.Do(t, tc.method, tc.path, tc.body)
			requireError(t, r, tc.status, tc.field, tc.words...)
			if tc.exact != "" {
				require.Equal(t, tc.exact, r.Error())
			}
		})
	}
}

// manyStrings returns n distinct strings.
func manyStrings(n int, prefix string) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// manyKeys returns a metadata map of n keys.
func manyKeys(n int) map[string]any {
	out := make(map[string]any, n)
	for i := range n {
		out[fmt.Sprintf("key-%02d", i)] = "v"
	}
	return out
}

// without returns a copy of m without key.
func without(m map[string]any, key string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// with returns a copy of m with key set to v.
func with(m map[string]any, key string, v any) map[string]any {
	out := without(m, key)
	out[key] = v
	return out
}

func candidatePath(cid, action string) string {
	return fmt.Sprintf("/migrations/%s/candidates/%s/%s", mig, cid, action)
}

// ---------------------------------------------------------------------------------------------
// POST /registry/announce

func TestAnnounce(t *testing.T) {
	e := newEnv(t)
	good := announcement(e.migrator.URL)
	good["id"] = "other-migration"

	fourCandidates := []any{
		map[string]any{"id": "c0", "kind": "service"},
		map[string]any{"id": "c1", "kind": "service"},
		map[string]any{"id": "c2", "kind": "service"},
		map[string]any{"id": "bad__id", "kind": "service"},
	}
	const post, path = http.MethodPost, "/registry/announce"
	cases := []errCase{
		{name: "malformed JSON", body: `{"id": "x", `, status: 400, words: []string{"not valid JSON"}},
		{name: "empty body", body: "", status: 400, words: []string{"request body", "required"}},
		{name: "no body", body: nil, status: 400, words: []string{"request body", "required"}},
		{name: "JSON array", body: `[]`, status: 400, words: []string{"object"}},
		{name: "missing id", body: without(good, "id"), status: 400, field: "id", words: []string{"id", "required"}, exact: `field "id": is required`},
		{name: "missing name", body: without(good, "name"), status: 400, field: "name", words: []string{"name", "required"}, exact: `field "name": is required`},
		{name: "missing steps", body: without(good, "steps"), status: 400, field: "steps", words: []string{"steps", "required"}, exact: `field "steps": is required`},
		{name: "missing migratorUrl", body: without(good, "migratorUrl"), status: 400, field: "migratorUrl", words: []string{"migratorUrl", "required"}, exact: `field "migratorUrl": is required`},
		{name: "missing candidates", body: without(good, "candidates"), status: 400, field: "candidates", words: []string{"candidates", "required"}, exact: `field "candidates": is required`},
		{name: "steps is a string", body: with(good, "steps", "open-pr"), status: 400, field: "steps", words: []string{"steps", "array"}},
		{name: "name is a number", body: with(good, "name", 7), status: 400, field: "name", words: []string{"name", "string"}},
		{name: "empty name", body: with(good, "name", ""), status: 400, field: "name", exact: `field "name": must not be empty`},
		{name: "blank name", body: with(good, "name", "   "), status: 400, field: "name", words: []string{"must not be empty"}},
		{name: "id with run-id separator", body: with(good, "id", "a__b"), status: 400, field: "id", words: []string{`"a__b"`, "not valid", "letters, digits"}},
		{name: "id with a space", body: with(good, "id", "has space"), status: 400, field: "id", words: []string{`"has space"`, "not valid", "letters, digits"}},
		{name: "id with leading underscore", body: with(good, "id", "_lead"), status: 400, field: "id", words: []string{`"_lead"`, "not valid", "starting with a letter or digit"}},
		{name: "id of 65 characters", body: with(good, "id", strings.Repeat("a", 65)), status: 400, field: "id", exact: `field "id": is 65 characters long; at most 64 allowed`},
		{name: "empty id", body: with(good, "id", ""), status: 400, field: "id", exact: `field "id": must not be empty`},
		{name: "invalid candidate id at index 3", body: with(good, "candidates", fourCandidates), status: 400, field: "candidates[3].id", words: []string{`"bad__id"`, "not valid"}},
		{name: "candidate without kind", body: with(good, "candidates", []any{map[string]any{"id": "c0"}}), status: 400, field: "candidates[0].kind", words: []string{"kind", "required"}, exact: `field "candidates[0].kind": is required`},
		{name: "duplicate candidate ids", body: with(good, "candidates", []any{
			map[string]any{"id": "c0", "kind": "service"},
			map[string]any{"id": "c1", "kind": "service"},
			map[string]any{"id": "c0", "kind": "repo"},
		}), status: 400, field: "candidates[2].id", words: []string{`"c0"`, "listed twice"}},
		{name: "duplicate step names", body: with(good, "steps", []any{
			map[string]any{"name": "open-pr", "migratorApp": "a"},
			map[string]any{"name": "open-pr", "migratorApp": "a"},
		}), status: 400, field: "steps[1].name", words: []string{`"open-pr"`, "listed twice"}},
		{name: "duplicate step names in a candidate override", body: with(good, "candidates", []any{
			map[string]any{"id": "c0", "kind": "service", "steps": []any{map[string]any{"name": "x", "migratorApp": "a"}, map[string]any{"name": "x", "migratorApp": "a"}}},
		}), status: 400, field: "candidates[0].steps[1].name", words: []string{`"x"`, "listed twice"}},
		{name: "zero steps", body: with(good, "steps", []any{}), status: 400, field: "steps", words: []string{"steps", "1"}},
		{name: "step without name", body: with(good, "steps", []any{map[string]any{"description": "x", "migratorApp": "a"}}), status: 400, field: "steps[0].name", words: []string{"name", "required"}, exact: `field "steps[0].name": is required`},
		{name: "step without migratorApp", body: with(good, "steps", []any{map[string]any{"name": "x"}}), status: 400, field: "steps[0].migratorApp", exact: `field "steps[0].migratorApp": is required`},
		{name: "blank migratorApp", body: with(good, "steps", []any{map[string]any{"name": "x", "migratorApp": " "}}), status: 400, field: "steps[0].migratorApp", words: []string{"must not be empty", `"x"`}},
		{name: "timeout not a duration", body: with(good, "steps", []any{map[string]any{"name": "x", "migratorApp": "a", "timeout": "ten minutes"}}), status: 400, field: "steps[0].timeout", words: []string{`"ten minutes"`, "a duration such as `30m`"}},
		{name: "timeout too short", body: with(good, "steps", []any{map[string]any{"name": "x", "migratorApp": "a", "timeout": "10ms"}}), status: 400, field: "steps[0].timeout", words: []string{"10ms", "outside 1s"}},
		{name: "timeout too long", body: with(good, "steps", []any{map[string]any{"name": "x", "migratorApp": "a", "timeout": "9000h"}}), status: 400, field: "steps[0].timeout", words: []string{"9000h", "outside"}},
		{name: "timeout not a string", body: with(good, "steps", []any{map[string]any{"name": "x", "migratorApp": "a", "timeout": 600}}), status: 400, field: "steps[0].timeout", exact: `field "steps[0].timeout": must be of type string`},
		{name: "redeliver too many", body: with(good, "steps", []any{map[string]any{"name": "x", "migratorApp": "a", "redeliver": 11}}), status: 400, field: "steps[0].redeliver", words: []string{"10"}},
		{name: "redeliver negative", body: with(good, "steps", []any{map[string]any{"name": "x", "migratorApp": "a", "redeliver": -1}}), status: 400, field: "steps[0].redeliver", words: []string{"0"}},
		{name: "config value not a string", body: with(good, "steps", []any{map[string]any{"name": "x", "migratorApp": "a", "config": map[string]any{"draft": true}}}), status: 400, field: "steps[0].config.draft", exact: `field "steps[0].config.draft": must be of type string`},
		{name: "overview of objects", body: with(good, "overview", []any{map[string]any{"name": "Change"}}), status: 400, field: "overview[0]", exact: `field "overview[0]": must be of type string`},
		{name: "file given as a string", body: with(good, "candidates", []any{map[string]any{"id": "c0", "kind": "service", "files": []any{map[string]any{"name": "prod", "repo": "r", "files": []any{"a.yaml"}}}}}), status: 400, field: "candidates[0].files[0].files[0]", exact: `field "candidates[0].files[0].files[0]": must be of type object`},
		{name: "file group without name", body: with(good, "candidates", []any{map[string]any{"id": "c0", "kind": "service", "files": []any{map[string]any{"repo": "r", "files": []any{}}}}}), status: 400, field: "candidates[0].files[0].name", exact: `field "candidates[0].files[0].name": is required`},
		{name: "too many overview items", body: with(good, "overview", manyStrings(101, "phase")), status: 400, field: "overview", words: []string{"more than 100 items", "at most 100"}},
		{name: "overview item too long", body: with(good, "overview", []any{strings.Repeat("x", 1025)}), status: 400, field: "overview[0]", words: []string{"1025 characters", "at most 1024"}},
		{name: "too many metadata keys", body: with(good, "candidates", []any{map[string]any{"id": "c0", "kind": "service", "metadata": manyKeys(65)}}), status: 400, field: "candidates[0].metadata", words: []string{"more than 64 keys", "at most 64"}},
		{name: "metadata key too long", body: with(good, "candidates", []any{map[string]any{"id": "c0", "kind": "service", "metadata": map[string]any{strings.Repeat("k", 257): "v"}}}), status: 400, field: "candidates[0].metadata", words: []string{"key of more than 256 characters"}},
		{name: "description too long", body: with(good, "description", strings.Repeat("d", 16385)), status: 400, field: "description", words: []string{"16385 characters", "at most 16384"}},
		{name: "duplicate key", body: `{"id":"x","id":"y","name":"n","description":"d","candidates":[],"steps":[{"name":"a","migratorApp":"a"}],"migratorUrl":"http://m"}`, status: 400, field: "id", words: []string{"given twice"}},
		{name: "nested too deep", body: `{"id":"x","name":"n","description":"d","candidates":[],"steps":[{"name":"a","migratorApp":"a"}],"migratorUrl":"http://m","extra":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, status: 400, field: "extra" + strings.Repeat("[0]", 31), words: []string{"32 levels"}},
		{name: "duplicate required inputs", body: with(good, "requiredInputs", []any{
			map[string]any{"name": "ticket", "label": "Ticket"},
			map[string]any{"name": "ticket", "label": "Ticket again"},
		}), status: 400, field: "requiredInputs[1].name", words: []string{`"ticket"`, "listed twice"}},
		{name: "migratorUrl ftp", body: with(good, "migratorUrl", "ftp://x"), status: 400, field: "migratorUrl", words: []string{`"ftp://x"`, "http or https"}},
		{name: "migratorUrl not a URL", body: with(good, "migratorUrl", "not a url"), status: 400, field: "migratorUrl", words: []string{`"not a url"`, "http or https"}},
		{name: "migratorUrl without host", body: with(good, "migratorUrl", "http://"), status: 400, field: "migratorUrl", words: []string{"a host is required"}},
		{name: "migratorUrl with a fragment", body: with(good, "migratorUrl", "http://127.0.0.1:8080/#"), status: 400, field: "migratorUrl", words: []string{"a fragment is not allowed"}},
		{name: "migratorUrl with a query", body: with(good, "migratorUrl", "http://m.example/?x=1"), status: 400, field: "migratorUrl", words: []string{"a query is not allowed"}},
		{name: "migratorUrl with userinfo", body: with(good, "migratorUrl", "http://u:p@m.example/"), status: 400, field: "migratorUrl", words: []string{"userinfo"}},
		{name: "migratorUrl at the metadata service", body: with(good, "migratorUrl", "http://169.254.169.254/latest"), status: 400, field: "migratorUrl", words: []string{"link-local", "--migrator-allow"}},
		{name: "migratorUrl at a unique-local address", body: with(good, "migratorUrl", "http://[fd00:ec2::254]/"), status: 400, field: "migratorUrl", words: []string{"unique-local"}},
		{name: "migratorUrl at a mapped private address", body: with(good, "migratorUrl", "http://[::ffff:10.0.0.1]/"), status: 400, field: "migratorUrl", words: []string{"private"}},
		{name: "migratorUrl in hex notation", body: with(good, "migratorUrl", "http://0x7f000001/"), status: 400, field: "migratorUrl", words: []string{"non-standard notation"}},
	}
	for i := range cases {
		cases[i].method, cases[i].path = post, path
	}
	runCases(t, e, cases)

	t.Run("nothing was stored by the rejected announcements", func(t *testing.T) {
		var list api.MigrationList
		r := e.api.Do(t, http.MethodGet, "/migrations", nil)
		require.Equal(t, http.StatusOK, r.Status)
		r.JSON(t, &list)
		require.Len(t, list.Migrations, 1)
		require.Equal(t, mig, list.Migrations[0].Id)
	})

	t.Run("success", func(t *testing.T) {
		r := e.api.Do(t, post, path, good)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		require.JSONEq(t, `{"status":"SUCCESS"}`, string(r.Body))
		r = e.api.Do(t, http.MethodGet, "/migrations/other-migration", nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	})
}

// ---------------------------------------------------------------------------------------------
// POST /migrations/{id}/candidates

func TestSubmitCandidates(t *testing.T) {
	e := newEnv(t)
	path := "/migrations/" + mig + "/candidates"
	ok := map[string]any{"candidates": []any{map[string]any{"id": "svc-new", "kind": "service"}}}
	runCases(t, e, []errCase{
		{name: "unknown migration", method: "POST", path: "/migrations/no-such-migration/candidates", body: ok, status: 404, words: []string{`"no-such-migration"`, "not found"}},
		{name: "invalid migration id", method: "POST", path: "/migrations/bad__id/candidates", body: ok, status: 400, field: "migrationId", words: []string{"migrationId", `"bad__id"`, "not valid"}},
		{name: "bad candidate id", method: "POST", path: path, body: map[string]any{"candidates": []any{map[string]any{"id": "has space", "kind": "service"}}}, status: 400, field: "candidates[0].id", words: []string{`"has space"`, "not valid"}},
		{name: "missing kind", method: "POST", path: path, body: map[string]any{"candidates": []any{
			map[string]any{"id": "svc-x", "kind": "service"},
			map[string]any{"id": "svc-y"},
		}}, status: 400, field: "candidates[1].kind", words: []string{"kind", "required"}, exact: `field "candidates[1].kind": is required`},
		{name: "empty kind", method: "POST", path: path, body: map[string]any{"candidates": []any{map[string]any{"id": "svc-y", "kind": ""}}}, status: 400, field: "candidates[0].kind", exact: `field "candidates[0].kind": must not be empty`},
		{name: "blank kind", method: "POST", path: path, body: map[string]any{"candidates": []any{map[string]any{"id": "svc-y", "kind": "  "}}}, status: 400, field: "candidates[0].kind", words: []string{"must not be empty"}},
		{name: "missing candidates", method: "POST", path: path, body: map[string]any{}, status: 400, field: "candidates", words: []string{"candidates", "required"}, exact: `field "candidates": is required`},
		{name: "candidates is an object", method: "POST", path: path, body: map[string]any{"candidates": map[string]any{}}, status: 400, field: "candidates", words: []string{"array"}},
		{name: "malformed JSON", method: "POST", path: path, body: `{"candidates": [`, status: 400, words: []string{"not valid JSON"}},
		{name: "duplicate ids", method: "POST", path: path, body: map[string]any{"candidates": []any{
			map[string]any{"id": "svc-x", "kind": "service"},
			map[string]any{"id": "svc-x", "kind": "service"},
		}}, status: 400, field: "candidates[1].id", words: []string{"listed twice"}},
	})

	t.Run("success merges", func(t *testing.T) {
		r := e.api.Do(t, http.MethodPost, path, ok)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var cs []api.Candidate
		r = e.api.Do(t, http.MethodGet, path, nil)
		require.Equal(t, http.StatusOK, r.Status)
		r.JSON(t, &cs)
		ids := make([]string, 0, len(cs))
		for _, c := range cs {
			ids = append(ids, c.Id)
		}
		require.Contains(t, ids, "svc-new")
		require.Contains(t, ids, "svc-a")
	})
}

// ---------------------------------------------------------------------------------------------
// GET /migrations, /migrations/{id}, /migrations/{id}/candidates

func TestReadMigration(t *testing.T) {
	e := newEnv(t)
	runCases(t, e, []errCase{
		{name: "get unknown migration", method: "GET", path: "/migrations/no-such-migration", status: 404, words: []string{`"no-such-migration"`, "not found"}},
		{name: "candidates of unknown migration", method: "GET", path: "/migrations/no-such-migration/candidates", status: 404, words: []string{`"no-such-migration"`, "not found"}},
		{name: "get invalid id", method: "GET", path: "/migrations/bad__id", status: 400, field: "migrationId", words: []string{"migrationId", `"bad__id"`, "not valid"}},
		{name: "get id with a space", method: "GET", path: "/migrations/has%20space", status: 400, field: "migrationId", words: []string{"migrationId", "has", "space", "not valid"}},
		{name: "get id too long", method: "GET", path: "/migrations/" + strings.Repeat("m", 65), status: 400, field: "migrationId", words: []string{"too long"}},
		{name: "candidates of invalid id", method: "GET", path: "/migrations/_lead/candidates", status: 400, field: "migrationId", words: []string{`"_lead"`, "not valid"}},
	})

	t.Run("success", func(t *testing.T) {
		r := e.api.Do(t, http.MethodGet, "/migrations/"+mig, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var m api.Migration
		r.JSON(t, &m)
		require.Equal(t, mig, m.Id)
		require.Len(t, m.Candidates, 5)
		require.Len(t, m.Steps, 3)
	})
}

// ---------------------------------------------------------------------------------------------
// POST .../{cid}/start

func TestStart(t *testing.T) {
	e := newEnv(t)
	e.beginRun("svc-b", step("open-pr", api.StepStatusInProgress))
	e.beginRun("svc-c", step("open-pr", api.StepStatusSucceeded), step("merge-pr", api.StepStatusMerged), step("verify", api.StepStatusSucceeded))
	e.finishRun("svc-c", api.RunStatusCompleted, api.CandidateStatusCompleted)

	ticket := map[string]any{"inputs": map[string]any{"ticket": "T-42"}}
	runCases(t, e, []errCase{
		{name: "unknown migration", method: "POST", path: "/migrations/no-such-migration/candidates/svc-a/start", body: ticket, status: 404, words: []string{`"no-such-migration"`, "not found"}},
		{name: "unknown candidate", method: "POST", path: candidatePath("svc-zzz", "start"), body: ticket, status: 404, words: []string{`"svc-zzz"`, "not found"}},
		{name: "invalid candidate id", method: "POST", path: candidatePath("bad__cid", "start"), body: ticket, status: 400, field: "candidateId", words: []string{"candidateId", `"bad__cid"`, "not valid"}},
		{name: "input key not in requiredInputs", method: "POST", path: candidatePath("svc-a", "start"), body: map[string]any{"inputs": map[string]any{"ticket": "T-1", "colour": "blue"}}, status: 400, field: "inputs.colour", words: []string{`"colour"`, "not an input", "ticket"}},
		{name: "missing required input", method: "POST", path: candidatePath("svc-a", "start"), body: map[string]any{}, status: 400, field: "inputs", words: []string{"missing required input", "ticket", "Change ticket"}},
		{name: "blank required input", method: "POST", path: candidatePath("svc-a", "start"), body: map[string]any{"inputs": map[string]any{"ticket": "  "}}, status: 400, field: "inputs", words: []string{"missing required input", "ticket"}},
		{name: "already running", method: "POST", path: candidatePath("svc-b", "start"), body: ticket, status: 409, words: []string{"svc-b", "already running"}},
		{name: "completed", method: "POST", path: candidatePath("svc-c", "start"), body: ticket, status: 409, words: []string{"svc-c", "already completed"}},
		{name: "malformed JSON", method: "POST", path: candidatePath("svc-a", "start"), body: `{"inputs": {`, status: 400, words: []string{"not valid JSON"}},
		{name: "inputs with a non-string value", method: "POST", path: candidatePath("svc-a", "start"), body: map[string]any{"inputs": map[string]any{"ticket": 5}}, status: 400, field: "inputs.ticket", words: []string{"inputs.ticket", "string"}},
		{name: "inputs is a list", method: "POST", path: candidatePath("svc-a", "start"), body: map[string]any{"inputs": []any{"ticket"}}, status: 400, field: "inputs", words: []string{"inputs", "object"}},
	})
	require.Empty(t, e.engine.Starts(), "no rejected start may reach the engine")

	t.Run("engine says already running", func(t *testing.T) {
		e.engine.set(func(f *fakeEngine) {
			f.startErr = migrations.Conflict(migrations.ErrCandidateRunning, "candidate svc-d of migration %s is already running", mig)
		})
		defer e.engine.set(func(f *fakeEngine) { f.startErr = nil })
		r := e.api.Do(t, http.MethodPost, candidatePath("svc-d", "start"), ticket)
		requireError(t, r, http.StatusConflict, "", "svc-d", "already running")
	})

	t.Run("engine says completed", func(t *testing.T) {
		e.engine.set(func(f *fakeEngine) {
			f.startErr = fmt.Errorf("start: %w", migrations.Conflict(migrations.ErrCandidateCompleted, "candidate svc-d has already completed"))
		})
		defer e.engine.set(func(f *fakeEngine) { f.startErr = nil })
		r := e.api.Do(t, http.MethodPost, candidatePath("svc-d", "start"), ticket)
		requireError(t, r, http.StatusConflict, "", "already completed")
	})

	t.Run("no body at all is accepted", func(t *testing.T) {
		r := e.api.Do(t, http.MethodPost, candidatePath("svc-meta", "start"), nil)
		require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
		var acc api.RunAccepted
		r.JSON(t, &acc)
		require.Equal(t, "STARTED", acc.Status)
		require.Equal(t, migrations.RunID(mig, "svc-meta"), acc.RunId)
		starts := e.engine.Starts()
		require.NotEmpty(t, starts)
		last := starts[len(starts)-1]
		require.Equal(t, "svc-meta", last.CandidateID)
		require.Len(t, last.Steps, len(stepNames))
	})

	t.Run("success hands the inputs to the run, which stores them as it begins", func(t *testing.T) {
		r := e.api.Do(t, http.MethodPost, candidatePath("svc-a", "start"), ticket)
		require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
		starts := e.engine.Starts()
		require.Equal(t, map[string]string{"ticket": "T-42"}, starts[len(starts)-1].Inputs)
	})

	// Two starts race: the engine lets one win. The loser must not have written its inputs
	// over the winner's (the store's BeginRun writes them, in internal/migrations/store).
	t.Run("a start that loses the race changes no inputs", func(t *testing.T) {
		ctx := context.Background()
		_, err := e.store.MergeInputs(ctx, mig, "svc-b", map[string]string{"ticket": "WINNER"})
		require.NoError(t, err)
		e.engine.set(func(f *fakeEngine) {
			f.startErr = fmt.Errorf("start: %w", migrations.Conflict(migrations.ErrCandidateRunning, "candidate svc-b is already running"))
		})
		defer e.engine.set(func(f *fakeEngine) { f.startErr = nil })
		r := e.api.Do(t, http.MethodPost, candidatePath("svc-b", "start"), map[string]any{"inputs": map[string]any{"ticket": "LOSER"}})
		requireError(t, r, http.StatusConflict, "", "already running")
		c, err := e.store.GetCandidate(ctx, mig, "svc-b")
		require.NoError(t, err)
		require.Equal(t, "WINNER", c.Inputs["ticket"])
	})
}

// ---------------------------------------------------------------------------------------------
// POST .../{cid}/cancel

func TestCancel(t *testing.T) {
	e := newEnv(t)
	e.beginRun("svc-c", step("open-pr", api.StepStatusSucceeded))
	e.finishRun("svc-c", api.RunStatusCompleted, api.CandidateStatusCompleted)
	runCases(t, e, []errCase{
		{name: "not running", method: "POST", path: candidatePath("svc-a", "cancel"), status: 409, words: []string{"svc-a", "not running"}},
		{name: "completed", method: "POST", path: candidatePath("svc-c", "cancel"), status: 409, words: []string{"svc-c", "not running", "completed"}},
		{name: "unknown candidate", method: "POST", path: candidatePath("svc-zzz", "cancel"), status: 404, words: []string{`"svc-zzz"`, "not found"}},
		{name: "unknown migration", method: "POST", path: "/migrations/no-such-migration/candidates/svc-a/cancel", status: 404, words: []string{`"no-such-migration"`, "not found"}},
		{name: "invalid candidate id", method: "POST", path: candidatePath("-x", "cancel"), status: 400, field: "candidateId", words: []string{`"-x"`, "not valid"}},
	})

	t.Run("run completed before the cancel", func(t *testing.T) {
		e.beginRun("svc-d", step("open-pr", api.StepStatusInProgress))
		e.engine.set(func(f *fakeEngine) { f.cancelStatus = migrations.RunCompleted })
		defer e.engine.set(func(f *fakeEngine) { f.cancelStatus = "" })
		r := e.api.Do(t, http.MethodPost, candidatePath("svc-d", "cancel"), nil)
		requireError(t, r, http.StatusConflict, "", "completed before it could be cancelled")
	})

	t.Run("running candidate is cancelled", func(t *testing.T) {
		e.beginRun("svc-b", step("open-pr", api.StepStatusInProgress))
		r := e.api.Do(t, http.MethodPost, candidatePath("svc-b", "cancel"), nil)
		require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Body)
		require.Contains(t, e.engine.Cancels(), migrations.RunID(mig, "svc-b"))
	})

	// The race of a cancel with the run's own completion: the engine's Describe said open, the
	// run completes, and the cancel finds no run. The candidate stays completed.
	t.Run("run completes as the cancel reaches the engine", func(t *testing.T) {
		e.beginRun("svc-d", step("open-pr", api.StepStatusPending))
		e.engine.set(func(f *fakeEngine) {
			f.beforeCancel = func(runID string) {
				e.finishRun("svc-d", api.RunStatusCompleted, api.CandidateStatusCompleted)
				f.set(func(f *fakeEngine) { f.beforeCancel = nil })
			}
		})
		r := e.api.Do(t, http.MethodPost, candidatePath("svc-d", "cancel"), nil)
		requireError(t, r, http.StatusConflict, "", "not running", "completed")
		c, err := e.store.GetCandidate(context.Background(), mig, "svc-d")
		require.NoError(t, err)
		require.Equal(t, api.CandidateStatusCompleted, c.Status)
		require.Equal(t, api.RunStatusCompleted, c.Run.Status)
	})

	t.Run("running in the store without an open run is reset", func(t *testing.T) {
		e.beginRun("svc-meta")
		e.engine.set(func(f *fakeEngine) { delete(f.open, migrations.RunID(mig, "svc-meta")) })
		r := e.api.Do(t, http.MethodPost, candidatePath("svc-meta", "cancel"), nil)
		require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Body)
		c, err := e.store.GetCandidate(context.Background(), mig, "svc-meta")
		require.NoError(t, err)
		require.Equal(t, api.CandidateStatusNotStarted, c.Status)
	})
}

// ---------------------------------------------------------------------------------------------
// POST .../{cid}/retry-step

func TestRetryStep(t *testing.T) {
	e := newEnv(t)
	e.beginRun("svc-b", step("open-pr", api.StepStatusSucceeded), step("merge-pr", api.StepStatusFailed))
	e.beginRun("svc-c", step("open-pr", api.StepStatusPending))

	runCases(t, e, []errCase{
		{name: "missing stepName", method: "POST", path: candidatePath("svc-b", "retry-step"), body: map[string]any{}, status: 400, field: "stepName", words: []string{"stepName", "required"}, exact: `field "stepName": is required`},
		{name: "empty stepName", method: "POST", path: candidatePath("svc-b", "retry-step"), body: map[string]any{"stepName": ""}, status: 400, field: "stepName", exact: `field "stepName": must not be empty`},
		{name: "no body", method: "POST", path: candidatePath("svc-b", "retry-step"), body: nil, status: 400, words: []string{"request body", "required"}},
		{name: "malformed JSON", method: "POST", path: candidatePath("svc-b", "retry-step"), body: `{"stepName":`, status: 400, words: []string{"not valid JSON"}},
		{name: "unknown step name", method: "POST", path: candidatePath("svc-b", "retry-step"), body: map[string]any{"stepName": "deploy"}, status: 400, field: "stepName", words: []string{`"deploy"`, "not a step", "open-pr, merge-pr, verify"}},
		{name: "step succeeded, not failed", method: "POST", path: candidatePath("svc-b", "retry-step"), body: map[string]any{"stepName": "open-pr"}, status: 409, words: []string{`"open-pr"`, "not failed"}},
		{name: "step pending, not failed", method: "POST", path: candidatePath("svc-c", "retry-step"), body: map[string]any{"stepName": "open-pr"}, status: 409, words: []string{`"open-pr"`, "pending", "not failed"}},
		{name: "step not started", method: "POST", path: candidatePath("svc-b", "retry-step"), body: map[string]any{"stepName": "verify"}, status: 409, words: []string{`"verify"`, "not started"}},
		{name: "candidate not running", method: "POST", path: candidatePath("svc-a", "retry-step"), body: map[string]any{"stepName": "open-pr"}, status: 409, words: []string{"svc-a", "not running"}},
		{name: "unknown candidate", method: "POST", path: candidatePath("svc-zzz", "retry-step"), body: map[string]any{"stepName": "open-pr"}, status: 404, words: []string{`"svc-zzz"`, "not found"}},
	})
	require.Empty(t, e.engine.Signals(), "no rejected retry may reach the engine")

	t.Run("engine has no open run", func(t *testing.T) {
		e.engine.set(func(f *fakeEngine) { f.signalErr = fmt.Errorf("signal: %w", migrations.ErrRunNotFound) })
		defer e.engine.set(func(f *fakeEngine) { f.signalErr = nil })
		r := e.api.Do(t, http.MethodPost, candidatePath("svc-b", "retry-step"), map[string]any{"stepName": "merge-pr"})
		requireError(t, r, http.StatusConflict, "", "not running")
	})

	t.Run("failed step is retried", func(t *testing.T) {
		before := len(e.engine.Signals())
		r := e.api.Do(t, http.MethodPost, candidatePath("svc-b", "retry-step"), map[string]any{"stepName": "merge-pr"})
		require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
		sigs := e.engine.Signals()
		require.Len(t, sigs, before+1)
		require.Equal(t, signalCall{RunID: migrations.RunID(mig, "svc-b"), Name: migrations.SignalRetryStep, Payload: migrations.RetryRequest{StepName: "merge-pr"}}, sigs[before])
	})

	t.Run("silent and overdue steps are retried", func(t *testing.T) {
		timedOut := func(status api.StepStatus) api.StepState {
			st := step("open-pr", status)
			st.AcknowledgedAt, st.TimedOutAt = time.Unix(100, 0), time.Unix(700, 0)
			return st
		}
		e.beginRun("svc-d", timedOut(api.StepStatusInProgress))
		e.beginRun("svc-meta", timedOut(api.StepStatusPending))
		for _, cid := range []string{"svc-d", "svc-meta"} {
			before := len(e.engine.Signals())
			r := e.api.Do(t, http.MethodPost, candidatePath(cid, "retry-step"), map[string]any{"stepName": "open-pr"})
			require.Equal(t, http.StatusAccepted, r.Status, "%s: %s", cid, r.Body)
			require.Len(t, e.engine.Signals(), before+1)
		}
	})
}

// ---------------------------------------------------------------------------------------------
// PATCH .../{cid}/inputs

func TestUpdateInputs(t *testing.T) {
	e := newEnv(t)
	runCases(t, e, []errCase{
		{name: "unknown key", method: "PATCH", path: candidatePath("svc-a", "inputs"), body: map[string]any{"inputs": map[string]any{"colour": "blue"}}, status: 400, field: "inputs.colour", words: []string{`"colour"`, "not an input", "ticket"}},
		{name: "missing inputs", method: "PATCH", path: candidatePath("svc-a", "inputs"), body: map[string]any{}, status: 400, field: "inputs", words: []string{"inputs", "required"}, exact: `field "inputs": is required`},
		{name: "null inputs", method: "PATCH", path: candidatePath("svc-a", "inputs"), body: `{"inputs": null}`, status: 400, field: "inputs", exact: `field "inputs": must not be null`},
		{name: "non-string value", method: "PATCH", path: candidatePath("svc-a", "inputs"), body: map[string]any{"inputs": map[string]any{"ticket": true}}, status: 400, field: "inputs.ticket", words: []string{"string"}},
		{name: "no body", method: "PATCH", path: candidatePath("svc-a", "inputs"), body: nil, status: 400, words: []string{"request body", "required"}},
		{name: "unknown candidate", method: "PATCH", path: candidatePath("svc-zzz", "inputs"), body: map[string]any{"inputs": map[string]any{"ticket": "T-1"}}, status: 404, words: []string{`"svc-zzz"`, "not found"}},
		{name: "unknown migration", method: "PATCH", path: "/migrations/no-such-migration/candidates/svc-a/inputs", body: map[string]any{"inputs": map[string]any{"ticket": "T-1"}}, status: 404, words: []string{`"no-such-migration"`, "not found"}},
	})

	t.Run("success is visible in the candidates", func(t *testing.T) {
		r := e.api.Do(t, http.MethodPatch, candidatePath("svc-a", "inputs"), map[string]any{"inputs": map[string]any{"ticket": "T-77"}})
		require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Body)
		require.Empty(t, r.Body)
		var cs []api.Candidate
		r = e.api.Do(t, http.MethodGet, "/migrations/"+mig+"/candidates", nil)
		require.Equal(t, http.StatusOK, r.Status)
		r.JSON(t, &cs)
		i := slices.IndexFunc(cs, func(c api.Candidate) bool { return c.Id == "svc-a" })
		require.GreaterOrEqual(t, i, 0)
		require.Equal(t, map[string]string{"ticket": "T-77"}, cs[i].Inputs)
	})
}

// ---------------------------------------------------------------------------------------------
// GET .../{cid}/steps

func TestGetCandidate(t *testing.T) {
	e := newEnv(t)
	e.beginRun("svc-b", step("open-pr", api.StepStatusSucceeded), step("merge-pr", api.StepStatusPending))
	runCases(t, e, []errCase{
		{name: "unknown candidate", method: "GET", path: "/migrations/" + mig + "/candidates/svc-zzz", status: 404, words: []string{`"svc-zzz"`, "not found"}},
		{name: "unknown migration", method: "GET", path: "/migrations/no-such-migration/candidates/svc-a", status: 404, words: []string{`"no-such-migration"`, "not found"}},
		{name: "invalid candidate id", method: "GET", path: "/migrations/" + mig + "/candidates/" + strings.Repeat("c", 129), status: 400, field: "candidateId", words: []string{"too long"}},
	})

	for _, tc := range []struct {
		id     string
		status api.CandidateStatus
		run    bool
	}{{"svc-a", api.CandidateStatusNotStarted, false}, {"svc-b", api.CandidateStatusRunning, true}} {
		t.Run(tc.id, func(t *testing.T) {
			r := e.api.Do(t, http.MethodGet, "/migrations/"+mig+"/candidates/"+tc.id, nil)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			var c api.Candidate
			r.JSON(t, &c)
			require.Equal(t, tc.id, c.Id)
			require.Equal(t, tc.status, c.Status)
			require.Equal(t, tc.run, !c.Run.StartedAt.IsZero(), "run summary present only after a run began")
		})
	}
}

func TestGetSteps(t *testing.T) {
	e := newEnv(t)
	e.beginRun("svc-b", step("open-pr", api.StepStatusSucceeded), step("merge-pr", api.StepStatusPending))
	runCases(t, e, []errCase{
		{name: "never ran", method: "GET", path: candidatePath("svc-a", "steps"), status: 404, words: []string{"svc-a", "never run"}},
		{name: "unknown candidate", method: "GET", path: candidatePath("svc-zzz", "steps"), status: 404, words: []string{`"svc-zzz"`, "not found"}},
		{name: "unknown migration", method: "GET", path: "/migrations/no-such-migration/candidates/svc-a/steps", status: 404, words: []string{`"no-such-migration"`, "not found"}},
		{name: "invalid candidate id", method: "GET", path: candidatePath(strings.Repeat("c", 129), "steps"), status: 400, field: "candidateId", words: []string{"too long"}},
	})

	t.Run("success", func(t *testing.T) {
		r := e.api.Do(t, http.MethodGet, candidatePath("svc-b", "steps"), nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var rs api.RunSteps
		r.JSON(t, &rs)
		require.Equal(t, api.RunStatusRunning, rs.Status)
		require.Equal(t, migrations.RunID(mig, "svc-b"), rs.RunId)
		require.Len(t, rs.Steps, 2)
		require.Equal(t, "open-pr", rs.Steps[0].StepName)
		require.Equal(t, api.StepStatusPending, rs.Steps[1].Status)
	})
}

// ---------------------------------------------------------------------------------------------
// POST /migrations/{id}/dry-run

func TestDryRun(t *testing.T) {
	e := newEnv(t)
	path := "/migrations/" + mig + "/dry-run"
	runCases(t, e, []errCase{
		{name: "missing candidate", method: "POST", path: path, body: map[string]any{}, status: 400, field: "candidate", words: []string{"candidate", "required"}, exact: `field "candidate": is required`},
		{name: "candidate without id", method: "POST", path: path, body: map[string]any{"candidate": map[string]any{}}, status: 400, field: "candidate.id", words: []string{"id", "required"}, exact: `field "candidate.id": is required`},
		{name: "invalid candidate id", method: "POST", path: path, body: map[string]any{"candidate": map[string]any{"id": "a b"}}, status: 400, field: "candidate.id", words: []string{`"a b"`, "not valid"}},
		{name: "unknown candidate", method: "POST", path: path, body: map[string]any{"candidate": map[string]any{"id": "svc-zzz"}}, status: 404, words: []string{`"svc-zzz"`, "not found"}},
		{name: "unknown migration", method: "POST", path: "/migrations/no-such-migration/dry-run", body: map[string]any{"candidate": map[string]any{"id": "svc-a"}}, status: 404, words: []string{`"no-such-migration"`, "not found"}},
		{name: "unknown input", method: "POST", path: path, body: map[string]any{"candidate": map[string]any{"id": "svc-a"}, "inputs": map[string]any{"colour": "x"}}, status: 400, field: "inputs.colour", words: []string{`"colour"`, "not an input"}},
		{name: "no body", method: "POST", path: path, body: nil, status: 400, words: []string{"request body", "required"}},
	})
	require.Empty(t, e.migrator.DryRuns(), "no rejected dry run may reach the migrator")

	body := map[string]any{"candidate": map[string]any{"id": "svc-a"}, "inputs": map[string]any{"ticket": "T-9"}}

	t.Run("success", func(t *testing.T) {
		r := e.api.Do(t, http.MethodPost, path, body)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var res api.DryRunResult
		r.JSON(t, &res)
		require.Len(t, res.Steps, len(stepNames))
		reqs := e.migrator.DryRuns()
		require.Len(t, reqs, 1)
		require.Equal(t, "svc-a", reqs[0].Candidate.Id)
		require.Equal(t, "T-9", reqs[0].Candidate.Metadata["ticket"], "inputs reach the migrator in the candidate's metadata")
	})

	t.Run("migrator answers 500", func(t *testing.T) {
		e.migrator.ReplyToDryRun(0, func(api.DryRunRequest) (int, any) {
			return http.StatusInternalServerError, map[string]string{"error": "boom"}
		})
		defer e.migrator.ReplyToDryRun(0, nil)
		r := e.api.Do(t, http.MethodPost, path, body)
		requireError(t, r, http.StatusBadGateway, "", "boom", "500", "dry-run")
	})

	t.Run("migrator answers garbage", func(t *testing.T) {
		e.migrator.ReplyToDryRun(0, func(api.DryRunRequest) (int, any) { return http.StatusOK, "not a result" })
		defer e.migrator.ReplyToDryRun(0, nil)
		r := e.api.Do(t, http.MethodPost, path, body)
		requireError(t, r, http.StatusBadGateway, "", "not a dry-run result")
	})

	t.Run("migrator too slow", func(t *testing.T) {
		e.migrator.ReplyToDryRun(time.Second, nil)
		defer e.migrator.ReplyToDryRun(0, nil)
		start := time.Now()
		r := e.api.Do(t, http.MethodPost, path, body)
		requireError(t, r, http.StatusGatewayTimeout, "", "did not answer in time")
		require.Less(t, time.Since(start), 900*time.Millisecond, "the dry run should give up at its timeout")
	})

	t.Run("migrator unreachable", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		deadURL := dead.URL
		dead.Close()
		a := announcement(deadURL)
		r := e.api.Do(t, http.MethodPost, "/registry/announce", a)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		r = e.api.Do(t, http.MethodPost, path, body)
		requireError(t, r, http.StatusBadGateway, "", "unreachable")
	})
}

// ---------------------------------------------------------------------------------------------
// POST /event/{runId}

func TestEvent(t *testing.T) {
	e := newEnv(t)
	// svc-a never ran; svc-b waits on open-pr; svc-c has finished open-pr and waits on merge-pr;
	// svc-d's open-pr failed.
	e.beginRun("svc-b", step("open-pr", api.StepStatusInProgress))
	e.beginRun("svc-c", step("open-pr", api.StepStatusSucceeded), step("merge-pr", api.StepStatusPending))
	e.beginRun("svc-d", step("open-pr", api.StepStatusFailed))

	ev := func(cid, stepName, status string) map[string]any {
		return map[string]any{"stepName": stepName, "candidateId": cid, "status": status}
	}
	runPath := func(cid string) string { return "/event/" + migrations.RunID(mig, cid) }
	runCases(t, e, []errCase{
		{name: "runId without separator", method: "POST", path: "/event/" + mig + "-svc-b", body: ev("svc-b", "open-pr", "succeeded"), status: 400, field: "runId", words: []string{"not a run id", "migrationId__candidateId"}},
		{name: "runId with invalid candidate", method: "POST", path: "/event/" + mig + "__-x", body: ev("svc-b", "open-pr", "succeeded"), status: 400, field: "runId", words: []string{`"-x"`, "must start with a letter or digit"}},
		{name: "candidateId mismatch", method: "POST", path: runPath("svc-b"), body: ev("svc-c", "open-pr", "succeeded"), status: 400, field: "candidateId", words: []string{`"svc-c"`, "does not match", `"svc-b"`}},
		{name: "unknown run", method: "POST", path: runPath("svc-a"), body: ev("svc-a", "open-pr", "succeeded"), status: 404, words: []string{migrations.RunID(mig, "svc-a"), "not found"}},
		{name: "unknown candidate", method: "POST", path: runPath("svc-zzz"), body: ev("svc-zzz", "open-pr", "succeeded"), status: 404, exact: `candidate "svc-zzz" of migration "topic-rename": candidate not found`},
		{name: "unknown migration", method: "POST", path: "/event/nope__svc-b", body: ev("svc-b", "open-pr", "succeeded"), status: 404, exact: `migration "nope": migration not found`},
		{name: "status done", method: "POST", path: runPath("svc-b"), body: ev("svc-b", "open-pr", "done"), status: 400, field: "status", words: []string{`"done"`, "succeeded", "failed", "pending", "merged"}},
		{name: "missing status", method: "POST", path: runPath("svc-b"), body: without(ev("svc-b", "open-pr", ""), "status"), status: 400, field: "status", words: []string{"status", "required"}, exact: `field "status": is required`},
		{name: "missing stepName", method: "POST", path: runPath("svc-b"), body: without(ev("svc-b", "", "succeeded"), "stepName"), status: 400, field: "stepName", words: []string{"stepName", "required"}, exact: `field "stepName": is required`},
		{name: "missing candidateId", method: "POST", path: runPath("svc-b"), body: without(ev("", "open-pr", "succeeded"), "candidateId"), status: 400, field: "candidateId", words: []string{"candidateId", "required"}, exact: `field "candidateId": is required`},
		{name: "metadata with a non-string value", method: "POST", path: runPath("svc-b"), body: with(ev("svc-b", "open-pr", "pending"), "metadata", map[string]any{"prNumber": 12}), status: 400, field: "metadata.prNumber", words: []string{"string"}},
		{name: "malformed JSON", method: "POST", path: runPath("svc-b"), body: `{"stepName": "open-pr",`, status: 400, words: []string{"not valid JSON"}},
		{name: "unknown step", method: "POST", path: runPath("svc-b"), body: ev("svc-b", "deploy", "succeeded"), status: 400, field: "stepName", words: []string{`"deploy"`, "not a step", "open-pr, merge-pr, verify"}},
		{name: "step not yet dispatched", method: "POST", path: runPath("svc-b"), body: ev("svc-b", "merge-pr", "succeeded"), status: 409, words: []string{`"merge-pr"`, "not been dispatched", `"open-pr"`}},
		{name: "step already ended with another status", method: "POST", path: runPath("svc-c"), body: ev("svc-c", "open-pr", "failed"), status: 409, words: []string{`"open-pr"`, "already ended", "succeeded"}},
		{name: "pending after the step ended", method: "POST", path: runPath("svc-c"), body: ev("svc-c", "open-pr", "pending"), status: 409, words: []string{`"open-pr"`, "already ended"}},
		{name: "event for a failed step", method: "POST", path: runPath("svc-d"), body: ev("svc-d", "open-pr", "succeeded"), status: 409, words: []string{`"open-pr"`, "failed", "retry"}},
	})
	require.Empty(t, e.engine.Signals(), "no rejected event may reach the engine")

	t.Run("duplicate terminal event has no effect", func(t *testing.T) {
		for _, tc := range []struct{ cid, step, status string }{
			{"svc-c", "open-pr", "succeeded"},
			{"svc-d", "open-pr", "failed"},
		} {
			r := e.api.Do(t, http.MethodPost, runPath(tc.cid), ev(tc.cid, tc.step, tc.status))
			require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
			var sr api.StatusResponse
			r.JSON(t, &sr)
			require.Equal(t, "ACCEPTED", sr.Status)
			require.Contains(t, sr.Message, "duplicate")
		}
		require.Empty(t, e.engine.Signals(), "a duplicate must not be signalled")
	})

	t.Run("event for a waiting step is signalled once", func(t *testing.T) {
		body := with(ev("svc-c", "merge-pr", "merged"), "metadata", map[string]any{"prUrl": "https://git.example/pr/1"})
		r := e.api.Do(t, http.MethodPost, runPath("svc-c"), body)
		require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
		require.Equal(t, []signalCall{{
			RunID: migrations.RunID(mig, "svc-c"), Name: migrations.SignalStepEvent,
			Payload: migrations.StepEvent{StepName: "merge-pr", Status: api.StepEventStatusMerged, Metadata: map[string]string{"prUrl": "https://git.example/pr/1"}},
		}}, e.engine.Signals())
	})

	t.Run("engine has no open run", func(t *testing.T) {
		e.engine.set(func(f *fakeEngine) { delete(f.open, migrations.RunID(mig, "svc-b")) })
		r := e.api.Do(t, http.MethodPost, runPath("svc-b"), ev("svc-b", "open-pr", "succeeded"))
		requireError(t, r, http.StatusConflict, "", "not running")
	})

	t.Run("finished run takes no more events", func(t *testing.T) {
		e.finishRun("svc-b", api.RunStatusCancelled, api.CandidateStatusNotStarted)
		r := e.api.Do(t, http.MethodPost, runPath("svc-b"), ev("svc-b", "open-pr", "succeeded"))
		requireError(t, r, http.StatusConflict, "", "cancelled", "no more events")
	})
}

// ---------------------------------------------------------------------------------------------
// Routing, health

func TestUnknownRoutes(t *testing.T) {
	e := newEnv(t)
	runCases(t, e, []errCase{
		{name: "unknown path", method: "GET", path: "/no/such/thing", status: 404, words: []string{"no such endpoint", "/no/such/thing"}},
		{name: "unknown path under migrations", method: "GET", path: "/migrations/" + mig + "/candidates/svc-a/nope", status: 404, words: []string{"no such endpoint"}},
		{name: "DELETE /migrations", method: "DELETE", path: "/migrations", status: 405, words: []string{"DELETE", "not allowed", "/migrations"}},
		{name: "PUT announce", method: "PUT", path: "/registry/announce", body: map[string]any{}, status: 405, words: []string{"PUT", "not allowed"}},
		{name: "GET start", method: "GET", path: candidatePath("svc-a", "start"), status: 405, words: []string{"GET", "not allowed"}},
	})
}

func TestHealth(t *testing.T) {
	e := newEnv(t)

	r := e.api.Do(t, http.MethodGet, "/healthz", nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.JSONEq(t, `{"status":"ok"}`, string(r.Body))

	r = e.api.Do(t, http.MethodGet, "/readyz", nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var ready api.Readiness
	r.JSON(t, &ready)
	require.Equal(t, api.ReadinessStatusReady, ready.Status)
	require.Equal(t, map[string]string{"store": "ok", "temporal": "ok"}, ready.Checks)

	e.engine.set(func(f *fakeEngine) { f.pingErr = errors.New("temporal frontend unreachable") })
	r = e.api.Do(t, http.MethodGet, "/readyz", nil)
	require.Equal(t, http.StatusServiceUnavailable, r.Status, "%s", r.Body)
	ready = api.Readiness{}
	r.JSON(t, &ready)
	require.Equal(t, api.ReadinessStatusUnavailable, ready.Status)
	require.Equal(t, "ok", ready.Checks["store"])
	require.Contains(t, ready.Checks["temporal"], "unreachable")
}

// ---------------------------------------------------------------------------------------------
// The spec and the routes agree.

type operation struct{ method, path string }

func specOperations(t *testing.T) []operation {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(schemas.OpenAPI)
	require.NoError(t, err)
	var ops []operation
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, operation{method: strings.ToUpper(method), path: path})
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].path != ops[j].path {
			return ops[i].path < ops[j].path
		}
		return ops[i].method < ops[j].method
	})
	require.NotEmpty(t, ops)
	return ops
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// concrete fills a spec path's parameters with the fixture's ids.
func concrete(path string) string {
	return pathParam.ReplaceAllStringFunc(path, func(p string) string {
		switch p {
		case "{migrationId}":
			return mig
		case "{candidateId}":
			return "svc-a"
		case "{runId}":
			return migrations.RunID(mig, "svc-a")
		}
		return "x"
	})
}

// call is a.Do, but an event stream (GET .../events) is opened, its status (and the body of a
// refusal) read, and closed.
func call(t *testing.T, a *testsupport.API, method, path string, body any) testsupport.Response {
	t.Helper()
	if method == http.MethodGet && strings.HasSuffix(strings.SplitN(path, "?", 2)[0], "/events") {
		s := a.Stream(t, path, nil)
		s.Close()
		return testsupport.Response{Status: s.Status, Body: s.Body, Header: s.Header}
	}
	return a.Do(t, method, path, body)
}

func TestEverySpecOperationIsRouted(t *testing.T) {
	e := newEnv(t)
	for _, op := range specOperations(t) {
		t.Run(op.method+" "+op.path, func(t *testing.T) {
			var body any
			if op.method != http.MethodGet {
				body = map[string]any{}
			}
			r := call(t, e.api, op.method, concrete(op.path), body)
			require.NotEqual(t, http.StatusMethodNotAllowed, r.Status, "%s", r.Body)
			require.NotContains(t, r.Error(), "no such endpoint", "status %d", r.Status)
			require.Less(t, r.Status, 500, "%s", r.Body)
		})
	}
}

func TestEveryRouteIsInTheSpec(t *testing.T) {
	e := newEnv(t)
	engine, ok := e.handler.(*gin.Engine)
	require.True(t, ok, "handler.New is expected to return a *gin.Engine, got %T", e.handler)
	ginParam := regexp.MustCompile(`:([A-Za-z0-9_]+)`)
	var routes []operation
	for _, ri := range engine.Routes() {
		routes = append(routes, operation{method: ri.Method, path: ginParam.ReplaceAllString(ri.Path, "{$1}")})
	}
	sort.Slice(routes, func(i, j int) bool {
		if routes[i].path != routes[j].path {
			return routes[i].path < routes[j].path
		}
		return routes[i].method < routes[j].method
	})
	require.Equal(t, specOperations(t), routes)
}

// TestNoServerErrorForBadInput throws malformed bodies and odd path values at every operation:
// each must be answered with a JSON error below 500.
func TestNoServerErrorForBadInput(t *testing.T) {
	e := newEnv(t)
	e.beginRun("svc-b", step("open-pr", api.StepStatusFailed))
	bodies := []string{"", "null", "[]", `"x"`, "42", "true", "{", "{}", `{"candidates": null}`, `{"candidates": [null]}`,
		`{"inputs": null}`, `{"inputs": {"": ""}}`, `{"stepName": null}`, `{"candidate": null}`, `{"candidate": {"id": null}}`,
		`{"steps": [null]}`, `{"status": null, "stepName": "open-pr", "candidateId": "svc-b"}`, "\x00\x01", `{"a":1}{"b":2}`}
	idValues := map[string][]string{
		"{migrationId}": {mig, "no-such", "a__b", "%2e%2e", "x%00"},
		"{candidateId}": {"svc-b", "no-such", "_x"},
		"{runId}":       {mig + "__svc-b", "a__", "__b", "no__such", "a__b__c"},
		"{rolloutId}":   {"ro-1", "no-such", "BAD", "x%00"},
	}
	for _, op := range specOperations(t) {
		paths := []string{op.path}
		for param, values := range idValues {
			var next []string
			for _, p := range paths {
				if !strings.Contains(p, param) {
					next = append(next, p)
					continue
				}
				for _, v := range values {
					next = append(next, strings.ReplaceAll(p, param, v))
				}
			}
			paths = next
		}
		for _, p := range paths {
			for _, b := range bodies {
				var body any = b
				if op.method == http.MethodGet {
					body = nil
				}
				r := call(t, e.api, op.method, p, body)
				require.Less(t, r.Status, 500, "%s %s %q: %s", op.method, p, b, r.Body)
				if r.Status >= 400 {
					require.NotEmpty(t, r.Error(), "%s %s %q: error body %q", op.method, p, b, r.Body)
				}
				if op.method == http.MethodGet {
					break
				}
			}
		}
	}
}

func TestBodyLimits(t *testing.T) {
	e := newEnv(t)
	big := `{"stepName":"open-pr","candidateId":"svc-a","status":"pending","metadata":{"x":"` + strings.Repeat("a", handler.MaxSmallBodyBytes) + `"}}`
	r := e.api.Do(t, http.MethodPost, "/event/"+mig+"__svc-a", big)
	require.Equal(t, http.StatusRequestEntityTooLarge, r.Status, string(r.Body))
	require.Contains(t, r.Error(), "larger than the limit")

	// An announcement may be larger, up to MaxBodyBytes.
	ann := announcement(e.migrator.URL)
	ann["id"] = "too-big"
	ann["description"] = strings.Repeat("d", 1000)
	cands := []any{}
	for i := 0; len(cands)*200 < handler.MaxBodyBytes+1<<20; i++ {
		cands = append(cands, map[string]any{"id": fmt.Sprintf("c%07d", i), "kind": "service", "metadata": map[string]any{"notes": strings.Repeat("n", 160)}})
	}
	ann["candidates"] = cands
	delete(ann, "id")
	rest, err := json.Marshal(ann)
	require.NoError(t, err)
	// The id first, as a migrator written by hand sends it: the log names the migration.
	r = e.api.Do(t, http.MethodPost, "/registry/announce", `{"id":"too-big",`+string(rest[1:]))
	requireError(t, r, http.StatusRequestEntityTooLarge, "", "larger than the limit of 16777216 bytes")
	require.Contains(t, e.logs.String(), "migration=too-big", "a refused announcement is logged with its migration")
	r = e.api.Do(t, http.MethodGet, "/migrations/too-big", nil)
	require.Equal(t, http.StatusNotFound, r.Status)
}

// TestLargeBodiesWaitTheirTurn: at most MaxLargeBodies announcements are read at once; the
// next one is read when one of them is done. The bodies are read by the handler itself (no
// network), so a read is the handler's.
func TestLargeBodiesWaitTheirTurn(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	serve := func(first chan<- struct{}, gate <-chan struct{}) *sync.WaitGroup {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest(http.MethodPost, "/registry/announce", &gatedReader{first: first, gate: gate, rest: strings.NewReader(`{}`)})
			req.Header.Set("Content-Type", "application/json")
			e.handler.ServeHTTP(httptest.NewRecorder(), req)
		}()
		return &wg
	}
	started := make(chan struct{}, handler.MaxLargeBodies)
	var held []*sync.WaitGroup
	for range handler.MaxLargeBodies {
		held = append(held, serve(started, release))
	}
	for range handler.MaxLargeBodies {
		<-started // each holds a slot, its body half read
	}
	fifth := make(chan struct{}, 1)
	last := serve(fifth, nil)
	select {
	case <-fifth:
		t.Fatal("a fifth large body was read while four were being handled")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	<-fifth
	for _, wg := range append(held, last) {
		wg.Wait()
	}
}

// gatedReader signals its first read on first, then waits for gate (nil: no wait) before
// giving rest.
type gatedReader struct {
	first   chan<- struct{}
	gate    <-chan struct{}
	rest    io.Reader
	started bool
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if !g.started {
		g.started = true
		g.first <- struct{}{}
		if g.gate != nil {
			<-g.gate
		}
	}
	return g.rest.Read(p)
}

// TestRepeatedPendingIsADuplicate: a progress report that changes nothing costs the run no
// signal (and so no history); one with new metadata is delivered.
func TestRepeatedPendingIsADuplicate(t *testing.T) {
	e := newEnv(t)
	st := step("open-pr", api.StepStatusPending)
	st.Metadata = map[string]string{"prUrl": "https://git.example/pr/1"}
	e.beginRun("svc-a", st)
	post := func(md map[string]string) testsupport.Response {
		return e.api.Do(t, http.MethodPost, "/event/"+mig+"__svc-a", api.StepStatusEvent{StepName: "open-pr", CandidateId: "svc-a", Status: api.StepEventStatusPending, Metadata: md})
	}
	r := post(map[string]string{"prUrl": "https://git.example/pr/1"})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	require.Contains(t, string(r.Body), "duplicate")
	require.Empty(t, e.engine.Signals())
	r = post(map[string]string{"prUrl": "https://git.example/pr/1", "checks": "green"})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	require.Len(t, e.engine.Signals(), 1)
}

func TestListCandidatesFilterAndPage(t *testing.T) {
	e := newEnv(t)
	e.beginRun("svc-b", step("open-pr", api.StepStatusInProgress))
	list := func(query string) ([]string, string, testsupport.Response) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, e.api.Base+"/migrations/"+mig+"/candidates"+query, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		r := testsupport.Response{Status: resp.StatusCode, Body: body}
		if r.Status != http.StatusOK {
			return nil, "", r
		}
		var cs []api.Candidate
		r.JSON(t, &cs)
		ids := make([]string, len(cs))
		for i, c := range cs {
			ids[i] = c.Id
		}
		return ids, resp.Header.Get("X-Total-Count"), r
	}
	cases := []struct {
		query string
		ids   []string
		total string
	}{
		{"", []string{"svc-a", "svc-b", "svc-c", "svc-d", "svc-meta"}, ""},
		{"?status=running", []string{"svc-b"}, "1"},
		{"?status=not_started&limit=2", []string{"svc-a", "svc-c"}, "4"},
		{"?status=not_started&offset=2&limit=2", []string{"svc-d", "svc-meta"}, "4"},
		{"?offset=10", []string{}, "5"},
		{"?q=META", []string{"svc-meta"}, "1"},
		{"?q=T-1", []string{"svc-meta"}, "1"}, // a metadata value
		{"?q=nothing-matches", []string{}, "0"},
	}
	for _, tc := range cases {
		ids, total, _ := list(tc.query)
		require.Equal(t, tc.ids, ids, tc.query)
		require.Equal(t, tc.total, total, tc.query)
	}
	// The page follows changes: svc-a starts running.
	e.beginRun("svc-a", step("open-pr", api.StepStatusInProgress))
	ids, total, _ := list("?status=running")
	require.Equal(t, []string{"svc-a", "svc-b"}, ids)
	require.Equal(t, "2", total)

	for _, bad := range []struct{ query, field, word string }{
		{"?limit=0", "limit", "limit"},
		{"?limit=5000", "limit", "limit"},
		{"?offset=-1", "offset", "offset"},
		{"?limit=ten", "limit", "limit"},
		{"?status=done", "status", "not_started"},
	} {
		_, _, r := list(bad.query)
		requireError(t, r, http.StatusBadRequest, bad.field, bad.word)
	}
	_, _, r := list("?status=running&q=x")
	require.Equal(t, http.StatusOK, r.Status)
	r = e.api.Do(t, http.MethodGet, "/migrations/nope/candidates?limit=5", nil)
	requireError(t, r, http.StatusNotFound, "", "nope")
}

// ---------------------------------------------------------------------------------------------
// GET /migrations/{id}/progress and the attention filter: bad input

func TestProgressBadInput(t *testing.T) {
	e := newEnv(t)
	path := "/migrations/" + mig + "/progress"
	runCases(t, e, []errCase{
		{name: "too few points", method: "GET", path: path + "?points=1", status: 400, field: "points", words: []string{"points", "at least 2"}},
		{name: "too many points", method: "GET", path: path + "?points=501", status: 400, field: "points", words: []string{"points", "at most 500"}},
		{name: "points not a number", method: "GET", path: path + "?points=many", status: 400, field: "points", words: []string{"points", `"many"`, "integer"}},
		{name: "empty points", method: "GET", path: path + "?points=", status: 400, field: "points", words: []string{"points", "empty"}},
		{name: "unknown migration", method: "GET", path: "/migrations/no-such-migration/progress", status: 404, words: []string{`"no-such-migration"`, "not found"}},
		{name: "invalid migration id", method: "GET", path: "/migrations/bad__id/progress", status: 400, field: "migrationId", words: []string{`"bad__id"`, "not valid"}},
	})

	t.Run("nothing started yet", func(t *testing.T) {
		r := e.api.Do(t, http.MethodGet, path, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		require.JSONEq(t, `{"total":5,"points":[]}`, string(r.Body))
	})
}

func TestAttentionFilterBadInput(t *testing.T) {
	e := newEnv(t)
	path := "/migrations/" + mig + "/candidates"
	runCases(t, e, []errCase{
		{name: "not a boolean", method: "GET", path: path + "?attention=maybe", status: 400, field: "attention", words: []string{"attention", `"maybe"`, "true or false"}},
		{name: "empty", method: "GET", path: path + "?attention=", status: 400, field: "attention", words: []string{"attention", "empty"}},
		{name: "unknown migration", method: "GET", path: "/migrations/no-such-migration/candidates?attention=true", status: 404, words: []string{`"no-such-migration"`, "not found"}},
	})
}

// TestRunSummaryAndAttention: the candidate list shows each candidate's latest run, the
// attention filter selects the running candidates that need an operator, and the migration's
// counts (alone and in the list of migrations) count them.
func TestRunSummaryAndAttention(t *testing.T) {
	e := newEnv(t)
	failed := step("merge-pr", api.StepStatusFailed)
	failed.LastError = "conflict"
	e.beginRun("svc-a", step("open-pr", api.StepStatusSucceeded), failed)
	e.beginRun("svc-b", step("open-pr", api.StepStatusPending))
	e.beginRun("svc-c", step("open-pr", api.StepStatusFailed))
	e.finishRun("svc-c", api.RunStatusCancelled, api.CandidateStatusNotStarted)

	list := func(query string) ([]api.Candidate, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, e.api.Base+"/migrations/"+mig+"/candidates"+query, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var cs []api.Candidate
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&cs))
		return cs, resp.Header.Get("X-Total-Count")
	}
	all, _ := list("")
	byID := map[string]api.Candidate{}
	for _, c := range all {
		byID[c.Id] = c
	}
	a := byID["svc-a"].Run
	require.Equal(t, api.RunStatusRunning, a.Status)
	require.Equal(t, "merge-pr", a.StepName)
	require.Equal(t, api.StepStatusFailed, a.StepStatus)
	require.Equal(t, api.AttentionFailed, a.Attention)
	require.False(t, a.StartedAt.IsZero())
	require.Equal(t, api.RunSummary{Status: api.RunStatusRunning, StartedAt: byID["svc-b"].Run.StartedAt, StepName: "open-pr", StepStatus: api.StepStatusPending}, byID["svc-b"].Run)
	c := byID["svc-c"]
	require.Equal(t, api.CandidateStatusNotStarted, c.Status)
	require.Equal(t, api.RunStatusCancelled, c.Run.Status)
	require.Empty(t, c.Run.Attention)
	require.Equal(t, api.RunSummary{}, byID["svc-d"].Run, "never ran")

	// A candidate that never ran has no "run" at all in the JSON.
	r := e.api.Do(t, http.MethodGet, "/migrations/"+mig+"/candidates?q=svc-d", nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.NotContains(t, string(r.Body), `"run"`)

	cs, total := list("?attention=true")
	require.Equal(t, []string{"svc-a"}, candidateIDs(cs))
	require.Equal(t, "1", total)
	cs, total = list("?attention=false")
	require.Equal(t, []string{"svc-b", "svc-c", "svc-d", "svc-meta"}, candidateIDs(cs))
	require.Equal(t, "4", total)
	cs, _ = list("?attention=false&status=running")
	require.Equal(t, []string{"svc-b"}, candidateIDs(cs))

	counts := func() (api.CandidateCounts, api.CandidateCounts) {
		var m api.Migration
		r := e.api.Do(t, http.MethodGet, "/migrations/"+mig, nil)
		require.Equal(t, http.StatusOK, r.Status)
		r.JSON(t, &m)
		var ms api.MigrationList
		r = e.api.Do(t, http.MethodGet, "/migrations", nil)
		require.Equal(t, http.StatusOK, r.Status)
		r.JSON(t, &ms)
		return m.Counts, ms.Migrations[0].Counts
	}
	one, inList := counts()
	require.Equal(t, api.CandidateCounts{NotStarted: 3, Running: 2, Attention: 1}, one)
	require.Equal(t, one, inList)

	// The summary, the filter and the counts follow the run: a manual wait is attention too,
	// and a retried step is not.
	ctx := context.Background()
	require.NoError(t, e.store.PutStepState(ctx, mig, "svc-b", execID("svc-b"), step("open-pr", api.StepStatusPending), api.AttentionWaiting))
	require.NoError(t, e.store.PutStepState(ctx, mig, "svc-a", execID("svc-a"), step("merge-pr", api.StepStatusInProgress), ""))
	cs, _ = list("?attention=true")
	require.Equal(t, []string{"svc-b"}, candidateIDs(cs))
	require.Equal(t, api.AttentionWaiting, cs[0].Run.Attention)
	one, inList = counts()
	require.Equal(t, 1, one.Attention)
	require.Equal(t, 1, inList.Attention)
	e.finishRun("svc-b", api.RunStatusCompleted, api.CandidateStatusCompleted)
	one, _ = counts()
	require.Equal(t, api.CandidateCounts{NotStarted: 3, Running: 1, Completed: 1}, one)
}

func candidateIDs(cs []api.Candidate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Id
	}
	return out
}

// TestProgress: the series counts each candidate's latest run, from the first start to now.
func TestProgress(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	t0 := time.Now().UTC().Add(-time.Hour)
	begin := func(cid string, started time.Time) {
		require.NoError(t, e.store.BeginRun(ctx, migrations.RunRecord{RunID: migrations.RunID(mig, cid), ExecutionID: execID(cid),
			MigrationID: mig, CandidateID: cid, Status: api.RunStatusRunning, StepNames: stepNames, StartedAt: started}))
	}
	begin("svc-a", t0)
	require.NoError(t, e.store.FinishRun(ctx, mig, "svc-a", execID("svc-a"), api.RunStatusCompleted, api.CandidateStatusCompleted, t0.Add(30*time.Minute)))
	begin("svc-b", t0.Add(20*time.Minute))
	begin("svc-c", t0.Add(40*time.Minute))
	require.NoError(t, e.store.FinishRun(ctx, mig, "svc-c", execID("svc-c"), api.RunStatusCancelled, api.CandidateStatusNotStarted, t0.Add(50*time.Minute)))

	get := func(query string) api.Progress {
		t.Helper()
		r := e.api.Do(t, http.MethodGet, "/migrations/"+mig+"/progress"+query, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var p api.Progress
		r.JSON(t, &p)
		return p
	}
	before := time.Now()
	p := get("?points=7")
	require.Equal(t, 5, p.Total)
	require.Len(t, p.Points, 7)
	require.Equal(t, t0, p.Points[0].At, "the series starts at the first start")
	last := p.Points[6]
	require.WithinRange(t, last.At, before.Add(-time.Second), time.Now(), "the series ends now")
	require.Equal(t, 3, last.Started, "cancelled runs count as started")
	require.Equal(t, 1, last.Completed)
	require.Equal(t, api.ProgressPoint{At: t0, Started: 1, Completed: 0}, p.Points[0])
	for i := 1; i < len(p.Points); i++ {
		require.True(t, p.Points[i].At.After(p.Points[i-1].At))
		require.GreaterOrEqual(t, p.Points[i].Started, p.Points[i-1].Started)
		require.GreaterOrEqual(t, p.Points[i].Completed, p.Points[i-1].Completed)
		require.LessOrEqual(t, p.Points[i].Completed, p.Points[i].Started)
	}
	// Every ten minutes from t0, give or take how long "now" lasts: svc-b at 20, svc-a done at 30.
	require.Equal(t, []int{1, 1, 2, 2, 3, 3, 3}, startedCounts(p))
	require.Equal(t, []int{0, 0, 0, 1, 1, 1, 1}, completedCounts(p))

	require.Len(t, get("").Points, migrations.DefaultProgressPoints)
}

func startedCounts(p api.Progress) []int {
	out := make([]int, len(p.Points))
	for i, pt := range p.Points {
		out[i] = pt.Started
	}
	return out
}

func completedCounts(p api.Progress) []int {
	out := make([]int, len(p.Points))
	for i, pt := range p.Points {
		out[i] = pt.Completed
	}
	return out
}

// TestStepMetadataBounds: each event is within its own bounds, but the step keeps at most 64
// keys and 64 KiB after merging; an event beyond that is refused with 413 and not signalled.
func TestStepMetadataBounds(t *testing.T) {
	e := newEnv(t)
	st := step("open-pr", api.StepStatusPending)
	st.Metadata = map[string]string{}
	for i := range 60 {
		st.Metadata[fmt.Sprintf("progress-%02d", i)] = "ok"
	}
	e.beginRun("svc-a", st)
	path := "/event/" + mig + "__svc-a"
	event := func(md map[string]string) testsupport.Response {
		return e.api.Do(t, http.MethodPost, path, api.StepStatusEvent{StepName: "open-pr", CandidateId: "svc-a", Status: api.StepEventStatusPending, Metadata: md})
	}
	five := map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"}
	requireError(t, event(five), http.StatusRequestEntityTooLarge, "metadata", "65 keys", "at most 64 keys")
	r := event(map[string]string{"progress-00": "done", "prUrl": "https://git.example/pr/1"})
	require.Equal(t, http.StatusAccepted, r.Status, "overwriting a key and adding one stays within 64: %s", r.Body)

	large := step("open-pr", api.StepStatusPending)
	large.Metadata = map[string]string{}
	for i := range 7 {
		large.Metadata[fmt.Sprintf("log-%d", i)] = strings.Repeat("x", 8000)
	}
	e.beginRun("svc-b", large)
	r = e.api.Do(t, http.MethodPost, "/event/"+mig+"__svc-b", api.StepStatusEvent{StepName: "open-pr", CandidateId: "svc-b", Status: api.StepEventStatusPending,
		Metadata: map[string]string{"log-7": strings.Repeat("y", 8000), "log-8": strings.Repeat("y", 8000)}})
	requireError(t, r, http.StatusRequestEntityTooLarge, "metadata", "bytes", "at most 65536 bytes")
	require.Len(t, e.engine.Signals(), 1, "only the event within the bounds reached the run")
	require.Contains(t, e.logs.String(), "refused a migrator's request")

	// The step's end is taken all the same, without the metadata but the failure's reason: the
	// migrator would not send it again.
	r = e.api.Do(t, http.MethodPost, "/event/"+mig+"__svc-b", api.StepStatusEvent{StepName: "open-pr", CandidateId: "svc-b", Status: api.StepEventStatusFailed,
		Metadata: map[string]string{"error": "CI is red", "log-7": strings.Repeat("y", 8000), "log-8": strings.Repeat("y", 8000)}})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	signals := e.engine.Signals()
	require.Len(t, signals, 2)
	ev := signals[1].Payload.(migrations.StepEvent)
	require.Equal(t, api.StepEventStatusFailed, ev.Status)
	require.Equal(t, map[string]string{"error": "CI is red"}, ev.Metadata)
}

// TestKeysMatchExactly: the decoder sees what the validator saw. A key that differs from a
// listed field only in case is an unknown field: ignored, never stored in that field.
func TestKeysMatchExactly(t *testing.T) {
	e := newEnv(t)
	e.beginRun("svc-a", step("open-pr", api.StepStatusInProgress))
	huge := map[string]string{}
	for i := range 101 {
		huge[fmt.Sprintf("k%03d", i)] = strings.Repeat("v", 8000)
	}
	body := map[string]any{"stepName": "open-pr", "candidateId": "svc-a", "status": "pending", "METADATA": huge, "Metadata": map[string]string{"x": "y"}}
	r := e.api.Do(t, http.MethodPost, "/event/"+mig+"__svc-a", body)
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	signals := e.engine.Signals()
	require.Len(t, signals, 1)
	ev, ok := signals[0].Payload.(migrations.StepEvent)
	require.True(t, ok)
	require.Equal(t, api.StepEventStatusPending, ev.Status)
	require.Empty(t, ev.Metadata, "a case-variant key must not reach the metadata")

	// A submission's candidate with "Metadata" or "ID" keeps only the exact keys.
	r = e.api.Do(t, http.MethodPost, "/migrations/"+mig+"/candidates", `{"candidates":[{"id":"svc-x","ID":"other","kind":"service","Metadata":{"smuggled":"yes"}}]}`)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	c, err := e.store.GetCandidate(context.Background(), mig, "svc-x")
	require.NoError(t, err)
	require.Empty(t, c.Metadata)
	_, err = e.store.GetCandidate(context.Background(), mig, "other")
	require.ErrorIs(t, err, migrations.ErrCandidateNotFound)
}

// TestMigratorRefusalsAreLogged: every 4xx on a migrator's route is logged at warn with the
// migration or run, the field and the reason; an operator's 4xx is not.
func TestMigratorRefusalsAreLogged(t *testing.T) {
	e := newEnv(t)
	good := announcement(e.migrator.URL)
	good["id"] = "refused-one"
	good["overview"] = []any{map[string]any{"name": "Change"}}
	r := e.api.Do(t, http.MethodPost, "/registry/announce", good)
	require.Equal(t, http.StatusBadRequest, r.Status, string(r.Body))
	r = e.api.Do(t, http.MethodPost, "/migrations/no-such/candidates", `{"candidates":[]}`)
	require.Equal(t, http.StatusNotFound, r.Status, string(r.Body))
	r = e.api.Do(t, http.MethodPost, "/event/"+mig+"__svc-a", `{"stepName":"open-pr","candidateId":"svc-b","status":"pending"}`)
	require.Equal(t, http.StatusBadRequest, r.Status, string(r.Body))
	r = e.api.Do(t, http.MethodPost, candidatePath("svc-a", "retry-step"), `{}`)
	require.Equal(t, http.StatusBadRequest, r.Status, string(r.Body))

	var refusals []string
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(line, "refused a migrator's request") {
			require.Contains(t, line, "level=WARN")
			refusals = append(refusals, line)
		}
	}
	require.Len(t, refusals, 3, "one line per refused migrator request:\n%s", e.logs.String())
	require.Contains(t, refusals[0], "migration=refused-one")
	require.Contains(t, refusals[0], "field=overview[0]")
	require.Contains(t, refusals[0], "must be of type string")
	require.Contains(t, refusals[0], "status=400")
	require.Contains(t, refusals[1], "migration=no-such")
	require.Contains(t, refusals[1], "status=404")
	require.Contains(t, refusals[2], "run="+mig+"__svc-a")
	require.Contains(t, refusals[2], "field=candidateId")
}

// TestStoredStepsWithoutAppNameTheMigration: steps stored before steps carried a migratorApp go
// out naming the migration id as their app (dry runs here; dispatches in the activity), and a
// migratorUrl comes back as the migrator sent it.
func TestStoredStepsWithoutAppNameTheMigration(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	require.NoError(t, e.store.SaveMigration(ctx, api.Migration{Id: "legacy", Name: "Legacy", MigratorUrl: e.migrator.URL + "/",
		Steps: []api.StepDefinition{{Name: "one"}, {Name: "two", MigratorApp: "other"}}, CreatedAt: time.Now()}))
	require.NoError(t, e.store.MergeCandidates(ctx, "legacy", []api.CandidateInput{
		{Id: "a", Kind: "service", Steps: []api.StepDefinition{{Name: "own"}}},
		{Id: "b", Kind: "service"},
	}, time.Now()))
	for _, cid := range []string{"a", "b"} {
		r := e.api.Do(t, http.MethodPost, "/migrations/legacy/dry-run", map[string]any{"candidate": map[string]any{"id": cid}})
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	}
	runs := e.migrator.DryRuns()
	require.Len(t, runs, 2)
	require.Equal(t, []api.StepDefinition{{Name: "own", MigratorApp: "legacy"}}, runs[0].Steps)
	require.Equal(t, runs[0].Steps, runs[0].Candidate.Steps)
	require.Equal(t, []api.StepDefinition{{Name: "one", MigratorApp: "legacy"}, {Name: "two", MigratorApp: "other"}}, runs[1].Steps)

	good := announcement(e.migrator.URL + "/")
	require.Equal(t, http.StatusOK, e.api.Do(t, http.MethodPost, "/registry/announce", good).Status)
	var m api.Migration
	r := e.api.Do(t, http.MethodGet, "/migrations/"+mig, nil)
	r.JSON(t, &m)
	require.Equal(t, e.migrator.URL+"/", m.MigratorUrl)
}

// TestNullMeansAbsent: a migrator whose JSON library writes null for unset optional fields
// (Jackson's and pydantic's default) is understood; null for a required field is refused.
func TestNullMeansAbsent(t *testing.T) {
	e := newEnv(t)
	body := `{"id":"nulls","name":"N","description":"d","overview":null,"requiredInputs":null,"migratorUrl":"` + e.migrator.URL + `",
		"steps":[{"name":"one","migratorApp":"a","description":null,"type":null,"config":null}],
		"candidates":[{"id":"c","kind":"service","metadata":null,"files":null,"steps":null,"status":null}]}`
	r := e.api.Do(t, http.MethodPost, "/registry/announce", body)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	c, err := e.store.GetCandidate(context.Background(), "nulls", "c")
	require.NoError(t, err)
	require.Equal(t, api.CandidateStatusNotStarted, c.Status)
	r = e.api.Do(t, http.MethodPost, "/registry/announce", strings.Replace(body, `"name":"N"`, `"name":null`, 1))
	requireError(t, r, http.StatusBadRequest, "name", "must not be null")
}

func TestMigrationsWithoutCandidates(t *testing.T) {
	e := newEnv(t)
	e.beginRun("svc-b", step("open-pr", api.StepStatusFailed))
	for _, path := range []string{"/migrations?candidates=false", "/migrations/" + mig + "?candidates=false"} {
		r := e.api.Do(t, http.MethodGet, path, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var m api.Migration
		if strings.HasPrefix(path, "/migrations?") {
			var list api.MigrationList
			r.JSON(t, &list)
			require.Len(t, list.Migrations, 1)
			m = list.Migrations[0]
		} else {
			r.JSON(t, &m)
		}
		require.NotNil(t, m.Candidates, "%s: candidates is an empty list, not null", path)
		require.Empty(t, m.Candidates, path)
		require.Equal(t, 1, m.Counts.Running, path)
		require.Equal(t, 1, m.Counts.Attention, "%s: the failed run needs an operator", path)
		require.Equal(t, 4, m.Counts.NotStarted, path)
	}
	var full api.Migration
	e.api.Do(t, http.MethodGet, "/migrations/"+mig+"?candidates=true", nil).JSON(t, &full)
	require.Len(t, full.Candidates, 5)
	runCases(t, e, []errCase{
		{name: "not a boolean", method: "GET", path: "/migrations?candidates=maybe", status: 400, field: "candidates", words: []string{"candidates", "maybe"}},
		{name: "not a boolean, one migration", method: "GET", path: "/migrations/" + mig + "?candidates=2", status: 400, field: "candidates"},
	})
}

func TestHistory(t *testing.T) {
	e := newEnv(t)
	e.beginRun("svc-b", step("open-pr", api.StepStatusFailed))
	path := "/migrations/" + mig + "/candidates/svc-b/history"
	r := e.api.Do(t, http.MethodGet, path, nil)
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	var page api.HistoryPage
	r.JSON(t, &page)
	var kinds []api.HistoryEventKind
	for _, ev := range page.Events {
		kinds = append(kinds, ev.Kind)
	}
	require.Equal(t, []api.HistoryEventKind{api.HistoryFailed, api.HistoryDispatched, api.HistoryRunStarted}, kinds, "newest first")
	require.Empty(t, page.Next)

	r = e.api.Do(t, http.MethodGet, path+"?limit=2", nil)
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	r.JSON(t, &page)
	require.Len(t, page.Events, 2)
	require.NotEmpty(t, page.Next)
	r = e.api.Do(t, http.MethodGet, path+"?limit=2&before="+page.Next, nil)
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	r.JSON(t, &page)
	require.Len(t, page.Events, 1)
	require.Equal(t, api.HistoryRunStarted, page.Events[0].Kind)

	r = e.api.Do(t, http.MethodGet, "/migrations/"+mig+"/candidates/svc-a/history", nil)
	require.Equal(t, http.StatusOK, r.Status, "a candidate that never ran: body %s", r.Body)
	require.JSONEq(t, `{"events": []}`, string(r.Body))

	for _, bad := range []struct{ query, field string }{
		{"limit=0", "limit"}, {"limit=1001", "limit"}, {"limit=ten", "limit"},
		{"before=abc", "before"}, {"before=1-2-3", "before"}, {"before=-1", "before"},
	} {
		t.Run(bad.query, func(t *testing.T) {
			r := e.api.Do(t, http.MethodGet, path+"?"+bad.query, nil)
			requireError(t, r, http.StatusBadRequest, bad.field)
		})
	}
	requireError(t, e.api.Do(t, http.MethodGet, "/migrations/"+mig+"/candidates/no-such/history", nil), http.StatusNotFound, "", "no-such")
	requireError(t, e.api.Do(t, http.MethodGet, "/migrations/no-such/candidates/svc-b/history", nil), http.StatusNotFound, "", "no-such")
}

func TestInsights(t *testing.T) {
	e := newEnv(t)
	e.beginRun("svc-b", step("open-pr", api.StepStatusFailed))
	r := e.api.Do(t, http.MethodGet, "/migrations/"+mig+"/insights?days=7", nil)
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	var in api.Insights
	r.JSON(t, &in)
	require.Len(t, in.Days, 7)
	require.Equal(t, 1, in.Days[6].Started)
	require.Len(t, in.RecentFailures, 1)
	require.Equal(t, "svc-b", in.RecentFailures[0].CandidateId)
	for _, bad := range []string{"days=0", "days=366", "days=week"} {
		requireError(t, e.api.Do(t, http.MethodGet, "/migrations/"+mig+"/insights?"+bad, nil), http.StatusBadRequest, "days")
	}
	requireError(t, e.api.Do(t, http.MethodGet, "/migrations/no-such/insights", nil), http.StatusNotFound, "", "no-such")
}

func TestInsightsOverview(t *testing.T) {
	e := newEnv(t)
	e.beginRun("svc-b", step("open-pr", api.StepStatusFailed))
	r := e.api.Do(t, http.MethodGet, "/insights?days=7", nil)
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	var in api.InsightsOverview
	r.JSON(t, &in)
	require.Len(t, in.Days, 7)
	require.Equal(t, 1, in.Days[6].Started)
	require.Len(t, in.Migrations, 1)
	require.Equal(t, mig, in.Migrations[0].MigrationId)
	require.Equal(t, 1, in.Migrations[0].Failed)
	require.Equal(t, "open-pr", in.Migrations[0].MostFailingStep)
	require.Len(t, in.RecentFailures, 1)
	require.Equal(t, mig, in.RecentFailures[0].MigrationId)
	for _, bad := range []string{"days=0", "days=366", "days=week"} {
		requireError(t, e.api.Do(t, http.MethodGet, "/insights?"+bad, nil), http.StatusBadRequest, "days")
	}
}
