package handler_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/drover-dev/drover/internal/access"
	accessstore "github.com/drover-dev/drover/internal/access/store"
	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/migrations/handler"
	"github.com/drover-dev/drover/internal/migrations/store"
	"github.com/drover-dev/drover/pkg/api"
	"github.com/drover-dev/drover/pkg/migrator/signature"
)

// benchEnv serves the handler over a SQLite store holding one migration of n candidates, one of
// which (c00000) is running its first step.
func benchEnv(b *testing.B, n int) (http.Handler, *store.SQLiteStore) {
	b.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(filepath.Join(b.TempDir(), "drover.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	eng := newFakeEngine()
	eng.markOpen("big__c00000")
	svc := migrations.NewService(st, eng, nil, nil, slog.New(slog.DiscardHandler))
	ann := api.MigrationAnnouncement{Id: "big", Name: "Big", MigratorUrl: "http://127.0.0.1:1",
		Steps: []api.StepDefinition{{Name: "one", MigratorApp: "app"}, {Name: "two", MigratorApp: "app"}}, RequiredInputs: []api.RequiredInput{{Name: "team", Label: "Team"}}}
	for i := range n {
		ann.Candidates = append(ann.Candidates, api.CandidateInput{Id: fmt.Sprintf("c%05d", i), Kind: "service",
			Metadata: map[string]string{"repo": fmt.Sprintf("acme/svc-%05d", i), "team": "payments"}})
	}
	if err := svc.Announce(ctx, ann); err != nil {
		b.Fatal(err)
	}
	if err := st.BeginRun(ctx, migrations.RunRecord{RunID: "big__c00000", ExecutionID: "e", MigrationID: "big", CandidateID: "c00000",
		StepNames: []string{"one", "two"}, StartedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	if err := st.PutStepState(ctx, "big", "c00000", "e", api.StepState{StepName: "one", Status: api.StepStatusInProgress}, ""); err != nil {
		b.Fatal(err)
	}
	as, err := accessstore.OpenSQLite(":memory:")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = as.Close() })
	acc := access.NewService(as, access.Config{UnsignedUnowned: true}, nil)
	h, err := handler.New(handler.Config{Service: svc, Access: acc})
	if err != nil {
		b.Fatal(err)
	}
	return h, st
}

func serve(b *testing.B, h http.Handler, method, path string, body []byte, want int, header ...string) {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("%s %s answered %d: %s", method, path, rec.Code, rec.Body.String())
	}
}

func BenchmarkHandlers(b *testing.B) {
	h, st := benchEnv(b, 10000)
	ctx := context.Background()
	b.Run("ListCandidates/10000/cached", func(b *testing.B) {
		for b.Loop() {
			serve(b, h, http.MethodGet, "/migrations/big/candidates", nil, http.StatusOK)
		}
	})
	// afterChange reads path after a change to a candidate's inputs, so no cached answer is valid.
	afterChange := func(path string) func(b *testing.B) {
		return func(b *testing.B) {
			i := 0
			for b.Loop() {
				b.StopTimer()
				i++
				if _, err := st.MergeInputs(ctx, "big", "c00001", map[string]string{"team": fmt.Sprint(i)}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				serve(b, h, http.MethodGet, path, nil, http.StatusOK)
			}
		}
	}
	b.Run("ListCandidates/10000/afterChange", afterChange("/migrations/big/candidates"))
	b.Run("ListCandidates/10000/filteredPage", func(b *testing.B) {
		for b.Loop() {
			serve(b, h, http.MethodGet, "/migrations/big/candidates?q=c099&limit=50", nil, http.StatusOK)
		}
	})
	b.Run("ListMigrations/10000/afterChange", afterChange("/migrations"))
	b.Run("Progress/10000", func(b *testing.B) {
		for b.Loop() {
			serve(b, h, http.MethodGet, "/migrations/big/progress", nil, http.StatusOK)
		}
	})
	b.Run("GetSteps", func(b *testing.B) {
		for b.Loop() {
			serve(b, h, http.MethodGet, "/migrations/big/candidates/c00000/steps", nil, http.StatusOK)
		}
	})
	event := []byte(`{"stepName":"one","candidateId":"c00000","status":"pending","metadata":{"prUrl":"https://git.example/pr/1"}}`)
	b.Run("PostEvent", func(b *testing.B) {
		for b.Loop() {
			serve(b, h, http.MethodPost, "/event/big__c00000", event, http.StatusAccepted)
		}
	})
	b.Run("Start/409", func(b *testing.B) {
		for b.Loop() {
			serve(b, h, http.MethodPost, "/migrations/big/candidates/c00000/start", nil, http.StatusConflict)
		}
	})
	// The same requests through the trust model: a bearer token looked up by its hash, a
	// signature verified against the owner's secret and its id checked for replay, an audit
	// entry written for every state change.
	th, token, key := trustedHandler(b, st)
	b.Run("Trusted/GetSteps", func(b *testing.B) {
		for b.Loop() {
			serve(b, th, http.MethodGet, "/migrations/big/candidates/c00000/steps", nil, http.StatusOK, "Authorization", "Bearer "+token)
		}
	})
	b.Run("Trusted/PostEvent", func(b *testing.B) {
		for b.Loop() {
			h := http.Header{}
			signature.SignHeaders(h, [][]byte{key}, signature.NewID(), time.Now(), event)
			serve(b, th, http.MethodPost, "/event/big__c00000", event, http.StatusAccepted,
				signature.HeaderID, h.Get(signature.HeaderID), signature.HeaderTimestamp, h.Get(signature.HeaderTimestamp), signature.HeaderSignature, h.Get(signature.HeaderSignature))
		}
	})
	b.Run("Trusted/Start/409", func(b *testing.B) {
		for b.Loop() {
			serve(b, th, http.MethodPost, "/migrations/big/candidates/c00000/start", nil, http.StatusConflict, "Authorization", "Bearer "+token)
		}
	})
}

// trustedHandler serves st with authentication on: an operator token, and a migrator
// credential that owns the migration "big" (its key returned).
func trustedHandler(b *testing.B, st *store.SQLiteStore) (http.Handler, string, []byte) {
	b.Helper()
	ctx := context.Background()
	as, err := accessstore.OpenSQLite(filepath.Join(b.TempDir(), "access.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = as.Close() })
	acc := access.NewService(as, access.Config{RequireAuth: true}, nil)
	_, token, err := acc.MintToken(ctx, access.Principal{}, "bench", access.RoleOperator, 0)
	if err != nil {
		b.Fatal(err)
	}
	secret, _ := signature.NewSecret()
	if _, err := acc.EnsureMigrator(ctx, "bench-migrator", "bench", []string{"big"}, false, secret); err != nil {
		b.Fatal(err)
	}
	if _, err := as.ClaimMigration(ctx, "big", "bench-migrator"); err != nil {
		b.Fatal(err)
	}
	eng := newFakeEngine()
	eng.markOpen("big__c00000")
	svc := migrations.NewService(st, eng, nil, nil, slog.New(slog.DiscardHandler))
	h, err := handler.New(handler.Config{Service: svc, Access: acc})
	if err != nil {
		b.Fatal(err)
	}
	key, _ := signature.ParseSecret(secret)
	return h, token, key
}
