package migrator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
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
	"github.com/drover-dev/drover/pkg/migrator/signature"
	"github.com/drover-dev/drover/pkg/migrator/wire"
)

func newSecret(t *testing.T) (string, []byte) {
	t.Helper()
	s, err := signature.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	k, err := signature.ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return s, k
}

// received is one request a stand-in Drover got.
type received struct {
	path   string
	header http.Header
	body   []byte
}

// recordingDrover answers like Drover and keeps every request; fail503 makes the first
// attempt at each path answer 503, so that retries are seen too.
type recordingDrover struct {
	URL string

	mu    sync.Mutex
	reqs  []received
	tried map[string]bool
}

func newRecordingDrover(t *testing.T, fail503 bool) *recordingDrover {
	d := &recordingDrover{tried: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.reqs = append(d.reqs, received{r.URL.Path, r.Header.Clone(), body})
		first := !d.tried[r.URL.Path]
		d.tried[r.URL.Path] = true
		d.mu.Unlock()
		if fail503 && first {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	d.URL = srv.URL
	return d
}

func (d *recordingDrover) requests() []received {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]received(nil), d.reqs...)
}

// waitFor polls until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// signedPost posts body to url with the scheme's headers for signedBody (body when nil).
func signedPost(t *testing.T, url string, keys [][]byte, id string, ts time.Time, body, signedBody []byte) (int, wire.Error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if signedBody == nil {
		signedBody = body
	}
	if keys != nil {
		signature.SignHeaders(req.Header, keys, id, ts, signedBody)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e wire.Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e
}

func dispatchBody(t *testing.T, candidate string) []byte {
	t.Helper()
	raw, err := json.Marshal(wire.DispatchStepRequest{MigrationId: "m", StepName: "change", CallbackId: "m__" + candidate,
		EventName: "change", Candidate: wire.Candidate{Id: candidate, Kind: "service", Status: wire.CandidateStatusRunning}})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestRequestsToDroverAreSigned: the announcement, a re-discovery's submission and the events
// (a Report, the result, and their retries) each verify over the exact bytes received, every
// attempt with its own webhook-id.
func TestRequestsToDroverAreSigned(t *testing.T) {
	secret, key := newSecret(t)
	drover := newRecordingDrover(t, true)
	srv := httptest.NewUnstartedServer(nil)
	m, err := migrator.New(migrator.Config{
		Drover: drover.URL, URL: "http://" + srv.Listener.Addr().String(), Secret: secret,
		Definition: migrator.Definition{ID: "m", Steps: []wire.StepDefinition{{Name: "change"}}},
		Discover: func(context.Context) ([]wire.CandidateInput, error) {
			return []wire.CandidateInput{{Id: "a", Kind: "service"}}, nil
		},
		DiscoverEvery: 50 * time.Millisecond,
		Steps: map[string]migrator.StepFunc{"change": func(ctx context.Context, req migrator.StepRequest) (migrator.Result, error) {
			if err := req.Report(ctx, map[string]string{"prUrl": "https://git.example/pr/1"}); err != nil {
				return migrator.Result{}, err
			}
			return migrator.Merged(nil), nil
		}},
		RetryMax: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = m.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if code, e := signedPost(t, srv.URL+"/dispatch-step", [][]byte{key}, signature.NewID(), time.Now(), dispatchBody(t, "a"), nil); code != http.StatusAccepted {
		t.Fatalf("signed dispatch answered %d: %s", code, e.Error)
	}
	statuses := func() map[string]bool {
		out := map[string]bool{}
		for _, r := range drover.requests() {
			var ev wire.StepStatusEvent
			if r.path == "/event/m__a" && json.Unmarshal(r.body, &ev) == nil {
				out[string(ev.Status)] = true
			}
		}
		return out
	}
	waitFor(t, "the merged event and a submission", func() bool {
		subs := 0
		for _, r := range drover.requests() {
			if r.path == "/migrations/m/candidates" {
				subs++
			}
		}
		return statuses()["merged"] && subs >= 2
	})
	cancel()
	ids := map[string]bool{}
	paths := map[string]int{}
	for _, r := range drover.requests() {
		msg, err := signature.Verify([][]byte{key}, r.header, r.body, time.Now())
		if err != nil {
			t.Fatalf("%s (%s) does not verify: %v", r.path, r.body, err)
		}
		if ids[msg.ID] {
			t.Fatalf("webhook-id %s was sent twice", msg.ID)
		}
		ids[msg.ID] = true
		paths[r.path]++
	}
	if paths["/registry/announce"] != 2 || paths["/migrations/m/candidates"] < 2 || paths["/event/m__a"] < 3 {
		t.Fatalf("requests per path (first attempts answered 503): %v", paths)
	}
	if st := statuses(); !st["pending"] || !st["merged"] {
		t.Fatalf("event statuses %v", st)
	}
}

// TestForgedDispatchIsRefused: an unsigned, wrongly signed, stale, tampered or replayed
// dispatch or dry run is 401 and runs nothing; a signed one runs.
func TestForgedDispatchIsRefused(t *testing.T) {
	secret, key := newSecret(t)
	_, other := newSecret(t)
	var calls, dryRuns atomic.Int32
	f := newFixture(t, func(context.Context, migrator.StepRequest) (migrator.Result, error) {
		calls.Add(1)
		return migrator.Succeeded(nil), nil
	}, func(c *migrator.Config) {
		c.Secret = secret
		c.DryRun = func(context.Context, wire.DryRunRequest) (wire.DryRunResult, error) {
			dryRuns.Add(1)
			return wire.DryRunResult{Steps: []wire.StepDryRun{}}, nil
		}
	})
	keys := [][]byte{key}
	body := dispatchBody(t, "a")
	now := time.Now()
	forged := []struct {
		name       string
		keys       [][]byte
		ts         time.Time
		signedBody []byte
	}{
		{"unsigned", nil, now, nil},
		{"another key", [][]byte{other}, now, nil},
		{"stale timestamp", keys, now.Add(-signature.Tolerance - time.Minute), nil},
		{"future timestamp", keys, now.Add(signature.Tolerance + time.Minute), nil},
		{"tampered body", keys, now, dispatchBody(t, "b")},
	}
	for _, path := range []string{"/dispatch-step", "/dry-run"} {
		for _, c := range forged {
			code, e := signedPost(t, f.url+path, c.keys, signature.NewID(), c.ts, body, c.signedBody)
			if code != http.StatusUnauthorized || e.Error == "" {
				t.Errorf("%s %s answered %d %q, want 401 with an error", c.name, path, code, e.Error)
			}
		}
	}
	// A request with only some of the headers is refused too.
	req, _ := http.NewRequest(http.MethodPost, f.url+"/dispatch-step", bytes.NewReader(body))
	req.Header.Set(signature.HeaderID, signature.NewID())
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a dispatch with only webhook-id: %v %v", resp, err)
	}
	time.Sleep(100 * time.Millisecond)
	if n, d := calls.Load(), dryRuns.Load(); n != 0 || d != 0 {
		t.Fatalf("forged requests ran the handler %d times and the dry run %d times", n, d)
	}

	id := signature.NewID()
	if code, e := signedPost(t, f.url+"/dispatch-step", keys, id, now, body, nil); code != http.StatusAccepted {
		t.Fatalf("signed dispatch answered %d: %s", code, e.Error)
	}
	f.drover.WaitEvent(t, "m__a", "change", wire.StepEventStatusSucceeded, wait)
	if code, e := signedPost(t, f.url+"/dispatch-step", keys, id, now, body, nil); code != http.StatusUnauthorized || !strings.Contains(e.Error, "replay") {
		t.Fatalf("replayed dispatch answered %d %q, want 401", code, e.Error)
	}
	dry, _ := json.Marshal(wire.DryRunRequest{MigrationId: "m", Candidate: wire.Candidate{Id: "a", Kind: "service"}, Steps: []wire.StepDefinition{{Name: "change"}}})
	if code, e := signedPost(t, f.url+"/dry-run", keys, id, now, dry, nil); code != http.StatusUnauthorized {
		t.Fatalf("a dry run reusing a dispatch's webhook-id answered %d %q, want 401", code, e.Error)
	}
	if code, e := signedPost(t, f.url+"/dry-run", keys, signature.NewID(), now, dry, nil); code != http.StatusOK {
		t.Fatalf("signed dry run answered %d: %s", code, e.Error)
	}
	if n, d := calls.Load(), dryRuns.Load(); n != 1 || d != 1 {
		t.Fatalf("handler ran %d times and dry run %d times, want 1 and 1", n, d)
	}
}

// TestRotatedSecrets: with two secrets, a dispatch signed with either verifies, and requests
// to Drover carry a signature for each.
func TestRotatedSecrets(t *testing.T) {
	newS, newK := newSecret(t)
	oldS, oldK := newSecret(t)
	var calls atomic.Int32
	drover := newRecordingDrover(t, false)
	f := newFixture(t, func(context.Context, migrator.StepRequest) (migrator.Result, error) {
		calls.Add(1)
		return migrator.Succeeded(nil), nil
	}, func(c *migrator.Config) { c.Secret, c.Drover = newS+"  "+oldS, drover.URL })
	for i, k := range [][]byte{oldK, newK} {
		cand := string(rune('a' + i))
		if code, e := signedPost(t, f.url+"/dispatch-step", [][]byte{k}, signature.NewID(), time.Now(), dispatchBody(t, cand), nil); code != http.StatusAccepted {
			t.Fatalf("dispatch signed with secret %d answered %d: %s", i, code, e.Error)
		}
	}
	waitFor(t, "both events", func() bool { return len(drover.requests()) == 2 })
	for _, r := range drover.requests() {
		if n := len(strings.Fields(r.header.Get(signature.HeaderSignature))); n != 2 {
			t.Fatalf("%s carries %d signatures, want 2", r.path, n)
		}
		for _, k := range [][]byte{oldK, newK} {
			if _, err := signature.Verify([][]byte{k}, r.header, r.body, time.Now()); err != nil {
				t.Fatalf("%s does not verify with one of the secrets: %v", r.path, err)
			}
		}
	}
}

// TestSignedWithFakeDrover: the SDK and migratortest with the same secret work end to end;
// with different secrets each side refuses the other.
func TestSignedWithFakeDrover(t *testing.T) {
	secret, _ := newSecret(t)
	handler := func(context.Context, migrator.StepRequest) (migrator.Result, error) {
		return migrator.Succeeded(nil), nil
	}
	f := newFixtureWith(t, migratortest.NewServerWithSecret(t, secret), handler, func(c *migrator.Config) { c.Secret = secret })
	if err := f.m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code := f.dispatch(t, "a"); code != http.StatusAccepted {
		t.Fatalf("signed dispatch answered %d", code)
	}
	f.drover.WaitEvent(t, "m__a", "change", wire.StepEventStatusSucceeded, wait)
	if r := f.drover.Refusals(); len(r) != 0 {
		t.Fatalf("refusals %v", r)
	}

	other, _ := newSecret(t)
	var calls atomic.Int32
	g := newFixtureWith(t, migratortest.NewServerWithSecret(t, other), func(context.Context, migrator.StepRequest) (migrator.Result, error) {
		calls.Add(1)
		return migrator.Succeeded(nil), nil
	}, func(c *migrator.Config) { c.Secret = secret })
	var refused *migrator.RefusedError
	if err := g.m.Start(context.Background()); !errors.As(err, &refused) || refused.Status != http.StatusUnauthorized {
		t.Fatalf("announce with the wrong secret: %v, want a 401 refusal", err)
	}
	if r := g.drover.Refusals(); len(r) != 1 || !strings.Contains(r[0], "/registry/announce") {
		t.Fatalf("refusals %v", r)
	}
	if code := g.dispatch(t, "a"); code != http.StatusUnauthorized {
		t.Fatalf("dispatch signed with another secret answered %d", code)
	}
	time.Sleep(100 * time.Millisecond)
	if calls.Load() != 0 || len(g.drover.Announcements()) != 0 {
		t.Fatal("a refused request changed something")
	}
}

func TestSecretConfigErrors(t *testing.T) {
	good, _ := newSecret(t)
	for _, bad := range []string{"nope", "whsec_not-base64!", "whsec_c2hvcnQ=", "   ", good + " whsec_", strings.Repeat(good+" ", 9)} {
		_, err := migrator.New(migrator.Config{Drover: "http://x", URL: "http://y", Secret: bad,
			Definition: migrator.Definition{ID: "m", Steps: []wire.StepDefinition{{Name: "a"}}},
			Steps:      map[string]migrator.StepFunc{"a": nil}, Logger: slog.New(slog.DiscardHandler)})
		if err == nil || !strings.Contains(err.Error(), "Config.Secret") {
			t.Errorf("secret %.20q: error %v, want one naming Config.Secret", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), good) {
			t.Errorf("the error repeats the secret: %v", err)
		}
	}
}

// TestUnsignedWarnsOnce: without a secret the migrator says once that dispatches are not
// verified, and still accepts them, signed or not.
func TestUnsignedWarnsOnce(t *testing.T) {
	var logs syncBuffer
	f := newFixture(t, func(context.Context, migrator.StepRequest) (migrator.Result, error) {
		return migrator.Succeeded(nil), nil
	}, func(c *migrator.Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	if err := f.m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.dispatch(t, "a")
	_, key := newSecret(t)
	if code, _ := signedPost(t, f.url+"/dispatch-step", [][]byte{key}, signature.NewID(), time.Now(), dispatchBody(t, "b"), nil); code != http.StatusAccepted {
		t.Fatalf("without a secret a signed dispatch answered %d", code)
	}
	f.drover.WaitEvent(t, "m__b", "change", wire.StepEventStatusSucceeded, wait)
	if n := strings.Count(logs.String(), "not verified"); n != 1 {
		t.Fatalf("the warning was logged %d times:\n%s", n, logs.String())
	}

	secret, _ := newSecret(t)
	var quiet syncBuffer
	if _, err := migrator.New(migrator.Config{Drover: "http://x", URL: "http://y", Secret: secret,
		Definition: migrator.Definition{ID: "m", Steps: []wire.StepDefinition{{Name: "a"}}},
		Steps:      map[string]migrator.StepFunc{"a": nil}, Logger: slog.New(slog.NewTextHandler(&quiet, nil))}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(quiet.String(), "not verified") {
		t.Fatalf("warned with a secret: %s", quiet.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
