package gobump

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/pkg/migrator/migratortest"
	"github.com/drover-dev/drover/pkg/migrator/signature"
	"github.com/drover-dev/drover/pkg/migrator/wire"
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

// TestCancelledRunLosesItsBranch: when Drover cancels a run after its branch and pull-request
// steps, the branch is deleted and the pull request closed (the watcher no longer waits for it);
// the notice sent again still succeeds, and a notice naming another commit than the branch's
// (a later run made the branch anew) leaves the branch alone.
func TestCancelledRunLosesItsBranch(t *testing.T) {
	ctx := context.Background()
	workspace := filepath.Join(t.TempDir(), "repos")
	if err := CreateDemoWorkspace(ctx, workspace); err != nil {
		t.Fatal(err)
	}
	drover := migratortest.NewServer(t)
	srv := httptest.NewUnstartedServer(nil)
	b, err := New(Options{Workspace: workspace, Drover: drover.URL, URL: "http://" + srv.Listener.Addr().String(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = b.Migrator().Handler()
	srv.Start()
	t.Cleanup(srv.Close)

	runID := MigrationID + "__billing"
	cand := wire.Candidate{Id: "billing", Kind: "go-module", Status: wire.CandidateStatusRunning, Metadata: wire.Metadata{"reviewer": "ana"}}
	dispatch := func(step, id string) {
		t.Helper()
		req := wire.DispatchStepRequest{MigrationId: MigrationID, StepName: step, Candidate: cand, CallbackId: runID, EventName: step,
			MigratorApp: "gobump", MigratorUrl: srv.URL, DispatchId: id}
		if code := drover.DispatchRequest(t, srv.URL, req); code != http.StatusAccepted {
			t.Fatalf("dispatch of %s answered %d", step, code)
		}
	}
	dispatch("branch", "exec-1/branch/1")
	branched := drover.WaitEvent(t, runID, "branch", wire.StepEventStatusSucceeded, 10*time.Second)
	dispatch("pull-request", "exec-1/pull-request/1")
	pr := drover.WaitEvent(t, runID, "pull-request", wire.StepEventStatusPending, 10*time.Second)
	repo := filepath.Join(workspace, "billing")
	if out, _ := git(ctx, repo, "branch", "--list", Branch); strings.TrimSpace(out) == "" {
		t.Fatal("the branch step made no branch")
	}
	if run, _ := git(ctx, repo, "config", "--get", pendingKey); strings.TrimSpace(run) != runID {
		t.Fatalf("pending run %q, want %q", run, runID)
	}

	cancelOf := func(commit string) wire.CancelRunRequest {
		return wire.CancelRunRequest{CallbackId: runID, MigrationId: MigrationID, Candidate: cand, Steps: []wire.CancelledStep{
			{StepName: "branch", Status: wire.StepStatusSucceeded, DispatchId: branched.DispatchId, Metadata: map[string]string{"branch": Branch, "commit": commit}},
			{StepName: "pull-request", Status: wire.StepStatusPending, DispatchId: pr.DispatchId, Metadata: pr.Metadata},
		}}
	}
	if code := drover.CancelRun(t, srv.URL, cancelOf("0000000")); code != http.StatusNoContent {
		t.Fatalf("a stale cancellation answered %d, want 204", code)
	}
	if out, _ := git(ctx, repo, "branch", "--list", Branch); strings.TrimSpace(out) == "" {
		t.Fatal("a cancellation naming another commit deleted the branch")
	}

	req := cancelOf(branched.Metadata["commit"])
	if code := drover.CancelRun(t, srv.URL, req); code != http.StatusNoContent {
		t.Fatalf("cancel-run answered %d, want 204", code)
	}
	if out, err := git(ctx, repo, "branch", "--list", Branch); err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("the cancelled run's branch is still there: %q %v", out, err)
	}
	if run, err := git(ctx, repo, "config", "--get", pendingKey); err == nil || strings.TrimSpace(run) != "" {
		t.Fatalf("the cancelled run's pull request is still open (pending run %q)", run)
	}
	if out, _ := git(ctx, repo, "status", "--porcelain"); strings.TrimSpace(out) != "" {
		t.Fatalf("the cancellation left the work tree changed: %s", out)
	}
	if code := drover.CancelRun(t, srv.URL, req); code != http.StatusNoContent {
		t.Fatalf("the notice sent again (the branch already gone) answered %d, want 204", code)
	}
}
