package migratortest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-dev/drover/pkg/migrator/migratortest"
	"github.com/drover-dev/drover/pkg/migrator/signature"
	"github.com/drover-dev/drover/pkg/migrator/wire"
)

func secret(t *testing.T) (string, []byte) {
	t.Helper()
	s, err := signature.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	k, err := signature.ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return s, k
}

// send posts body to the fake Drover, signed with keys (none: unsigned).
func send(t *testing.T, url string, keys [][]byte, id string, ts time.Time, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if keys != nil {
		signature.SignHeaders(req.Header, keys, id, ts, body)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode
}

// TestServerWithSecretVerifies: the fake Drover accepts signed requests and refuses, 401 and
// without recording anything, unsigned, wrongly signed, stale and replayed ones.
func TestServerWithSecretVerifies(t *testing.T) {
	s, key := secret(t)
	_, other := secret(t)
	srv := migratortest.NewServerWithSecret(t, s)
	ev, _ := json.Marshal(wire.StepStatusEvent{StepName: "change", CandidateId: "a", Status: wire.StepEventStatusSucceeded})
	ann, _ := json.Marshal(wire.MigrationAnnouncement{Id: "m", Name: "M", MigratorUrl: "http://x"})
	now := time.Now()
	keys := [][]byte{key}
	for name, code := range map[string]int{
		"unsigned":    send(t, srv.URL+"/event/m__a", nil, "", now, ev),
		"another key": send(t, srv.URL+"/event/m__a", [][]byte{other}, signature.NewID(), now, ev),
		"stale":       send(t, srv.URL+"/event/m__a", keys, signature.NewID(), now.Add(-10*time.Minute), ev),
		"announce":    send(t, srv.URL+"/registry/announce", nil, "", now, ann),
		"candidates":  send(t, srv.URL+"/migrations/m/candidates", [][]byte{other}, signature.NewID(), now, []byte(`{"candidates":[]}`)),
	} {
		if code != http.StatusUnauthorized {
			t.Errorf("%s answered %d, want 401", name, code)
		}
	}
	if n := len(srv.Refusals()); n != 5 {
		t.Fatalf("%d refusals, want 5: %v", n, srv.Refusals())
	}
	if len(srv.Events()) != 0 || len(srv.Announcements()) != 0 || len(srv.Submissions()) != 0 {
		t.Fatal("a refused request was recorded")
	}
	id := signature.NewID()
	if code := send(t, srv.URL+"/event/m__a", keys, id, now, ev); code != http.StatusAccepted {
		t.Fatalf("signed event answered %d: %v", code, srv.Refusals())
	}
	if code := send(t, srv.URL+"/event/m__a", keys, id, now, ev); code != http.StatusUnauthorized {
		t.Fatalf("replayed event answered %d, want 401", code)
	}
	if code := send(t, srv.URL+"/registry/announce", keys, signature.NewID(), now, ann); code != http.StatusOK {
		t.Fatalf("signed announcement answered %d", code)
	}
	if len(srv.Events()) != 1 || len(srv.Announcements()) != 1 {
		t.Fatalf("events %v, announcements %v", srv.Events(), srv.Announcements())
	}
	if r := srv.Refusals(); !strings.Contains(r[len(r)-1], "replayed") {
		t.Fatalf("last refusal %q", r[len(r)-1])
	}
}

// migratorStub records the requests the fake Drover sends it.
type migratorStub struct {
	URL string

	mu      sync.Mutex
	paths   []string
	headers []http.Header
	body    [][]byte
}

func newMigratorStub(t *testing.T) *migratorStub {
	m := &migratorStub{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		m.mu.Lock()
		m.paths, m.headers, m.body = append(m.paths, r.URL.Path), append(m.headers, r.Header.Clone()), append(m.body, b)
		m.mu.Unlock()
		if r.URL.Path == "/dry-run" {
			_ = json.NewEncoder(w).Encode(wire.DryRunResult{Steps: []wire.StepDryRun{}})
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	m.URL = srv.URL
	return m
}

// TestServerWithSecretSigns: dispatches and dry runs carry a signature for each secret given;
// without a secret they carry none.
func TestServerWithSecretSigns(t *testing.T) {
	s1, k1 := secret(t)
	s2, k2 := secret(t)
	stub := newMigratorStub(t)
	srv := migratortest.NewServerWithSecret(t, s1+" "+s2)
	if code := srv.Dispatch(t, stub.URL, "m", "change", wire.Candidate{Id: "a", Kind: "service"}); code != http.StatusAccepted {
		t.Fatalf("dispatch answered %d", code)
	}
	srv.DryRun(t, stub.URL, wire.DryRunRequest{MigrationId: "m", Candidate: wire.Candidate{Id: "a", Kind: "service"}})
	plain := migratortest.NewServer(t)
	plain.Dispatch(t, stub.URL, "m", "change", wire.Candidate{Id: "a", Kind: "service"})

	stub.mu.Lock()
	defer stub.mu.Unlock()
	if len(stub.paths) != 3 {
		t.Fatalf("%d requests reached the migrator", len(stub.paths))
	}
	ids := map[string]bool{}
	for i, h := range stub.headers[:2] {
		for _, k := range [][]byte{k1, k2} {
			msg, err := signature.Verify([][]byte{k}, h, stub.body[i], time.Now())
			if err != nil {
				t.Fatalf("%s does not verify with each secret: %v", stub.paths[i], err)
			}
			ids[msg.ID] = true
		}
	}
	if len(ids) != 2 {
		t.Fatalf("the dispatch and the dry run share a webhook-id: %v", ids)
	}
	if signature.Signed(stub.headers[2]) {
		t.Fatal("a server without a secret signed its dispatch")
	}
}

// TestServerWithoutSecretAcceptsUnsigned keeps NewServer's behaviour.
func TestServerWithoutSecretAcceptsUnsigned(t *testing.T) {
	srv := migratortest.NewServer(t)
	ev, _ := json.Marshal(wire.StepStatusEvent{StepName: "change", CandidateId: "a", Status: wire.StepEventStatusSucceeded})
	if code := send(t, srv.URL+"/event/m__a", nil, "", time.Now(), ev); code != http.StatusAccepted {
		t.Fatalf("unsigned event answered %d", code)
	}
	srv.WaitEvent(t, "m__a", "change", wire.StepEventStatusSucceeded, time.Second)
}
