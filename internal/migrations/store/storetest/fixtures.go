// Package storetest is the conformance suite and the benchmarks every
// migrations.MigrationStore implementation must pass.
package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

// NewStore returns an empty store for one test or benchmark and registers its clean-up on tb.
type NewStore func(tb testing.TB) migrations.MigrationStore

// t0 is the reference time of the fixtures; UTC with nanoseconds, to catch lossy encodings.
func t0() time.Time { return time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC) }

func at(minutes int) time.Time { return t0().Add(time.Duration(minutes) * time.Minute) }

func migration(id string, created time.Time) api.Migration {
	return api.Migration{
		Id:          id,
		Name:        "Migration " + id,
		Description: "Moves things for " + id,
		MigratorUrl: "http://migrator.example:8080",
		Overview:    []string{"prepare", "change"},
		Phases:      []api.OverviewPhase{{Name: "prepare", Description: "get ready", Steps: []string{"open-pr"}}},
		RequiredInputs: []api.RequiredInput{
			{Name: "ticket", Label: "Ticket", Description: "The change ticket"},
		},
		Steps: []api.StepDefinition{
			{Name: "open-pr", Description: "Open a pull request", MigratorApp: "git-app", Type: "git", Config: map[string]string{"branch": "drover/" + id}},
			{Name: "merge-pr", MigratorApp: "git-app"},
			{Name: "verify", MigratorApp: "checker", Type: "manual-review"},
		},
		CreatedAt: created,
	}
}

func candidate(id, kind string, meta ...string) api.CandidateInput {
	c := api.CandidateInput{Id: id, Kind: kind}
	if len(meta) > 0 {
		c.Metadata = map[string]string{}
		for i := 0; i+1 < len(meta); i += 2 {
			c.Metadata[meta[i]] = meta[i+1]
		}
	}
	return c
}

// richCandidate has every optional field set.
func richCandidate(id string, version int) api.CandidateInput {
	return api.CandidateInput{
		Id:       id,
		Kind:     "service",
		Metadata: map[string]string{"team": "payments", "version": fmt.Sprint(version)},
		Files: []api.FileGroup{
			{Name: "prod", Repo: "github.com/acme/" + id, Files: []api.FileRef{
				{Path: "Dockerfile", Url: "https://git.example/acme/" + id + "/Dockerfile"},
				{Path: "helm/values.yaml", Url: "https://git.example/acme/" + id + "/helm/values.yaml"},
			}},
			{Name: "base", Repo: "github.com/acme/base", Files: []api.FileRef{{Path: "values.yaml", Url: "https://git.example/acme/base/values.yaml"}}},
		},
		Steps: []api.StepDefinition{{Name: "open-pr", MigratorApp: "git-app", Config: map[string]string{"reviewers": "alice,bob"}}},
	}
}

func stepState(candidateID, name string, status api.StepStatus, minute int) api.StepState {
	return api.StepState{
		StepName:  name,
		Status:    status,
		Attempts:  1,
		Metadata:  map[string]string{"prUrl": "https://git.example/pr/" + name},
		StartedAt: at(minute),
		UpdatedAt: at(minute + 1),
	}
}

func runRecord(migrationID, candidateID, executionID string, started time.Time, steps ...string) migrations.RunRecord {
	return migrations.RunRecord{
		RunID:       migrations.RunID(migrationID, candidateID),
		ExecutionID: executionID,
		MigrationID: migrationID,
		CandidateID: candidateID,
		Status:      api.RunStatusRunning,
		StepNames:   steps,
		StartedAt:   started,
	}
}

// seed saves a migration with the given candidates, all not_started.
func seed(tb testing.TB, s migrations.MigrationStore, id string, created time.Time, cands ...api.CandidateInput) {
	tb.Helper()
	ctx := context.Background()
	require.NoError(tb, s.SaveMigration(ctx, migration(id, created)))
	require.NoError(tb, s.MergeCandidates(ctx, id, cands, created))
}

// setStatus drives a candidate to status through the run methods, as the workflow does.
func setStatus(tb testing.TB, s migrations.MigrationStore, migrationID, candidateID string, status api.CandidateStatus, when time.Time) {
	tb.Helper()
	if status == api.CandidateStatusNotStarted {
		return
	}
	ctx := context.Background()
	exec := fmt.Sprintf("exec-%s-%d", candidateID, when.UnixNano())
	require.NoError(tb, s.BeginRun(ctx, runRecord(migrationID, candidateID, exec, when, "open-pr", "merge-pr")))
	if status == api.CandidateStatusCompleted {
		require.NoError(tb, s.FinishRun(ctx, migrationID, candidateID, exec, api.RunStatusCompleted, api.CandidateStatusCompleted, when.Add(time.Minute)))
	}
}

// tally counts candidates by status.
func tally(cands []api.Candidate) api.CandidateCounts {
	var c api.CandidateCounts
	for _, cand := range cands {
		switch cand.Status {
		case api.CandidateStatusNotStarted:
			c.NotStarted++
		case api.CandidateStatusRunning:
			c.Running++
		case api.CandidateStatusCompleted:
			c.Completed++
		}
	}
	return c
}

func ids(cands []api.Candidate) []string {
	out := make([]string, len(cands))
	for i, c := range cands {
		out[i] = c.Id
	}
	return out
}

// asCandidate is what a store should return for a submitted candidate with the given state.
func asCandidate(in api.CandidateInput, status api.CandidateStatus, updated time.Time, inputs map[string]string) api.Candidate {
	return api.Candidate{
		Id:        in.Id,
		Kind:      in.Kind,
		Metadata:  in.Metadata,
		Files:     in.Files,
		Steps:     in.Steps,
		Status:    status,
		UpdatedAt: updated,
		Inputs:    inputs,
	}
}

// withRun returns c with the given run summary.
func withRun(c api.Candidate, run api.RunSummary) api.Candidate {
	c.Run = run
	return c
}

// runningSince is the summary of a run begun at started that has written no step yet.
func runningSince(started time.Time) api.RunSummary {
	return api.RunSummary{Status: api.RunStatusRunning, StartedAt: started}
}

// ended is the summary of a run that ended with status and wrote no step.
func ended(status api.RunStatus, started, finished time.Time) api.RunSummary {
	return api.RunSummary{Status: status, StartedAt: started, FinishedAt: finished}
}
