package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/pkg/api"
)

// RunBenchmarks measures the store operations the API and the workflow call most; each
// sub-benchmark gets a fresh store from newStore.
func RunBenchmarks(b *testing.B, newStore NewStore) {
	b.Run("ListCandidates/10000", func(b *testing.B) {
		s := newStore(b)
		ctx := context.Background()
		require.NoError(b, s.SaveMigration(ctx, migration("big", at(0))))
		for start := 0; start < 10_000; start += 1_000 {
			batch := make([]api.CandidateInput, 0, 1_000)
			for i := start; i < start+1_000; i++ {
				batch = append(batch, largeCandidate(i))
			}
			require.NoError(b, s.MergeCandidates(ctx, "big", batch, at(1)))
		}
		b.ReportAllocs()
		for b.Loop() {
			list, err := s.ListCandidates(ctx, "big")
			if err != nil || len(list) != 10_000 {
				b.Fatalf("ListCandidates: %d candidates, %v", len(list), err)
			}
		}
	})

	b.Run("GetRun", func(b *testing.B) {
		s := newStore(b)
		ctx := context.Background()
		steps := []string{"open-pr", "merge-pr", "deploy", "verify", "clean-up"}
		seed(b, s, "m", at(0), richCandidate("a", 1))
		require.NoError(b, s.BeginRun(ctx, runRecord("m", "a", "exec-1", at(1), steps...)))
		for i, name := range steps {
			require.NoError(b, s.PutStepState(ctx, "m", "a", "exec-1", stepState("a", name, api.StepStatusSucceeded, i), ""))
		}
		b.ReportAllocs()
		for b.Loop() {
			run, err := s.GetRun(ctx, "m", "a")
			if err != nil || len(run.Steps) != len(steps) {
				b.Fatalf("GetRun: %d steps, %v", len(run.Steps), err)
			}
		}
	})

	b.Run("PutStepState", func(b *testing.B) {
		s := newStore(b)
		ctx := context.Background()
		steps := []string{"open-pr", "merge-pr", "deploy"}
		seed(b, s, "m", at(0), richCandidate("a", 1))
		require.NoError(b, s.BeginRun(ctx, runRecord("m", "a", "exec-1", at(1), steps...)))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			st := stepState("a", steps[i%len(steps)], api.StepStatusPending, i%60)
			if err := s.PutStepState(ctx, "m", "a", "exec-1", st, ""); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})

	for _, withCandidates := range []bool{false, true} {
		b.Run(fmt.Sprintf("ListMigrations/50x200/withCandidates=%v", withCandidates), func(b *testing.B) {
			s := newStore(b)
			ctx := context.Background()
			for m := range 50 {
				batch := make([]api.CandidateInput, 0, 200)
				for i := range 200 {
					batch = append(batch, largeCandidate(i))
				}
				seed(b, s, fmt.Sprintf("migration-%02d", m), at(m), batch...)
			}
			b.ReportAllocs()
			for b.Loop() {
				ms, err := s.ListMigrations(ctx, withCandidates)
				if err != nil || len(ms) != 50 {
					b.Fatalf("ListMigrations: %d migrations, %v", len(ms), err)
				}
			}
		})
	}

	b.Run("MergeCandidates/1000", func(b *testing.B) {
		s := newStore(b)
		ctx := context.Background()
		batch := make([]api.CandidateInput, 0, 1_000)
		for i := range 1_000 {
			batch = append(batch, largeCandidate(i))
		}
		seed(b, s, "m", at(0), batch...)
		b.ReportAllocs()
		for b.Loop() {
			// Re-discovery of known, not_started candidates: every definition is rewritten.
			if err := s.MergeCandidates(ctx, "m", batch, at(1)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
