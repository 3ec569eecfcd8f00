package gobump

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/pkg/migrator/signature"
)

// TestSecretReachesTheSDK: with Options.Secret an unsigned dispatch is refused and a signed
// one accepted; a malformed secret fails New.
func TestSecretReachesTheSDK(t *testing.T) {
	secret, err := signature.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := signature.ParseSecret(secret)
	quiet := slog.New(slog.DiscardHandler)
	if _, err := New(Options{Workspace: t.TempDir(), Drover: "http://127.0.0.1:1", URL: "http://127.0.0.1:2", Secret: "whsec_nope", Logger: quiet}); err == nil || !strings.Contains(err.Error(), "Secret") {
		t.Fatalf("a malformed secret: %v", err)
	}
	b, err := New(Options{Workspace: t.TempDir(), Drover: "http://127.0.0.1:1", URL: "http://127.0.0.1:2", Secret: secret, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.Migrator().Handler())
	defer srv.Close()
	body := []byte(`{"migrationId":"` + MigrationID + `","steps":[{"name":"branch"}],"candidate":{"id":"nowhere","kind":"go-module","status":"not_started"}}`)
	post := func(sign bool) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/dry-run", bytes.NewReader(body))
		if sign {
			signature.SignHeaders(req.Header, [][]byte{key}, signature.NewID(), time.Now(), body)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(false); code != http.StatusUnauthorized {
		t.Fatalf("unsigned dry run answered %d, want 401", code)
	}
	if code := post(true); code != http.StatusOK {
		t.Fatalf("signed dry run answered %d, want 200", code)
	}
}
