package testsupport

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Delivery is one request a WebhookReceiver got.
type Delivery struct {
	Header http.Header
	Body   []byte
	Status int // what the receiver answered
}

// WebhookReceiver is an HTTP server that takes notifications, answering the statuses it was
// told to (then 200), and hands each request to the test.
type WebhookReceiver struct {
	URL string

	mu       sync.Mutex
	statuses []int
	got      []Delivery
	arrived  chan Delivery
}

// NewWebhookReceiver starts a receiver; it stops when the test ends.
func NewWebhookReceiver(t testing.TB) *WebhookReceiver {
	t.Helper()
	w := &WebhookReceiver{arrived: make(chan Delivery, 256)}
	srv := httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(srv.Close)
	w.URL = srv.URL
	return w
}

// AnswerNext makes the next requests get these statuses, in order.
func (w *WebhookReceiver) AnswerNext(statuses ...int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.statuses = append(w.statuses, statuses...)
}

func (w *WebhookReceiver) serve(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	status := http.StatusOK
	if len(w.statuses) > 0 {
		status, w.statuses = w.statuses[0], w.statuses[1:]
	}
	d := Delivery{Header: r.Header.Clone(), Body: body, Status: status}
	w.got = append(w.got, d)
	w.mu.Unlock()
	rw.WriteHeader(status)
	if status >= 400 {
		_, _ = io.WriteString(rw, `{"error":"receiver says no"}`)
	}
	w.arrived <- d
}

// Next waits up to timeout for the next request, failing the test when none comes.
func (w *WebhookReceiver) Next(t testing.TB, timeout time.Duration) Delivery {
	t.Helper()
	select {
	case d := <-w.arrived:
		return d
	case <-time.After(timeout):
		t.Fatalf("no webhook request within %s", timeout)
		return Delivery{}
	}
}

// Count is how many requests arrived so far.
func (w *WebhookReceiver) Count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.got)
}
