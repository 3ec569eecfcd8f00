// Command hello-migrator is the smallest useful Drover migrator, written against the wire
// contract with the standard library only. It announces a migration that renames the `owner`
// key of each service's service.yaml to `team`, answers dry runs with the file diffs, and plays
// each step asynchronously: the pull-request step reports `pending` with a PR URL, then
// `merged`; candidate checkout-flaky fails that step once, so a retry can be tried.
//
// Signing (signing.go): given -secret or DROVER_MIGRATOR_SECRET (the whsec_ credential from
// POST /admin/migrators), requests to Drover are signed, and dispatches or dry runs Drover did
// not sign are refused with 401. Unset: nothing is signed or verified (Drover must allow it).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/drover-dev/drover/pkg/api"
)

type migrator struct {
	drover string
	self   string
	delay  time.Duration
	log    *slog.Logger
	client *http.Client
	key    []byte    // the secret's HMAC key; nil: unsigned
	verify *verifier // nil: dispatches are not verified

	mu       sync.Mutex
	failures map[string]bool // candidates whose open-pr already failed once
}

func main() {
	drover := flag.String("drover", "http://127.0.0.1:8080", "Drover's base URL")
	listen := flag.String("listen", "127.0.0.1:9090", "address this migrator listens on")
	self := flag.String("url", "", "base URL Drover calls this migrator at (default http://<listen>)")
	delay := flag.Duration("delay", 2*time.Second, "how long each step's work takes")
	secret := flag.String("secret", os.Getenv("DROVER_MIGRATOR_SECRET"), "this migrator's whsec_ secret (default $DROVER_MIGRATOR_SECRET); empty: unsigned")
	flag.Parse()
	if *self == "" {
		*self = "http://" + *listen
	}
	m := &migrator{drover: *drover, self: *self, delay: *delay, failures: map[string]bool{},
		log: slog.New(slog.NewTextHandler(os.Stderr, nil)), client: &http.Client{Timeout: 10 * time.Second}}
	if err := m.setSecret(*secret); err != nil {
		fmt.Fprintln(os.Stderr, "hello-migrator: -secret:", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /dispatch-step", m.dispatch)
	mux.HandleFunc("POST /dry-run", m.dryRun)
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			m.log.Error("serve", "error", err)
			os.Exit(1)
		}
	}()
	m.announce(ctx)
	<-ctx.Done()
	_ = srv.Shutdown(context.Background())
}

// setSecret makes m sign and verify with secret, or warns that it does neither.
func (m *migrator) setSecret(secret string) error {
	if secret == "" {
		m.log.Warn("no secret: dispatches are not verified and requests to Drover are not signed")
		return nil
	}
	key, err := parseSecret(secret)
	if err != nil {
		return err
	}
	m.key, m.verify = key, &verifier{key: key, seen: map[string]time.Time{}}
	return nil
}

// body reads a request from Drover and, with a secret, checks Drover signed it; otherwise it
// answers 401 and returns false.
func (m *migrator) body(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<20))
	if err != nil {
		http.Error(w, `{"error":"could not read the body"}`, http.StatusBadRequest)
		return nil, false
	}
	if m.verify != nil {
		if err := m.verify.verify(r.Header, raw, time.Now()); err != nil {
			m.log.Warn("refused an unsigned or forged request", "path", r.URL.Path, "error", err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(api.Error{Error: err.Error()})
			return nil, false
		}
	}
	return raw, true
}

func (m *migrator) announcement() api.MigrationAnnouncement {
	return api.MigrationAnnouncement{
		Id:             "hello-rename",
		Name:           "Rename owner to team",
		Description:    "Renames the `owner` key of every service.yaml to `team`.",
		Overview:       []string{"Edit service.yaml and open a pull request", "Delete the legacy owner file"},
		RequiredInputs: []api.RequiredInput{{Name: "team", Label: "Owning team", Description: "Written as the new `team` value."}},
		Steps: []api.StepDefinition{
			{Name: "rename-key", Description: "Rewrite service.yaml on a branch.", MigratorApp: app},
			{Name: "open-pr", Description: "Open a pull request and wait for it to merge.", MigratorApp: app, Type: "pull-request",
				Config: map[string]string{"baseBranch": "main"}},
			{Name: "cleanup", Description: "Delete the legacy owner file.", MigratorApp: app},
		},
		Candidates: []api.CandidateInput{
			{Id: "billing", Kind: "service", Metadata: map[string]string{"repo": "acme/billing", "team": "payments"}, Files: files("acme/billing")},
			{Id: "search", Kind: "service", Metadata: map[string]string{"repo": "acme/search"}, Files: files("acme/search")},
			{Id: "checkout-flaky", Kind: "service", Metadata: map[string]string{"repo": "acme/checkout", "team": "checkout"}, Files: files("acme/checkout")},
		},
		MigratorUrl: m.self,
	}
}

