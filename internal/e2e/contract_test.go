package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/testsupport"
)

// The compatibility suite: a migrator written only from DESIGN's wire contract, with none of
// Drover's extras. Its requests are recorded in testdata/contract (string overview items, file
// groups with names and FileRefs, steps with migratorApp, type manual-review and config) and
// replayed through announce → candidates → dry run → dispatch → events against the real
// server, and every request in either direction is checked against testdata/contract/contract.yaml,
// which states the contract's shapes independently of Drover's own spec.

const contractDir = "testdata/contract"

// contract holds the contract's schemas by name.
type contract struct {
	schemas openapi3.Schemas
}

func loadContract(t *testing.T) contract {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join(contractDir, "contract.yaml"))
	require.NoError(t, err)
	require.NoError(t, doc.Validate(t.Context()))
	return contract{schemas: doc.Components.Schemas}
}

// check fails the test unless raw is JSON of the named contract shape.
func (c contract) check(t testing.TB, shape string, raw []byte) {
	t.Helper()
	ref, ok := c.schemas[shape]
	require.True(t, ok, "no contract shape %s", shape)
	var v any
	require.NoError(t, json.Unmarshal(raw, &v), "%s is not JSON: %s", shape, raw)
	require.NoError(t, ref.Value.VisitJSON(v), "%s does not match the contract: %s", shape, raw)
}

// recordedID is the migration id of the recorded requests.
const recordedID = "helm-chart-swap"

// fixture reads a recorded request, with {{migratorUrl}} filled in and the migration renamed
// to id (runs of the shared Temporal server must not meet another test's).
func fixture(t *testing.T, name, migratorURL, id string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(contractDir, name))
	require.NoError(t, err)
	raw = bytes.ReplaceAll(raw, []byte("{{migratorUrl}}"), []byte(migratorURL))
	return bytes.ReplaceAll(raw, []byte(`"`+recordedID+`"`), []byte(`"`+id+`"`))
}

// jsonValue decodes raw JSON into plain values for comparison.
func jsonValue(t testing.TB, raw []byte) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(raw, &v), "not JSON: %s", raw)
	return v
}

// field returns v's member at the dotted path (objects only).
func field(v any, path string) any {
	for _, p := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// byID finds the object whose "id" (or "name", for steps) is id in a JSON array.
func byID(list any, key, id string) map[string]any {
	items, _ := list.([]any)
	for _, it := range items {
		if m, ok := it.(map[string]any); ok && m[key] == id {
			return m
		}
	}
	return nil
}

// contractMigrator is the migrator's HTTP side: it checks every request Drover sends against
// the contract, keeps the raw bodies, and answers as a contract migrator does.
type contractMigrator struct {
	t        *testing.T
	contract contract
	dryRun   []byte // the DryRunResult it answers

	mu         sync.Mutex
	dryRuns    [][]byte
	dispatches chan []byte
}

func newContractMigrator(t *testing.T, c contract, dryRun []byte) (*contractMigrator, string) {
	m := &contractMigrator{t: t, contract: c, dryRun: dryRun, dispatches: make(chan []byte, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /dispatch-step", func(w http.ResponseWriter, r *http.Request) {
		raw, ok := m.read(w, r, "DispatchStepRequest")
		if !ok {
			return
		}
		m.dispatches <- raw
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("POST /dry-run", func(w http.ResponseWriter, r *http.Request) {
		raw, ok := m.read(w, r, "DryRunRequest")
		if !ok {
			return
		}
		m.mu.Lock()
		m.dryRuns = append(m.dryRuns, raw)
		m.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(m.dryRun)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return m, srv.URL
}

// read checks a request from Drover against the contract; a mismatch is answered 400, as a
// strict migrator would, and fails the test.
func (m *contractMigrator) read(w http.ResponseWriter, r *http.Request, shape string) ([]byte, bool) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, false
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		m.t.Errorf("Drover sent a %s that is not JSON: %s", shape, raw)
		http.Error(w, `{"error":"not JSON"}`, http.StatusBadRequest)
		return nil, false
	}
	if err := m.contract.schemas[shape].Value.VisitJSON(v); err != nil {
		m.t.Errorf("Drover sent a %s that breaks the contract: %v\n%s", shape, err, raw)
		http.Error(w, `{"error":"breaks the contract"}`, http.StatusBadRequest)
		return nil, false
	}
	return raw, true
}

func (m *contractMigrator) nextDispatch(t *testing.T) any {
	t.Helper()
	select {
	case raw := <-m.dispatches:
		return jsonValue(t, raw)
	case <-time.After(waitFor):
		t.Fatalf("no dispatch within %s", waitFor)
		return nil
	}
}

// post sends a recorded request as the migrator would (JSON, no signature, no Drover extras)
// and returns the answer.
func post(t *testing.T, a *testsupport.API, path string, body []byte) testsupport.Response {
	t.Helper()
	return a.Do(t, http.MethodPost, path, body)
}

func TestContractMigrator(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) { testContractMigrator(t, kind) })
	}
}

