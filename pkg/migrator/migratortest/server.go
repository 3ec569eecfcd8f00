// Package migratortest runs a migrator's handlers and dry runs against a fake Drover, so an
// author can test a migrator without Drover: dispatch a step, then assert the callbacks.
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

	"github.com/drover-dev/drover/pkg/migrator/wire"
)

// Event is a callback the fake Drover accepted.
type Event struct {
	RunID string
	wire.StepStatusEvent
}

// Server is a fake Drover: it accepts announcements, candidate submissions and step events,
// and can be told to fail requests to test a migrator's retries.
type Server struct {
	URL string

	mu            sync.Mutex
	announcements []wire.MigrationAnnouncement
	submissions   []wire.CandidateSubmission
	events        []Event
	failNext      []int
	changed       chan struct{}
}

// NewServer starts a fake Drover that stops when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{changed: make(chan struct{})}
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
			s.record(func() { s.events = append(s.events, Event{RunID: r.PathValue("runId"), StepStatusEvent: ev}) })
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// accept answers a scripted failure, or decodes the body and answers as Drover would.
func (s *Server) accept(w http.ResponseWriter, r *http.Request, v any) bool {
	s.mu.Lock()
	code := 0
	if len(s.failNext) > 0 {
		code, s.failNext = s.failNext[0], s.failNext[1:]
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if code != 0 {
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(wire.Error{Error: fmt.Sprintf("scripted %d", code)})
		return false
	}
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
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

// DispatchRequest sends req to the migrator's /dispatch-step and returns the HTTP status.
func (s *Server) DispatchRequest(t testing.TB, migratorURL string, req wire.DispatchStepRequest) int {
	t.Helper()
	code, _ := post(t, strings.TrimRight(migratorURL, "/")+"/dispatch-step", req)
	return code
}

// DryRun asks the migrator for a dry run and decodes its answer.
func (s *Server) DryRun(t testing.TB, migratorURL string, req wire.DryRunRequest) wire.DryRunResult {
	t.Helper()
	code, body := post(t, strings.TrimRight(migratorURL, "/")+"/dry-run", req)
	if code != http.StatusOK {
		t.Fatalf("dry run answered %d: %s", code, body)
	}
	var res wire.DryRunResult
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("dry run answer %q: %v", body, err)
	}
	return res
}

func post(t testing.TB, url string, body any) (int, []byte) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}
