package migrator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/drover-dev/drover/pkg/migrator/wire"
)

// Start announces the migration (retrying until Drover accepts it or ctx ends) with the
// candidates Discover returns, then re-runs discovery every DiscoverEvery in the background
// until ctx ends. Serve Handler() yourself, or use Run.
func (m *Migrator) Start(ctx context.Context) error {
	cands, err := m.discover(ctx)
	if err != nil {
		return err
	}
	ann := wire.MigrationAnnouncement{
		Id: m.cfg.Definition.ID, Name: m.cfg.Definition.Name, Description: m.cfg.Definition.Description,
		Overview: m.cfg.Definition.Overview, Phases: m.cfg.Definition.Phases, RequiredInputs: m.cfg.Definition.RequiredInputs,
		Steps: m.cfg.Definition.Steps, Candidates: cands, MigratorUrl: m.cfg.URL,
	}
	if err := m.postWithRetry(ctx, "/registry/announce", ann); err != nil {
		return fmt.Errorf("announce %s: %w", m.cfg.Definition.ID, err)
	}
	m.log.Info("announced", "drover", m.cfg.Drover, "candidates", len(cands))
	if m.cfg.DiscoverEvery > 0 {
		go m.rediscover(ctx)
	}
	return nil
}

func (m *Migrator) discover(ctx context.Context) ([]wire.CandidateInput, error) {
	if m.cfg.Discover == nil {
		return []wire.CandidateInput{}, nil
	}
	cands, err := m.cfg.Discover(ctx)
	if err != nil {
		return nil, fmt.Errorf("discover candidates: %w", err)
	}
	if cands == nil {
		cands = []wire.CandidateInput{}
	}
	for i := range cands {
		cands[i].Steps = withApp(cands[i].Steps, m.cfg.Definition.App)
	}
	return cands, nil
}

func (m *Migrator) rediscover(ctx context.Context) {
	t := time.NewTicker(m.cfg.DiscoverEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cands, err := m.discover(ctx)
		if err != nil {
			m.log.Warn("re-discovery failed; keeping the last candidates", "error", err)
			continue
		}
		path := "/migrations/" + m.cfg.Definition.ID + "/candidates"
		if err := m.postWithRetry(ctx, path, wire.CandidateSubmission{Candidates: cands}); err != nil {
			m.log.Warn("could not submit re-discovered candidates", "error", err)
			continue
		}
		m.log.Debug("re-discovered candidates", "candidates", len(cands))
	}
}

// Run serves Handler() on addr, starts the migrator, and on ctx's end shuts down gracefully:
// it stops taking dispatches and waits up to grace for the steps in flight.
func (m *Migrator) Run(ctx context.Context, addr string, grace time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if err := m.Start(ctx); err != nil && ctx.Err() == nil {
		_ = srv.Close()
		return err
	}
	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err = m.Shutdown(sctx)
	return errors.Join(err, srv.Shutdown(sctx))
}

// Shutdown stops taking dispatches (they are answered 503, so Drover dispatches them again
// later) and waits for the running handlers and their callbacks. When ctx ends first, the
// handlers' contexts are cancelled and the steps they could not finish are reported failed
// ("interrupted"), for an operator to retry.
func (m *Migrator) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.closing = true
	m.mu.Unlock()
	done := make(chan struct{})
	go func() { m.inFlight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		m.stop()
		<-done
		return fmt.Errorf("shutdown: steps still running at the deadline were reported failed (interrupted): %w", ctx.Err())
	}
}

// postWithRetry posts body as JSON to Drover until it answers 2xx. A 4xx is final: the
// request is wrong and retrying cannot help. Network errors and 5xx are retried with
// exponential back-off until ctx ends. Each attempt is signed anew (see sign).
func (m *Migrator) postWithRetry(ctx context.Context, path string, body any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("%s: encode body: %w", path, err)
	}
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		code, msg, err := m.post(ctx, path, raw)
		switch {
		case err == nil && code < 300:
			return nil
		case err == nil && code < 500:
			m.log.Error("Drover refused a request; not retrying", "path", path, "status", code, "error", msg)
			return &RefusedError{Status: code, Message: msg}
		}
		if err == nil {
			err = fmt.Errorf("%d: %s", code, msg)
		}
		m.log.Warn("Drover did not accept a request; retrying", "path", path, "attempt", attempt, "in", wait, "error", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: gave up after %d attempts: %w", path, attempt, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, m.cfg.RetryMax)
	}
}

// RefusedError is Drover's 4xx answer to a request of the SDK.
type RefusedError struct {
	Status  int
	Message string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("Drover answered %d: %s", e.Status, e.Message)
}

func (m *Migrator) post(ctx context.Context, path string, raw []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(m.cfg.Drover, "/")+path, bytes.NewReader(raw))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if tp, _ := ctx.Value(traceKey{}).(string); tp != "" {
		req.Header.Set("traceparent", tp)
	}
	m.sign(req, raw)
	resp, err := m.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	var e wire.Error
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return resp.StatusCode, e.Error, nil
	}
	return resp.StatusCode, strings.TrimSpace(string(body)), nil
}
