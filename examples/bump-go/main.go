package main

import (
	"context"
	"os"
	"os/signal"
	"time"

	"github.com/drover-dev/drover/pkg/migrator"
	"github.com/drover-dev/drover/pkg/migrator/wire"
)

func main() {
	var m *migrator.Migrator
	m, err := migrator.New(migrator.Config{
		Drover: "http://127.0.0.1:8080", // Drover's API
		URL:    "http://127.0.0.1:9191", // where Drover reaches this migrator
		Definition: migrator.Definition{
			ID: "bump-go", Name: "Bump Go", Description: "Moves every module to Go 1.26.",
			Steps: []wire.StepDefinition{{Name: "edit"}, {Name: "review"}},
		},
		Discover: func(ctx context.Context) ([]wire.CandidateInput, error) {
			return []wire.CandidateInput{
				{Id: "billing", Kind: "repo", Metadata: map[string]string{"path": "/src/billing"}},
				{Id: "search", Kind: "repo", Metadata: map[string]string{"path": "/src/search"}},
			}, nil
		},
		DiscoverEvery: time.Minute,
		Steps: map[string]migrator.StepFunc{
			"edit": func(ctx context.Context, req migrator.StepRequest) (migrator.Result, error) {
				// change the files under req.Candidate.Metadata["path"] here; an error fails the step
				return migrator.Succeeded(map[string]string{"branch": "drover/bump-go"}), nil
			},
			"review": func(ctx context.Context, req migrator.StepRequest) (migrator.Result, error) {
				// finish later, e.g. when the pull request merges
				go func() {
					time.Sleep(5 * time.Second)
					_ = m.Complete(context.Background(), req.RunID, req.StepName, migrator.Merged(nil))
				}()
				return migrator.Pending(map[string]string{"prUrl": "https://git.example/" + req.Candidate.Id + "/pull/1"}), nil
			},
		},
	})
	if err != nil {
		panic(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := m.Run(ctx, "127.0.0.1:9191", 30*time.Second); err != nil {
		panic(err)
	}
}
