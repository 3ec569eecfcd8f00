package migrator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/drover-dev/drover/pkg/migrator"
	"github.com/drover-dev/drover/pkg/migrator/wire"
)

// A whole migrator: declare the migration, discover candidates, handle each step, serve.
func Example() {
	m, err := migrator.New(migrator.Config{
		Drover: "http://127.0.0.1:8080",
		URL:    "http://127.0.0.1:9090",
		// The credential from POST /admin/migrators: requests are signed, dispatches verified.
		Secret: os.Getenv("DROVER_MIGRATOR_SECRET"),
		Definition: migrator.Definition{
			ID: "bump-go", Name: "Bump Go", Description: "Moves every module to Go 1.26.",
			Steps: []wire.StepDefinition{{Name: "edit"}, {Name: "pull-request"}},
		},
		Discover: func(ctx context.Context) ([]wire.CandidateInput, error) {
			return []wire.CandidateInput{{Id: "billing", Kind: "repo", Metadata: map[string]string{"path": "/src/billing"}}}, nil
		},
		DiscoverEvery: time.Minute,
		Steps: map[string]migrator.StepFunc{
			"edit": func(ctx context.Context, req migrator.StepRequest) (migrator.Result, error) {
				// change files in req.Candidate.Metadata["path"] on a branch...
				return migrator.Succeeded(map[string]string{"branch": "drover/bump-go"}), nil
			},
			"pull-request": func(ctx context.Context, req migrator.StepRequest) (migrator.Result, error) {
				// open the PR; a watcher calls m.Complete(ctx, req.RunID, req.StepName, migrator.Merged(nil)) later
				return migrator.Pending(map[string]string{"prUrl": "https://git.example/billing/pull/7"}), nil
			},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := m.Run(ctx, "127.0.0.1:9090", 30*time.Second); err != nil {
		fmt.Println(err)
	}
}

// A step that finishes outside its handler, e.g. when a pull request merges.
func ExampleMigrator_Complete() {
	var m *migrator.Migrator // from migrator.New
	onMerged := func(ctx context.Context, runID string) error {
		return m.Complete(ctx, runID, "pull-request", migrator.Merged(map[string]string{"sha": "4f2a9c1"}))
	}
	_ = onMerged
}

// Serving a migrator inside your own HTTP server: a dispatch is answered at once and the step's
// outcome reaches Drover as a callback. Here a stand-in for Drover prints what it receives.
func ExampleMigrator_Handler() {
	events := make(chan wire.StepStatusEvent, 1)
	drover := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev wire.StepStatusEvent
		_ = json.NewDecoder(r.Body).Decode(&ev)
		w.WriteHeader(http.StatusAccepted)
		events <- ev
	}))
	defer drover.Close()

	m, _ := migrator.New(migrator.Config{
		Drover: drover.URL, URL: "http://migrator.internal",
		Definition: migrator.Definition{ID: "rename", Steps: []wire.StepDefinition{{Name: "edit"}}},
		Steps: map[string]migrator.StepFunc{"edit": func(ctx context.Context, req migrator.StepRequest) (migrator.Result, error) {
			return migrator.Succeeded(map[string]string{"files": "1"}), nil
		}},
		Logger: slog.New(slog.DiscardHandler),
	})
	mux := http.NewServeMux()
	mux.Handle("/rename/", http.StripPrefix("/rename", m.Handler()))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	body := `{"migrationId":"rename","stepName":"edit","callbackId":"rename__billing","eventName":"edit",` +
		`"migratorApp":"rename","migratorUrl":"x","candidate":{"id":"billing","kind":"service","status":"running"}}`
	resp, _ := http.Post(srv.URL+"/rename/dispatch-step", "application/json", strings.NewReader(body))
	fmt.Println("dispatch answered", resp.StatusCode)
	ev := <-events
	fmt.Println(ev.CandidateId, ev.StepName, ev.Status, ev.Metadata["files"])
	// Output:
	// dispatch answered 202
	// billing edit succeeded 1
}
