// Package store holds the implementations of migrations.MigrationStore: RedisStore for
// production (drover serve) and SQLiteStore, the embedded durable store of drover dev.
package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

// Both stores keep times as Unix nanoseconds, with 0 standing for the zero time.

func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// migrationTimes picks the UpdatedAt a save records (m.UpdatedAt, else m.CreatedAt, else now) and
// the CreatedAt it records when the migration is new (m.CreatedAt, else that UpdatedAt).
func migrationTimes(m api.Migration) (created, updated time.Time) {
	updated = m.UpdatedAt
	if updated.IsZero() {
		updated = m.CreatedAt
	}
	if updated.IsZero() {
		updated = time.Now()
	}
	created = m.CreatedAt
	if created.IsZero() {
		created = updated
	}
	return created, updated
}

// encodeMigrationDef serialises the definition part of a migration: everything but the fields
// the store derives or keeps beside it (candidates, counts, timestamps).
func encodeMigrationDef(m api.Migration) ([]byte, error) {
	m.Candidates = nil
	m.Counts = api.CandidateCounts{}
	m.CreatedAt = time.Time{}
	m.UpdatedAt = time.Time{}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode migration %s: %w", m.Id, err)
	}
	return b, nil
}

func decodeMigrationDef(id string, def []byte, created, updated int64) (api.Migration, error) {
	var m api.Migration
	if err := decodeDef(def, &m, upgradeMigrationDef); err != nil {
		return api.Migration{}, fmt.Errorf("decode migration %s: %w", id, err)
	}
	m.Id = id
	m.Candidates = nil
	m.CreatedAt = fromNanos(created)
	m.UpdatedAt = fromNanos(updated)
	return m, nil
}

// encodeCandidateDef serialises what a migrator submitted about a candidate; its status is the
// store's business and is dropped.
func encodeCandidateDef(c api.CandidateInput) ([]byte, error) {
	c.Status = ""
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode candidate %s: %w", c.Id, err)
	}
	return b, nil
}

// decodeCandidate assembles a candidate from its stored definition and state; inputs may be
// empty (no inputs).
func decodeCandidate(id string, def []byte, status string, updated int64, inputs []byte) (api.Candidate, error) {
	var in api.CandidateInput
	if err := decodeDef(def, &in, upgradeCandidateDef); err != nil {
		return api.Candidate{}, fmt.Errorf("decode candidate %s: %w", id, err)
	}
	c := api.Candidate{
		Id:        id,
		Kind:      in.Kind,
		Metadata:  in.Metadata,
		Files:     in.Files,
		Steps:     in.Steps,
		Status:    api.CandidateStatus(status),
		UpdatedAt: fromNanos(updated),
	}
	var err error
	if c.Inputs, err = decodeInputs(inputs); err != nil {
		return api.Candidate{}, fmt.Errorf("decode inputs of candidate %s: %w", id, err)
	}
	return c, nil
}

// storedStep is a step state as the stores keep it: without its candidate, which GetSteps
// fills from the candidate's current record (stored states of older versions named the
// candidate by id; the shallower field takes the key, so that is ignored too).
type storedStep struct {
	api.StepState
	Candidate json.RawMessage `json:"candidate,omitempty"`
}

func encodeStepState(st api.StepState) (string, error) {
	return encodeJSON("step state", storedStep{StepState: st})
}

func decodeStepState(raw []byte) (api.StepState, error) {
	var st storedStep
	if err := json.Unmarshal(raw, &st); err != nil {
		return api.StepState{}, err
	}
	return st.StepState, nil
}

// runSummary assembles a candidate's run summary from stored fields; a candidate that never ran
// (no run status) has the zero summary, which the API leaves out.
func runSummary(status string, started, finished int64, stepName, stepStatus, attention string, waitingSince int64) api.RunSummary {
	if status == "" {
		return api.RunSummary{}
	}
	return api.RunSummary{
		Status:     api.RunStatus(status),
		StartedAt:  fromNanos(started),
		FinishedAt: fromNanos(finished),
		StepName:   stepName,
		StepStatus: api.StepStatus(stepStatus),
		Attention:  api.Attention(attention),
		// WaitingSince only goes with the attention it times.
		WaitingSince: fromNanos(waitingSince),
	}
}

