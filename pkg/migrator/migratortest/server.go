// Package migratortest runs a migrator's handlers and dry runs against a fake Drover, so an
// author can test a migrator without Drover: dispatch a step, then assert the callbacks (or
// cancel the run with CancelRun).
// NewServerWithSecret gives the fake Drover the migrator's credential, as Drover has it: it
// signs what it sends and refuses (401) what the migrator did not sign.
package migratortest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/pkg/migrator/signature"
	"github.com/drover-dev/drover/pkg/migrator/wire"
)

// Event is a callback the fake Drover accepted.
type Event struct {
	RunID string
	// TraceParent is the W3C trace context the migrator sent with the event ("" when none).
	TraceParent string
	wire.StepStatusEvent
}

// Server is a fake Drover: it accepts announcements, candidate submissions and step events,
// and can be told to fail requests to test a migrator's retries.
type Server struct {
	URL string

	keys [][]byte // the migrator's secrets; none: nothing signed or verified

	mu            sync.Mutex
	announcements []wire.MigrationAnnouncement
	submissions   []wire.CandidateSubmission
	events        []Event
	refusals      []string
	seen          map[string]bool // webhook-ids received, to refuse replays
	failNext      []int
	changed       chan struct{}
}

// NewServer starts a fake Drover that stops when the test ends. It signs nothing and accepts
// unsigned requests, as Drover does for a credential allowing unsigned traffic.
func NewServer(t testing.TB) *Server {
	t.Helper()
	return newServer(t, nil)
}

// NewServerWithSecret starts a fake Drover holding the migrator's secret ("whsec_…"; several,
// space-separated, while one rotates): it signs its dispatches and dry runs with each of them,
// and answers 401 to announcements, submissions and events that are unsigned, signed with
// another key, stale, or that repeat a webhook-id. It stops when the test ends.
func NewServerWithSecret(t testing.TB, secret string) *Server {
	t.Helper()
	var keys [][]byte
	for _, f := range strings.Fields(secret) {
		k, err := signature.ParseSecret(f)
		if err != nil {
			t.Fatalf("migratortest: NewServerWithSecret: %v", err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		t.Fatal("migratortest: NewServerWithSecret needs a whsec_ secret")
	}
	return newServer(t, keys)
}

func newServer(t testing.TB, keys [][]byte) *Server {
	t.Helper()
	s := &Server{keys: keys, seen: map[string]bool{}, changed: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /registry/announce", func(w http.ResponseWriter, r *http.Request) {
		var a wire.MigrationAnnouncement
		if s.accept(w, r, &a) {
			s.record(func() { s.announcements = append(s.announcements, a) })
		}
	})
	mux.HandleFunc("POST /migrations/{id}/candidates", func(w http.ResponseWriter, r *http.Request) {
		var c wire.CandidateSubmission
		if s.accept(w, r, &c) {
			s.record(func() { s.submissions = append(s.submissions, c) })
		}
	})
	mux.HandleFunc("POST /event/{runId}", func(w http.ResponseWriter, r *http.Request) {
		var ev wire.StepStatusEvent
		if s.accept(w, r, &ev) {
			s.record(func() {
				s.events = append(s.events, Event{RunID: r.PathValue("runId"), TraceParent: r.Header.Get("traceparent"), StepStatusEvent: ev})
			})
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// accept refuses a request that is not signed as it must be, answers a scripted failure, or
// decodes the body and answers as Drover would.
func (s *Server) accept(w http.ResponseWriter, r *http.Request, v any) bool {
	w.Header().Set("Content-Type", "application/json")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(wire.Error{Error: "read body: " + err.Error()})
		return false
	}
	if err := s.verify(r.Header, body); err != nil {
		msg := fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, err)
		s.record(func() { s.refusals = append(s.refusals, msg) })
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(wire.Error{Error: msg})
		return false
	}
	s.mu.Lock()
	code := 0
	if len(s.failNext) > 0 {
		code, s.failNext = s.failNext[0], s.failNext[1:]
	}
	s.mu.Unlock()
	if code != 0 {
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(wire.Error{Error: fmt.Sprintf("scripted %d", code)})
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(wire.Error{Error: "body is not valid JSON: " + err.Error()})
		return false
	}
	if strings.HasPrefix(r.URL.Path, "/event/") {
		w.WriteHeader(http.StatusAccepted)
	}
	_ = json.NewEncoder(w).Encode(wire.StatusResponse{Status: "SUCCESS"})
	return true
}

// verify checks the migrator's signature of body, and that its webhook-id is new, when the
// server has a secret.
func (s *Server) verify(h http.Header, body []byte) error {
	if len(s.keys) == 0 {
		return nil
	}
	msg, err := signature.Verify(s.keys, h, body, time.Now())
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[msg.ID] {
		return fmt.Errorf("webhook-id %q was received before: a replayed request is refused", msg.ID)
	}
	s.seen[msg.ID] = true
	return nil
}

func (s *Server) record(f func()) {
	s.mu.Lock()
	f()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// FailNext makes the next requests to the fake Drover answer these status codes, in order.
func (s *Server) FailNext(codes ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = append(s.failNext, codes...)
}

// Refusals returns why the fake Drover refused requests as unsigned or wrongly signed (401),
// in arrival order: "METHOD path: reason".
func (s *Server) Refusals() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.refusals...)
}

// Announcements returns the accepted announcements.
func (s *Server) Announcements() []wire.MigrationAnnouncement {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wire.MigrationAnnouncement(nil), s.announcements...)
}

// Submissions returns the accepted candidate submissions (re-discoveries).
func (s *Server) Submissions() []wire.CandidateSubmission {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wire.CandidateSubmission(nil), s.submissions...)
}

