package migrator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/drover-dev/drover/pkg/migrator/wire"
)

// maxErrorMessage bounds the error text /cancel-run answers with, which Drover shows operators.
const maxErrorMessage = 1 << 10

// cancelRun serves Drover's notice that a run was cancelled: 204 once Config.OnCancel has undone
// the run's work, 500 with its error (Drover retries), 404 without an OnCancel.
func (m *Migrator) cancelRun(w http.ResponseWriter, r *http.Request) {
	body, ok := m.verified(w, r)
	if !ok {
		return
	}
	var req wire.CancelRunRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "cancel-run body is not a CancelRunRequest: "+err.Error())
		return
	}
	if req.CallbackId == "" {
		writeError(w, http.StatusBadRequest, "cancel-run needs callbackId (the cancelled run's id)")
		return
	}
	if m.cfg.OnCancel == nil {
		m.forget(req.CallbackId, req.Steps)
		writeError(w, http.StatusNotFound, "this migrator does not take part in cancellations (it has no Config.OnCancel)")
		return
	}
	// Like a running handler, OnCancel holds up Shutdown, and is cancelled when its deadline passes.
	m.mu.Lock()
	if m.closing {
		m.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "migrator is shutting down; send the cancellation again later")
		return
	}
	m.inFlight.Add(1)
	m.mu.Unlock()
	defer m.inFlight.Done()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(m.stopCtx, cancel)()

	creq := CancelRequest{RunID: req.CallbackId, MigrationID: req.MigrationId, Candidate: req.Candidate, Steps: req.Steps}
	err := safeCancel(ctx, m.cfg.OnCancel, creq)
	m.forget(req.CallbackId, req.Steps)
	if err != nil {
		m.log.Error("could not undo a cancelled run", "run", req.CallbackId, "error", err)
		writeError(w, http.StatusInternalServerError, errorMessage(err))
		return
	}
	m.log.Info("undid a cancelled run", "run", req.CallbackId, "steps", len(req.Steps))
	w.WriteHeader(http.StatusNoContent)
}

func safeCancel(ctx context.Context, f func(context.Context, CancelRequest) error, req CancelRequest) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("cancel handler panicked: %v", p)
		}
	}()
	return f(ctx, req)
}

// errorMessage is err's text without surrounding space, cut to maxErrorMessage bytes.
func errorMessage(err error) string {
	msg := strings.TrimSpace(err.Error())
	if msg == "" {
		return "OnCancel failed (with an empty error)"
	}
	if len(msg) <= maxErrorMessage {
		return msg
	}
	cut := maxErrorMessage
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "…"
}

// forget drops what the SDK remembers of a cancelled run's dispatches: their state, last result
// and the dispatch Complete reports to. A pending step is otherwise remembered until completed,
// which a cancelled run's never is. Only the dispatches Drover names are forgotten, since a
// later run of the candidate shares the run id but not the dispatch ids, and a step whose
// handler still runs is left to finish.
func (m *Migrator) forget(run string, steps []wire.CancelledStep) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range steps {
		key := stepKey{run, s.StepName, s.DispatchId}
		if m.steps[key] == stepRunning {
			continue
		}
		delete(m.steps, key)
		delete(m.results, key)
		delete(m.traces, key)
		latest := [2]string{run, s.StepName}
		if d, ok := m.latest[latest]; ok && d == s.DispatchId {
			delete(m.latest, latest)
		}
	}
}