// summaryStep derives a run's summary step from its step states, for runs recorded before the
// stores kept run summaries: the latest step that started, and its attention (none once the run
// has ended). defs are the steps the run was started with, as far as the store still knows them:
// the candidate's own steps, else the migration's.
func summaryStep(run migrations.RunRecord, candidateSteps, migrationSteps []api.StepDefinition) (api.StepState, api.Attention) {
	if len(run.Steps) == 0 {
		return api.StepState{}, ""
	}
	last := run.Steps[len(run.Steps)-1]
	if run.Status != api.RunStatusRunning {
		return last, ""
	}
	defs := candidateSteps
	if len(defs) == 0 {
		defs = migrationSteps
	}
	def, _ := migrations.FindStep(defs, last.StepName)
	return last, migrations.Attention(last, def)
}

// decodeInputs returns nil for no inputs, so that "none" looks the same in both stores.
func decodeInputs(b []byte) (map[string]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

func sortCandidates(cs []api.Candidate) {
	slices.SortFunc(cs, func(a, b api.Candidate) int { return strings.Compare(a.Id, b.Id) })
}

// sortMigrations orders migrations by CreatedAt, ties by id.
func sortMigrations(ms []api.Migration) {
	slices.SortFunc(ms, func(a, b api.Migration) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Id, b.Id)
	})
}

// countStatus adds one candidate of the given status to counts.
func countStatus(counts *api.CandidateCounts, status api.CandidateStatus, n int) {
	switch status {
	case api.CandidateStatusNotStarted:
		counts.NotStarted += n
	case api.CandidateStatusRunning:
		counts.Running += n
	case api.CandidateStatusCompleted:
		counts.Completed += n
	}
}

// orderSteps returns the step states in the run's step order; states of steps the run does not
// name (which callers should not write) follow, by name.
func orderSteps(names []string, states map[string]api.StepState) []api.StepState {
	out := make([]api.StepState, 0, len(states))
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if st, ok := states[n]; ok && !seen[n] {
			out = append(out, st)
			seen[n] = true
		}
	}
	if len(out) < len(states) {
		var rest []string
		for n := range states {
			if !seen[n] {
				rest = append(rest, n)
			}
		}
		slices.Sort(rest)
		for _, n := range rest {
			out = append(out, states[n])
		}
	}
	return out
}

func encodeJSON(what string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", what, err)
	}
	return string(b), nil
}

// backendError marks a failure of the database or of the connection to it as
// migrations.ErrUnavailable, so the API can answer 503; a cancelled or expired context stays
// as it is.
func backendError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %w", migrations.ErrUnavailable, err)
}

// statusOrDefault returns s, or def when s is empty.
func statusOrDefault[T ~string](s, def T) T {
	if s == "" {
		return def
	}
	return s
}

// nonNil returns s, or an empty slice for nil so it encodes as [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// decodeCancellation decodes a stored run cancellation; none is nil.
func decodeCancellation(enc string) (*api.RunCancellation, error) {
	if enc == "" {
		return nil, nil
	}
	var c api.RunCancellation
	if err := json.Unmarshal([]byte(enc), &c); err != nil {
		return nil, fmt.Errorf("decode run cancellation: %w", err)
	}
	return &c, nil
}

// sortRollouts orders rollouts oldest first, by CreatedAt then id.
func sortRollouts(rs []api.Rollout) {
	slices.SortFunc(rs, func(a, b api.Rollout) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.Id, b.Id))
	})
}

// decodeRollout decodes a stored rollout.
func decodeRollout(enc string) (api.Rollout, error) {
	var r api.Rollout
	if err := json.Unmarshal([]byte(enc), &r); err != nil {
		return api.Rollout{}, fmt.Errorf("decode rollout: %w", err)
	}
	return r, nil
}
