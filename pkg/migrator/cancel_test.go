package migrator_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-dev/drover/pkg/migrator"
	"github.com/drover-dev/drover/pkg/migrator/migratortest"
	"github.com/drover-dev/drover/pkg/migrator/signature"
	"github.com/drover-dev/drover/pkg/migrator/wire"
)

func succeed(context.Context, migrator.StepRequest) (migrator.Result, error) {
	return migrator.Succeeded(nil), nil
}

// cancelOf is Drover's notice that candidate's run was cancelled after its "change" step was
// dispatched as dispatchID.
func cancelOf(candidate, dispatchID string) wire.CancelRunRequest {
	return wire.CancelRunRequest{CallbackId: "m__" + candidate, MigrationId: "m",
		Candidate: wire.Candidate{Id: candidate, Kind: "service", Status: wire.CandidateStatusRunning, Metadata: wire.Metadata{"path": "/src/" + candidate}},
		Steps: []wire.CancelledStep{{StepName: "change", Status: wire.StepStatusPending, DispatchId: dispatchID,
			Metadata: map[string]string{"prUrl": "https://git.example/" + candidate + "/pull/1"}}}}
}

func cancelBody(t *testing.T, req wire.CancelRunRequest) []byte {
	t.Helper()
	raw, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestCancelRunReachesOnCancel: OnCancel gets the cancelled run, its candidate and its steps,
// and its success is answered 204.
func TestCancelRunReachesOnCancel(t *testing.T) {
	got := make(chan migrator.CancelRequest, 1)
	f := newFixture(t, succeed, func(c *migrator.Config) {
		c.OnCancel = func(_ context.Context, req migrator.CancelRequest) error {
			got <- req
			return nil
		}
	})
	if code := f.drover.CancelRun(t, f.url, cancelOf("a", "exec-1/change/1")); code != http.StatusNoContent {
		t.Fatalf("cancel-run answered %d, want 204", code)
	}
	select {
	case req := <-got:
		if req.RunID != "m__a" || req.MigrationID != "m" || req.Candidate.Id != "a" || req.Candidate.Metadata["path"] != "/src/a" {
			t.Fatalf("cancel request %+v", req)
		}
		if len(req.Steps) != 1 || req.Steps[0].StepName != "change" || req.Steps[0].Status != wire.StepStatusPending ||
			req.Steps[0].DispatchId != "exec-1/change/1" || req.Steps[0].Metadata["prUrl"] != "https://git.example/a/pull/1" {
			t.Fatalf("cancelled steps %+v", req.Steps)
		}
	default:
		t.Fatal("OnCancel did not run before the answer")
	}
}

// TestCancelRunWithoutOnCancelIs404: a migrator without OnCancel says it does not take part.
func TestCancelRunWithoutOnCancelIs404(t *testing.T) {
	f := newFixture(t, succeed)
	if code := f.drover.CancelRun(t, f.url, cancelOf("a", "")); code != http.StatusNotFound {
		t.Fatalf("cancel-run without OnCancel answered %d, want 404", code)
	}
	code, e := signedPost(t, f.url+"/cancel-run", nil, "", time.Time{}, cancelBody(t, cancelOf("a", "")), nil)
	if code != http.StatusNotFound || !strings.Contains(e.Error, "does not take part in cancellations") {
		t.Fatalf("answered %d %q, want 404 saying the migrator does not take part", code, e.Error)
	}
}

// TestCancelRunErrorIs500: an OnCancel error (or panic) is a 500 with its message, for Drover
// to retry and show.
func TestCancelRunErrorIs500(t *testing.T) {
	f := newFixture(t, succeed, func(c *migrator.Config) {
		c.OnCancel = func(_ context.Context, req migrator.CancelRequest) error {
			if req.Candidate.Id == "boom" {
				panic("nil map")
			}
			return errors.New("  could not close https://git.example/a/pull/1: 502 from the forge\n")
		}
	})
	code, e := signedPost(t, f.url+"/cancel-run", nil, "", time.Time{}, cancelBody(t, cancelOf("a", "d1")), nil)
	if code != http.StatusInternalServerError || e.Error != "could not close https://git.example/a/pull/1: 502 from the forge" {
		t.Fatalf("answered %d %q, want 500 with the trimmed error", code, e.Error)
	}
	code, e = signedPost(t, f.url+"/cancel-run", nil, "", time.Time{}, cancelBody(t, cancelOf("boom", "d1")), nil)
	if code != http.StatusInternalServerError || !strings.Contains(e.Error, "panicked: nil map") {
		t.Fatalf("a panicking OnCancel answered %d %q, want 500 saying so", code, e.Error)
	}
}

// TestCancelRunMalformedIs400: a body that is not a CancelRunRequest, or names no run, is 400
// and runs nothing.
func TestCancelRunMalformedIs400(t *testing.T) {
	var calls atomic.Int32
	f := newFixture(t, succeed, func(c *migrator.Config) {
		c.OnCancel = func(context.Context, migrator.CancelRequest) error {
			calls.Add(1)
			return nil
		}
	})
	for name, body := range map[string]string{
		"not JSON":      `{"callbackId":`,
		"wrong types":   `{"callbackId":"m__a","steps":{"stepName":"change"}}`,
		"no callbackId": `{"migrationId":"m","candidate":{"id":"a","kind":"service","status":"running"},"steps":[]}`,
	} {
		code, e := signedPost(t, f.url+"/cancel-run", nil, "", time.Time{}, []byte(body), nil)
		if code != http.StatusBadRequest || e.Error == "" {
			t.Errorf("%s: answered %d %q, want 400 with an error", name, code, e.Error)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("malformed notices ran OnCancel %d times", n)
	}
}

// TestCancelRunIsVerified: with a secret, a notice that Drover did not sign, or replays a
// webhook-id, is 401 and runs nothing; one signed as Drover signs runs OnCancel.
func TestCancelRunIsVerified(t *testing.T) {
	secret, key := newSecret(t)
	_, other := newSecret(t)
	var calls atomic.Int32
	f := newFixtureWith(t, migratortest.NewServerWithSecret(t, secret), succeed, func(c *migrator.Config) {
		c.Secret = secret
		c.OnCancel = func(context.Context, migrator.CancelRequest) error {
			calls.Add(1)
			return nil
		}
	})
	body := cancelBody(t, cancelOf("a", "d1"))
	now := time.Now()
	for name, keys := range map[string][][]byte{"unsigned": nil, "another key": {other}} {
		if code, e := signedPost(t, f.url+"/cancel-run", keys, signature.NewID(), now, body, nil); code != http.StatusUnauthorized || e.Error == "" {
			t.Errorf("%s: answered %d %q, want 401", name, code, e.Error)
		}
	}
	if code, e := signedPost(t, f.url+"/cancel-run", [][]byte{key}, signature.NewID(), now, body, cancelBody(t, cancelOf("b", "d1"))); code != http.StatusUnauthorized {
		t.Errorf("tampered body: answered %d %q, want 401", code, e.Error)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("forged notices ran OnCancel %d times", n)
	}
	if code := f.drover.CancelRun(t, f.url, cancelOf("a", "d1")); code != http.StatusNoContent {
		t.Fatalf("a notice signed by the fake Drover answered %d, want 204", code)
	}
	id := signature.NewID()
	if code, _ := signedPost(t, f.url+"/cancel-run", [][]byte{key}, id, now, body, nil); code != http.StatusNoContent {
		t.Fatalf("a signed notice answered %d, want 204", code)
	}
	if code, e := signedPost(t, f.url+"/cancel-run", [][]byte{key}, id, now, body, nil); code != http.StatusUnauthorized || !strings.Contains(e.Error, "replay") {
		t.Fatalf("a replayed notice answered %d %q, want 401", code, e.Error)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("OnCancel ran %d times, want 2", n)
	}
}

// TestCancelledRunIsForgotten: after a cancellation the SDK no longer remembers the dispatches
// it names (with or without OnCancel), while a later run of the same candidate, which shares
// the run id but not the dispatch ids, is still remembered.
func TestCancelledRunIsForgotten(t *testing.T) {
	for _, withOnCancel := range []bool{true, false} {
		var calls atomic.Int32
		f := newFixture(t, func(context.Context, migrator.StepRequest) (migrator.Result, error) {
			calls.Add(1)
			return migrator.Pending(nil), nil
		}, func(c *migrator.Config) {
			if withOnCancel {
				c.OnCancel = func(context.Context, migrator.CancelRequest) error { return nil }
			}
		})
		req := func(id string) wire.DispatchStepRequest {
			return wire.DispatchStepRequest{MigrationId: "m", StepName: "change", CallbackId: "m__a", EventName: "change",
				Candidate: wire.Candidate{Id: "a", Kind: "service", Status: wire.CandidateStatusRunning}, DispatchId: id}
		}
		waitCalls := func(n int32) {
			t.Helper()
			waitFor(t, "the handler's runs", func() bool { return calls.Load() >= n })
			time.Sleep(100 * time.Millisecond)
			if got := calls.Load(); got != n {
				t.Fatalf("OnCancel %v: handler ran %d times, want %d", withOnCancel, got, n)
			}
		}
		f.drover.DispatchRequest(t, f.url, req("exec-1/change/1"))
		f.drover.DispatchRequest(t, f.url, req("exec-2/change/1"))
		waitCalls(2)
		f.drover.CancelRun(t, f.url, cancelOf("a", "exec-1/change/1"))
		f.drover.DispatchRequest(t, f.url, req("exec-2/change/1")) // still remembered: ignored
		waitCalls(2)
		f.drover.DispatchRequest(t, f.url, req("exec-1/change/1")) // forgotten: a new dispatch to the SDK
		waitCalls(3)
	}
}
