package migrator_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/drover-dev/drover/pkg/migrator"
	"github.com/drover-dev/drover/pkg/migrator/wire"
)

// A whole migrator: declare the migration, discover candidates, handle each step, serve.
func Example() {
	m, err := migrator.New(migrator.Config{
		Drover: "http://127.0.0.1:8080",
		URL:    "http://127.0.0.1:9090",
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