// Events returns the accepted step events, in arrival order.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// WaitEvent waits until an event of runID's step with the given status has been accepted.
func (s *Server) WaitEvent(t testing.TB, runID, step string, status wire.StepEventStatus, timeout time.Duration) Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		for _, ev := range s.events {
			if ev.RunID == runID && ev.StepName == step && ev.Status == status {
				s.mu.Unlock()
				return ev
			}
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no %s event for step %s of run %s within %s; events: %+v", status, step, runID, timeout, s.Events())
			return Event{}
		}
	}
}

// Dispatch sends a step to the migrator at migratorURL as Drover would and returns the HTTP
// status it answered. The run id is migrationID__candidate.Id.
func (s *Server) Dispatch(t testing.TB, migratorURL, migrationID, step string, candidate wire.Candidate) int {
	t.Helper()
	runID := migrationID + "__" + candidate.Id
	if candidate.Status == "" {
		candidate.Status = wire.CandidateStatusRunning
	}
	req := wire.DispatchStepRequest{MigrationId: migrationID, StepName: step, Candidate: candidate, CallbackId: runID,
		EventName: step, MigratorApp: migrationID, MigratorUrl: migratorURL}
	return s.DispatchRequest(t, migratorURL, req)
}

// DispatchRequest sends req to the migrator's /dispatch-step (signed when the server has a
// secret) and returns the HTTP status.
func (s *Server) DispatchRequest(t testing.TB, migratorURL string, req wire.DispatchStepRequest) int {
	t.Helper()
	code, _ := s.post(t, strings.TrimRight(migratorURL, "/")+"/dispatch-step", req)
	return code
}

// DispatchTraced is Dispatch with a W3C traceparent header, as Drover sends when tracing is on.
func (s *Server) DispatchTraced(t testing.TB, migratorURL, migrationID, step string, candidate wire.Candidate, traceparent string) int {
	t.Helper()
	req := wire.DispatchStepRequest{MigrationId: migrationID, StepName: step, Candidate: candidate, CallbackId: migrationID + "__" + candidate.Id,
		EventName: step, MigratorApp: migrationID, MigratorUrl: migratorURL}
	code, _ := s.postWith(t, strings.TrimRight(migratorURL, "/")+"/dispatch-step", req, http.Header{"Traceparent": {traceparent}})
	return code
}

// CancelRun tells the migrator at migratorURL that a run was cancelled, as Drover does (POST
// /cancel-run, signed when the server has a secret), and returns the HTTP status it answered.
func (s *Server) CancelRun(t testing.TB, migratorURL string, req wire.CancelRunRequest) int {
	t.Helper()
	if req.Steps == nil {
		req.Steps = []wire.CancelledStep{}
	}
	code, _ := s.post(t, strings.TrimRight(migratorURL, "/")+"/cancel-run", req)
	return code
}

// DryRun asks the migrator for a dry run (signed when the server has a secret) and decodes
// its answer.
func (s *Server) DryRun(t testing.TB, migratorURL string, req wire.DryRunRequest) wire.DryRunResult {
	t.Helper()
	code, body := s.post(t, strings.TrimRight(migratorURL, "/")+"/dry-run", req)
	if code != http.StatusOK {
		t.Fatalf("dry run answered %d: %s", code, body)
	}
	var res wire.DryRunResult
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("dry run answer %q: %v", body, err)
	}
	return res
}

// post sends body as JSON, signed with every key as Drover signs while a secret rotates.
func (s *Server) post(t testing.TB, url string, body any) (int, []byte) {
	t.Helper()
	return s.postWith(t, url, body, nil)
}

func (s *Server) postWith(t testing.TB, url string, body any, header http.Header) (int, []byte) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range header {
		req.Header[k] = vs
	}
	if len(s.keys) > 0 {
		signature.SignHeaders(req.Header, s.keys, signature.NewID(), time.Now(), raw)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}