// app is this migrator's app id, the migratorApp of each of its steps.
const app = "hello-migrator"

// files is the file group each candidate announces: the production service.yaml in its repo.
func files(repo string) []api.FileGroup {
	return []api.FileGroup{{Name: "prod", Repo: repo, Files: []api.FileRef{
		{Path: "service.yaml", Url: "https://git.example/" + repo + "/blob/main/service.yaml"},
	}}}
}

// announce retries until Drover answers, so the migrator may start first.
func (m *migrator) announce(ctx context.Context) {
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		err := m.post(ctx, "/registry/announce", m.announcement())
		if err == nil {
			m.log.Info("announced", "migration", "hello-rename", "drover", m.drover)
			return
		}
		m.log.Warn("announce failed; retrying", "error", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (m *migrator) dispatch(w http.ResponseWriter, r *http.Request) {
	raw, ok := m.body(w, r)
	if !ok {
		return
	}
	var req api.DispatchStepRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		http.Error(w, `{"error":"dispatch body is not JSON"}`, http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusAccepted) // acknowledge at once; the work happens below
	go m.work(req)
}

func (m *migrator) work(req api.DispatchStepRequest) {
	ctx := context.Background()
	cid := req.Candidate.Id
	m.log.Info("step dispatched", "step", req.StepName, "candidate", cid, "team", req.Candidate.Metadata["team"])
	time.Sleep(m.delay)
	switch req.StepName {
	case "open-pr":
		pr := fmt.Sprintf("https://git.example/%s/pull/1", req.Candidate.Metadata["repo"])
		m.callback(ctx, req, api.StepEventStatusPending, map[string]string{"prUrl": pr})
		time.Sleep(m.delay)
		m.mu.Lock()
		fail := cid == "checkout-flaky" && !m.failures[cid]
		m.failures[cid] = true
		m.mu.Unlock()
		if fail {
			m.callback(ctx, req, api.StepEventStatusFailed, map[string]string{"error": "CI failed: flaky integration test", "prUrl": pr})
			return
		}
		m.callback(ctx, req, api.StepEventStatusMerged, nil)
	default:
		m.callback(ctx, req, api.StepEventStatusSucceeded, nil)
	}
}

func (m *migrator) callback(ctx context.Context, req api.DispatchStepRequest, status api.StepEventStatus, md map[string]string) {
	ev := api.StepStatusEvent{StepName: req.EventName, CandidateId: req.Candidate.Id, Status: status, Metadata: md}
	for attempt := 1; attempt <= 5; attempt++ {
		err := m.post(ctx, "/event/"+req.CallbackId, ev)
		if err == nil {
			m.log.Info("reported", "step", req.StepName, "candidate", req.Candidate.Id, "status", status)
			return
		}
		m.log.Warn("callback failed", "attempt", attempt, "error", err)
		time.Sleep(time.Duration(attempt) * time.Second)
	}
}

func (m *migrator) dryRun(w http.ResponseWriter, r *http.Request) {
	raw, ok := m.body(w, r)
	if !ok {
		return
	}
	var req api.DryRunRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		http.Error(w, `{"error":"dry-run body is not JSON"}`, http.StatusBadRequest)
		return
	}
	c := req.Candidate
	before := fmt.Sprintf("name: %s\nowner: %s\nport: 8080\n", c.Id, c.Metadata["team"])
	after := fmt.Sprintf("name: %s\nteam: %s\nport: 8080\n", c.Id, c.Metadata["team"])
	legacy := "owner\n"
	res := api.DryRunResult{}
	for _, s := range req.Steps {
		step := api.StepDryRun{StepName: s.Name}
		switch s.Name {
		case "rename-key":
			step.Files = []api.FileDiff{{Repo: c.Metadata["repo"], Path: "service.yaml", Before: before, After: after, Status: api.Modified}}
		case "cleanup":
			step.Files = []api.FileDiff{{Repo: c.Metadata["repo"], Path: "OWNER", Before: legacy, After: "", Status: api.Deleted}}
		default:
			step.Skipped = true
		}
		res.Steps = append(res.Steps, step)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

func (m *migrator) post(ctx context.Context, path string, body any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("%s: encode body: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.drover+path, bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if m.key != nil {
		sign(req.Header, m.key, raw, time.Now())
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e api.Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("%s answered %d: %s", path, resp.StatusCode, e.Error)
	}
	return nil
}
