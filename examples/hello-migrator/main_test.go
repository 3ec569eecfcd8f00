package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/drover-dev/drover/pkg/migrator/signature"
)

// The example's own scheme must interoperate with the shared implementation Drover uses.
func TestSchemeMatchesDrovers(t *testing.T) {
	secret, err := signature.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	key, err := parseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"stepName":"rename-key"}`)
	h := http.Header{}
	sign(h, key, body, time.Now())
	if _, err := signature.Verify([][]byte{key}, h, body, time.Now()); err != nil {
		t.Fatalf("Drover does not verify the example's signature: %v", err)
	}

	v := &verifier{key: key, seen: map[string]time.Time{}}
	other, _ := signature.NewSecret()
	otherKey, _ := signature.ParseSecret(other)
	now := time.Now()
	signed := func(keys [][]byte, ts time.Time) http.Header {
		h := http.Header{}
		signature.SignHeaders(h, keys, signature.NewID(), ts, body)
		return h
	}
	rotating := signed([][]byte{otherKey, key}, now) // Drover signs with every secret while one rotates
	if err := v.verify(rotating, body, now); err != nil {
		t.Fatalf("Drover's signature does not verify: %v", err)
	}
	for name, h := range map[string]http.Header{
		"replayed":    rotating,
		"unsigned":    {},
		"another key": signed([][]byte{otherKey}, now),
		"stale":       signed([][]byte{key}, now.Add(-6*time.Minute)),
	} {
		if err := v.verify(h, body, now); err == nil {
			t.Errorf("%s request verified", name)
		}
	}
	if err := v.verify(signed([][]byte{key}, now), []byte(`{"stepName":"cleanup"}`), now); err == nil {
		t.Error("a tampered body verified")
	}
}

// With a secret, a forged dispatch is 401 and does nothing; a signed one runs and its
// callback reaches Drover signed.
func TestDispatchIsVerifiedAndCallbacksSigned(t *testing.T) {
	secret, _ := signature.NewSecret()
	key, _ := signature.ParseSecret(secret)
	got := make(chan error, 4)
	drover := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, err := signature.Verify([][]byte{key}, r.Header, body, time.Now())
		got <- err
		w.WriteHeader(http.StatusAccepted)
	}))
	defer drover.Close()
	m := &migrator{drover: drover.URL, failures: map[string]bool{}, client: drover.Client(), log: slog.New(slog.DiscardHandler)}
	if err := m.setSecret(secret); err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"migrationId":"hello-rename","stepName":"rename-key","eventName":"rename-key","callbackId":"hello-rename__billing",` +
		`"candidate":{"id":"billing","kind":"service","status":"running"}}`)
	dispatch := func(h http.Header) int {
		req := httptest.NewRequest(http.MethodPost, "/dispatch-step", bytes.NewReader(body))
		req.Header = h
		rec := httptest.NewRecorder()
		m.dispatch(rec, req)
		return rec.Code
	}
	if code := dispatch(http.Header{}); code != http.StatusUnauthorized {
		t.Fatalf("unsigned dispatch answered %d", code)
	}
	h := http.Header{}
	signature.SignHeaders(h, [][]byte{key}, signature.NewID(), time.Now(), body)
	if code := dispatch(h); code != http.StatusAccepted {
		t.Fatalf("signed dispatch answered %d", code)
	}
	if code := dispatch(h); code != http.StatusUnauthorized {
		t.Fatalf("replayed dispatch answered %d", code)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("the callback does not verify: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no callback")
	}
	select {
	case <-got:
		t.Fatal("a refused dispatch ran")
	case <-time.After(100 * time.Millisecond):
	}
}

func TestUnsignedWithoutSecret(t *testing.T) {
	m := &migrator{failures: map[string]bool{}, log: slog.New(slog.DiscardHandler)}
	if err := m.setSecret(""); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.dryRun(rec, httptest.NewRequest(http.MethodPost, "/dry-run", bytes.NewReader([]byte(`{"candidate":{"id":"a"},"steps":[{"name":"rename-key"}]}`))))
	if rec.Code != http.StatusOK {
		t.Fatalf("unsigned dry run without a secret answered %d", rec.Code)
	}
	if err := m.setSecret("whsec_short"); err == nil {
		t.Fatal("a malformed secret was accepted")
	}
}
