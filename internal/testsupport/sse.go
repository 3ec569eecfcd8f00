package testsupport

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// SSE is one server-sent event, or a comment line (Comment set, the rest empty).
type SSE struct {
	ID, Event, Data, Comment string
}

// Stream is an open server-sent event stream; Status, Header and (for a refusal) Body are the
// response's.
type Stream struct {
	Status int
	Header http.Header
	Body   []byte
	events chan SSE
	cancel context.CancelFunc
}

// Stream opens GET path as an event stream, with header added to the request; it is closed
// when the test ends (or by Close). A status other than 200 is read whole into Body.
func (a *API) Stream(t testing.TB, path string, header http.Header) *Stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.Base+path, nil)
	if err != nil {
		cancel()
		t.Fatalf("build request: %v", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	a.authorize(t, req, nil)
	for k, vs := range header {
		req.Header[k] = vs
	}
	client := *a.Client
	client.Timeout = 0 // a stream stays open; Close ends it
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", path, err)
	}
	s := &Stream{Status: resp.StatusCode, Header: resp.Header, events: make(chan SSE, 1024), cancel: cancel}
	t.Cleanup(s.Close)
	if resp.StatusCode != http.StatusOK {
		s.Body, _ = io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		close(s.events)
		return s
	}
	go s.read(resp.Body)
	return s
}

// read parses the stream into events until it ends.
func (s *Stream) read(body io.ReadCloser) {
	defer close(s.events)
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var ev SSE
	var data []string
	for sc.Scan() {
		line := sc.Text()
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch {
		case line == "":
			if ev.ID != "" || ev.Event != "" || data != nil {
				ev.Data = strings.Join(data, "\n")
				s.events <- ev
			}
			ev, data = SSE{}, nil
		case field == "":
			s.events <- SSE{Comment: value}
		case field == "id":
			ev.ID = value
		case field == "event":
			ev.Event = value
		case field == "data":
			data = append(data, value)
		}
	}
}

// Next returns the next event or comment, failing the test when none comes within timeout;
// ok is false when the stream has ended.
func (s *Stream) Next(t testing.TB, timeout time.Duration) (SSE, bool) {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		return ev, ok
	case <-time.After(timeout):
		t.Fatalf("no server-sent event within %s", timeout)
		return SSE{}, false
	}
}

// NextEvent returns the next event, skipping comments; it fails the test when none comes
// within timeout or the stream ends.
func (s *Stream) NextEvent(t testing.TB, timeout time.Duration) SSE {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ev, ok := s.Next(t, time.Until(deadline))
		if !ok {
			t.Fatalf("the event stream ended")
		}
		if ev.Comment == "" {
			return ev
		}
	}
}

// Close ends the stream.
func (s *Stream) Close() { s.cancel() }