func testContractMigrator(t *testing.T, kind string) {
	c := loadContract(t)
	id := recordedID + "-" + kind
	mig, migratorURL := newContractMigrator(t, c, fixture(t, "dry-run-result.json", "", id))
	_, a := startDrover(t, newStore(t, kind))

	announce := fixture(t, "announce.json", migratorURL, id)
	submission := fixture(t, "candidates.json", migratorURL, id)
	c.check(t, "MigrationAnnouncement", announce)
	c.check(t, "CandidateSubmission", submission)
	sent := jsonValue(t, announce)

	// Announce and submit: answered as the contract says.
	r := post(t, a, "/registry/announce", announce)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	c.check(t, "StatusResponse", r.Body)
	require.Equal(t, "SUCCESS", field(jsonValue(t, r.Body), "status"))
	r = post(t, a, "/migrations/"+id+"/candidates", submission)
	require.True(t, r.Status >= 200 && r.Status < 300, "submit candidates: %d %s", r.Status, r.Body)

	// What the operator reads back is the contract's Migration, with what the migrator sent.
	r = a.Do(t, http.MethodGet, "/migrations/"+id, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	c.check(t, "Migration", r.Body)
	got := jsonValue(t, r.Body)
	for _, k := range []string{"name", "description", "overview", "requiredInputs", "steps", "migratorUrl"} {
		require.Equal(t, field(sent, k), field(got, k), "GET /migrations/%s: %s", id, k)
	}
	r = a.Do(t, http.MethodGet, "/migrations/"+id+"/candidates", nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	c.check(t, "CandidateList", r.Body)
	listed := jsonValue(t, r.Body)
	require.Len(t, listed, 4)
	submitted := byID(field(jsonValue(t, submission), "candidates"), "id", "search-indexer")
	require.Equal(t, submitted["files"], byID(listed, "id", "search-indexer")["files"])
	r = a.Do(t, http.MethodGet, "/migrations", nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	c.check(t, "MigrationList", r.Body)

	sentCandidate := byID(field(sent, "candidates"), "id", "payments-api")
	require.NotNil(t, sentCandidate)

	// Dry run: the migrator gets the candidate and steps back as it sent them, merged with the
	// operator's inputs, and its result reaches the operator unchanged.
	r = post(t, a, "/migrations/"+id+"/dry-run", []byte(`{"candidate":{"id":"payments-api"},"inputs":{"reviewer":"ana"}}`))
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	c.check(t, "DryRunResult", r.Body)
	require.Equal(t, jsonValue(t, fixture(t, "dry-run-result.json", "", id)), jsonValue(t, r.Body))
	mig.mu.Lock()
	require.Len(t, mig.dryRuns, 1)
	dry := jsonValue(t, mig.dryRuns[0])
	mig.mu.Unlock()
	require.Equal(t, id, field(dry, "migrationId"))
	require.Equal(t, field(sent, "steps"), field(dry, "steps"), "dry-run steps")
	requireSameCandidate(t, sentCandidate, field(dry, "candidate"), map[string]any{"reviewer": "ana"})

	// Empty containers come back as sent, not dropped: a migrator may index into them.
	r = post(t, a, "/migrations/"+id+"/dry-run", []byte(`{"candidate":{"id":"empty-containers"}}`))
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	mig.mu.Lock()
	dry = jsonValue(t, mig.dryRuns[len(mig.dryRuns)-1])
	mig.mu.Unlock()
	require.Equal(t, []any{}, field(dry, "candidate.files"))
	require.Equal(t, map[string]any{}, field(dry, "candidate.metadata"))

	// The per-candidate steps of ledger-worker come back as its own.
	r = post(t, a, "/migrations/"+id+"/dry-run", []byte(`{"candidate":{"id":"ledger-worker"},"inputs":{"reviewer":"ana","ticket":"CHG-7"}}`))
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	mig.mu.Lock()
	dry = jsonValue(t, mig.dryRuns[len(mig.dryRuns)-1])
	mig.mu.Unlock()
	ledger := byID(field(sent, "candidates"), "id", "ledger-worker")
	require.Equal(t, ledger["steps"], field(dry, "steps"))
	require.Equal(t, ledger["steps"], field(dry, "candidate.steps"))

	// Start: every dispatch carries the step's migratorApp, type and config as announced.
	r = post(t, a, "/migrations/"+id+"/candidates/payments-api/start", []byte(`{"inputs":{"reviewer":"ana"}}`))
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	runID := id + "__payments-api"
	sentSteps := field(sent, "steps").([]any)
	event := func(name string) {
		t.Helper()
		body := fixture(t, name, migratorURL, id)
		c.check(t, "StepStatusEvent", body)
		r := post(t, a, "/event/"+runID, body)
		require.Equal(t, http.StatusAccepted, r.Status, "%s: %s", name, r.Body)
		c.check(t, "StatusResponse", r.Body)
	}
	requireDispatch := func(step int) map[string]any {
		t.Helper()
		d := mig.nextDispatch(t).(map[string]any)
		def := sentSteps[step].(map[string]any)
		require.Equal(t, id, d["migrationId"])
		require.Equal(t, def["name"], d["stepName"])
		require.Equal(t, def["name"], d["eventName"])
		require.Equal(t, def["migratorApp"], d["migratorApp"], "dispatch of %s", def["name"])
		require.Equal(t, def["type"], d["type"], "dispatch of %s", def["name"])
		require.Equal(t, def["config"], d["config"], "dispatch of %s", def["name"])
		require.Equal(t, runID, d["callbackId"])
		require.Equal(t, migratorURL, d["migratorUrl"])
		requireSameCandidate(t, sentCandidate, d["candidate"], map[string]any{"reviewer": "ana"})
		require.Equal(t, "running", field(d, "candidate.status"))
		return d
	}

	requireDispatch(0)
	event("event-open-pr-pending.json")
	st := waitStep(t, a, id, "payments-api", "open-pr", "pending")
	require.Equal(t, "https://git.example/acme/payments-api/pull/77", st.Metadata["prUrl"])
	event("event-open-pr-merged.json")

	// The manual-review step: the migrator reports it pending, it needs a person, and the
	// operator marks it done.
	requireDispatch(1)
	event("event-review-pending.json")
	waitStep(t, a, id, "payments-api", "review", "pending")
	testsupport.Eventually(t, waitFor, func() (bool, string) {
		r := a.Do(t, http.MethodGet, "/migrations/"+id+"/candidates/payments-api", nil)
		att := field(jsonValue(t, r.Body), "run.attention")
		return att == "waiting", "attention is " + toString(att)
	})
	r = a.Do(t, http.MethodGet, "/migrations/"+id+"/candidates?attention=true", nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.NotNil(t, byID(jsonValue(t, r.Body), "id", "payments-api"), "a waiting manual-review step needs attention: %s", r.Body)
	r = post(t, a, "/event/"+runID, []byte(`{"stepName":"review","candidateId":"payments-api","status":"succeeded","metadata":{"reviewedBy":"ana"}}`))
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))

	// The last step goes to another app of the migrator; then the run completes.
	requireDispatch(2)
	event("event-cleanup-succeeded.json")
	waitCandidate(t, a, id, "payments-api", "completed")

	r = a.Do(t, http.MethodGet, "/migrations/"+id+"/candidates/payments-api/steps", nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	c.check(t, "RunSteps", r.Body)
	run := jsonValue(t, r.Body)
	require.Equal(t, "completed", field(run, "status"))
	for _, s := range field(run, "steps").([]any) {
		sm := s.(map[string]any)
		require.Equal(t, "payments-api", field(sm, "candidate.id"))
		require.Equal(t, "service", field(sm, "candidate.kind"))
		require.Equal(t, "completed", field(sm, "candidate.status"))
	}
	require.Equal(t, []string{"merged", "succeeded", "succeeded"}, statuses(run))

	// ledger-worker's own steps drive its run: its first dispatch carries that step's app,
	// type and config, and the candidate as sent.
	r = post(t, a, "/migrations/"+id+"/candidates/ledger-worker/start", []byte(`{"inputs":{"reviewer":"ana","ticket":"CHG-7"}}`))
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	d := mig.nextDispatch(t).(map[string]any)
	own := ledger["steps"].([]any)[0].(map[string]any)
	require.Equal(t, own["name"], d["stepName"])
	require.Equal(t, own["migratorApp"], d["migratorApp"])
	require.Equal(t, own["type"], d["type"])
	require.Equal(t, own["config"], d["config"])
	require.Equal(t, id+"__ledger-worker", d["callbackId"])
	requireSameCandidate(t, ledger, d["candidate"], map[string]any{"reviewer": "ana", "ticket": "CHG-7"})
}

// requireSameCandidate asserts that Drover sent back the candidate the migrator announced:
// the same id, kind, files and steps, and its metadata with the operator's inputs merged in.
func requireSameCandidate(t *testing.T, sent map[string]any, got any, inputs map[string]any) {
	t.Helper()
	g, ok := got.(map[string]any)
	require.True(t, ok, "candidate is not an object: %v", got)
	require.Equal(t, sent["id"], g["id"])
	require.Equal(t, sent["kind"], g["kind"])
	require.Equal(t, sent["files"], g["files"], "files of %s", sent["id"])
	require.Equal(t, sent["steps"], g["steps"], "steps of %s", sent["id"])
	want := map[string]any{}
	for k, v := range sent["metadata"].(map[string]any) {
		want[k] = v
	}
	for k, v := range inputs {
		want[k] = v
	}
	require.Equal(t, want, g["metadata"], "metadata of %s", sent["id"])
}

func statuses(run any) []string {
	var out []string
	for _, s := range field(run, "steps").([]any) {
		out = append(out, toString(field(s, "status")))
	}
	return out
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}

// TestContractUnknownFieldsIgnored: fields the contract does not list (a migrator's own, or a
// newer contract's) are ignored, never a 400, and stored nowhere.
func TestContractUnknownFieldsIgnored(t *testing.T) {
	const id = recordedID + "-unknown-fields"
	_, migratorURL := newContractMigrator(t, loadContract(t), fixture(t, "dry-run-result.json", "", id))
	_, a := startDrover(t, newStore(t, "sqlite"))
	var ann map[string]any
	require.NoError(t, json.Unmarshal(fixture(t, "announce.json", migratorURL, id), &ann))
	ann["owningTeam"] = "platform"
	ann["Steps"] = []any{map[string]any{"name": "smuggled-step", "migratorApp": "x"}}
	cand := ann["candidates"].([]any)[0].(map[string]any)
	cand["priority"] = 3
	cand["Metadata"] = map[string]any{"smuggled": "value"}
	step := ann["steps"].([]any)[0].(map[string]any)
	step["timeoutMinutes"] = 30
	raw, err := json.Marshal(ann)
	require.NoError(t, err)
	r := post(t, a, "/registry/announce", raw)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	r = a.Do(t, http.MethodGet, "/migrations/"+id+"/candidates/payments-api", nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	got := jsonValue(t, r.Body)
	require.Equal(t, cand["metadata"], field(got, "metadata"), "a case-variant key must not replace metadata")
	require.NotContains(t, string(r.Body), "smuggled")
	require.NotContains(t, string(r.Body), "priority")
	r = a.Do(t, http.MethodGet, "/migrations/"+id, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.NotContains(t, string(r.Body), "smuggled-step", `"Steps" is not "steps"`)
	require.NotContains(t, string(r.Body), "timeoutMinutes")
}
