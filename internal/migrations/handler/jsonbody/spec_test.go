package jsonbody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/drover-dev/drover/schemas"
)

var testLimits = Limits{MaxDepth: 32, MaxKeyLength: 256}

var (
	specOnce sync.Once
	specDoc  *openapi3.T
	specErr  error
)

// spec loads schemas/openapi.yaml as the server does.
func spec(t testing.TB) *openapi3.T {
	t.Helper()
	specOnce.Do(func() {
		specDoc, specErr = openapi3.NewLoader().LoadFromData(schemas.OpenAPI)
		if specErr == nil {
			specErr = specDoc.Validate(t.Context())
		}
	})
	if specErr != nil {
		t.Fatalf("load the OpenAPI document: %v", specErr)
	}
	return specDoc
}

// requestSchemas returns the JSON request body schema of every operation that has one, by
// operationId.
func requestSchemas(t testing.TB) map[string]*openapi3.Schema {
	t.Helper()
	out := map[string]*openapi3.Schema{}
	for path, item := range spec(t).Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody == nil || op.RequestBody.Value == nil {
				continue
			}
			mt := op.RequestBody.Value.Content.Get("application/json")
			if mt == nil || mt.Schema == nil {
				continue
			}
			name := op.OperationID
			if name == "" {
				name = method + " " + path
			}
			out[name] = mt.Schema.Value
		}
	}
	return out
}

func specSchema(t testing.TB, operationID string) *openapi3.Schema {
	t.Helper()
	s := requestSchemas(t)[operationID]
	if s == nil {
		t.Fatalf("no JSON request body for operation %s", operationID)
	}
	return s
}

func mustCompile(t testing.TB, s *openapi3.Schema) *Validator {
	t.Helper()
	v, err := Compile(s, testLimits)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return v
}

func TestCompileEveryRequestBody(t *testing.T) {
	all := requestSchemas(t)
	names := make([]string, 0, len(all))
	for name := range all {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, want := range []string{"announceMigration", "submitCandidates", "postStepEvent", "startRun", "retryStep", "updateInputs", "dryRun"} {
		if all[want] == nil {
			t.Errorf("operation %s has no JSON request body in the spec", want)
		}
	}
	for _, name := range names {
		if _, err := Compile(all[name], testLimits); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	t.Logf("compiled %d request bodies: %s", len(names), strings.Join(names, ", "))
}

// kinAccepts decides body as the server did before: the decoding of openapi3filter (one
// document, UseNumber), refusing what is not valid JSON, then Schema.VisitJSON; except that
// kin-openapi is shown the value without the nulls of optional properties (unsetNulls), which
// it refuses and Check treats as absent. The differential tests exclude that one case.
func kinAccepts(s *openapi3.Schema, body []byte) (bool, error) {
	if !json.Valid(body) {
		return false, errors.New("not valid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return false, err
	}
	if err := s.VisitJSON(unsetNulls(s, v)); err != nil {
		return false, err
	}
	return true, nil
}

// unsetNulls removes from v, in place, what Check treats as absent: null for a property that s
// declares but neither requires nor makes nullable. (kin-openapi refuses such a null, as
// "Value is not nullable".)
func unsetNulls(s *openapi3.Schema, v any) any {
	if s == nil || s.IsEmpty() {
		return v // kept whole, nulls included
	}
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if p := s.Properties[k]; p != nil {
				if x == nil && !slices.Contains(s.Required, k) && !nullable(p.Value) {
					delete(v, k)
					continue
				}
				v[k] = unsetNulls(p.Value, x)
			} else if ap := s.AdditionalProperties.Schema; ap != nil {
				v[k] = unsetNulls(ap.Value, x)
			}
		}
	case []any:
		if s.Items != nil {
			for i, x := range v {
				v[i] = unsetNulls(s.Items.Value, x)
			}
		}
	}
	return v
}

func nullable(s *openapi3.Schema) bool {
	return s.Nullable || s.Type.Includes(openapi3.TypeNull)
}

func short(b []byte) string {
	if len(b) > 400 {
		return fmt.Sprintf("%q… (%d bytes)", b[:400], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// duplicateKeys reports whether an object of body, valid JSON, that Check keeps in its copy
// gives a key twice. Objects inside a value the copy leaves out (of an undeclared property) are
// not looked at: Check does not compare their keys.
func duplicateKeys(s *openapi3.Schema, body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	dup, _ := duplicateIn(dec, s)
	return dup
}

// anySchema describes a value kept whole, as the items of an array without items are.
var anySchema = &openapi3.Schema{}

// duplicateIn reads one value from dec, described by s (nil: left out of the copy).
func duplicateIn(dec *json.Decoder, s *openapi3.Schema) (bool, error) {
	tok, err := dec.Token()
	if err != nil {
		return false, err
	}
	dup := false
	switch tok {
	case json.Delim('{'):
		keys := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return false, err
			}
			key := k.(string)
			var child *openapi3.Schema
			if s != nil {
				dup = dup || keys[key]
				keys[key] = true
				switch {
				case s.IsEmpty():
					child = s
				case s.Properties[key] != nil:
					child = s.Properties[key].Value
				case s.AdditionalProperties.Schema != nil:
					child = s.AdditionalProperties.Schema.Value
				}
			}
			d, err := duplicateIn(dec, child)
			if err != nil {
				return false, err
			}
			dup = dup || d
		}
		_, err = dec.Token()
	case json.Delim('['):
		child := s
		if s != nil && !s.IsEmpty() {
			child = anySchema
			if s.Items != nil {
				child = s.Items.Value
			}
		}
		for dec.More() {
			d, err := duplicateIn(dec, child)
			if err != nil {
				return false, err
			}
			dup = dup || d
		}
		_, err = dec.Token()
	}
	return dup, err
}

// extra reports whether err is one of the refusals that only this package makes.
func extra(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.Syntax {
		return false
	}
	for _, r := range []string{"is given twice", "has a key of more than", "nests more than"} {
		if strings.Contains(e.Reason, r) {
			return true
		}
	}
	return false
}

// prune is what Check's copy should decode to: v without the properties s does not declare.
func prune(s *openapi3.Schema, v any) any {
	if s.IsEmpty() {
		return v // kept whole
	}
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			if p := s.Properties[k]; p != nil {
				out[k] = prune(p.Value, x)
			} else if ap := s.AdditionalProperties.Schema; ap != nil {
				out[k] = prune(ap.Value, x)
			}
		}
		return out
	case []any:
		if s.Items == nil {
			return v
		}
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = prune(s.Items.Value, x)
		}
		return out
	}
	return v
}

// usesMinProperties reports whether s counts keys that the copy may drop.
func usesMinProperties(s *openapi3.Schema, seen map[*openapi3.Schema]bool) bool {
	if s == nil || seen[s] {
		return false
	}
	seen[s] = true
	if s.MinProps > 0 {
		return true
	}
	for _, p := range s.Properties {
		if usesMinProperties(p.Value, seen) {
			return true
		}
	}
	if s.Items != nil && usesMinProperties(s.Items.Value, seen) {
		return true
	}
	return s.AdditionalProperties.Schema != nil && usesMinProperties(s.AdditionalProperties.Schema.Value, seen)
}

func decodeNumber(t testing.TB, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return v
}

// compare runs Check and kin-openapi on body and fails t where they disagree, or where an
// accepted copy is not the body without its undeclared properties.
func compare(t testing.TB, s *openapi3.Schema, v *Validator, body []byte) ([]byte, error) {
	t.Helper()
	out, err := v.Check(bytes.NewReader(body))
	kinOK, kinErr := kinAccepts(s, body)
	var e *Error
	if err != nil && !errors.As(err, &e) {
		t.Fatalf("Check(%q) returned %T %v, want *Error", body, err, err)
	}
	// kin-openapi sees only the last value of a duplicate key; Check refuses the body, at the
	// duplicate or at an earlier value that is wrong, where the copy keeps the object.
	dup := kinOK && duplicateKeys(s, body)
	switch {
	case err == nil && !kinOK:
		t.Fatalf("Check accepted %s, kin-openapi refused it: %v", short(body), kinErr)
	case err == nil && dup:
		t.Fatalf("Check accepted %s, which has a duplicate key", short(body))
	case err != nil && kinOK && !extra(err) && !dup:
		t.Fatalf("Check refused %s (%v), kin-openapi accepted it", short(body), err)
	case err != nil && e.Syntax && json.Valid(body):
		t.Fatalf("Check called valid JSON %s a syntax error: %v", short(body), err)
	case err == nil:
		if !json.Valid(out) {
			t.Fatalf("Check(%s) returned invalid JSON %s", short(body), short(out))
		}
		want := prune(s, unsetNulls(s, decodeNumber(t, body)))
		if got := decodeNumber(t, out); !reflect.DeepEqual(got, want) {
			t.Fatalf("Check(%s) = %s, decodes to %#v, want %#v", short(body), short(out), got, want)
		}
		if ok, err := kinAccepts(s, out); !ok && !usesMinProperties(s, map[*openapi3.Schema]bool{}) {
			t.Fatalf("kin-openapi refuses the copy %s of %s: %v", short(out), short(body), err)
		}
	}
	return out, err
}

// Bodies of the corpus, each a valid body with at most one defect.

func announcement(edit func(m map[string]any)) []byte {
	m := map[string]any{
		"id":          "kafka-topic-rename",
		"name":        "Rename the topics",
		"description": "Renames every topic.",
		"migratorUrl": "http://migrator:8080",
		"overview":    []any{"prepare", "rename"},
		"phases":      []any{map[string]any{"name": "prepare", "steps": []any{"open-pr"}}},
		"requiredInputs": []any{
			map[string]any{"name": "ticket", "label": "Ticket", "description": "The change ticket."},
		},
		"steps": []any{
			map[string]any{"name": "open-pr", "migratorApp": "kafka", "type": "pr", "config": map[string]any{"branch": "main"}},
			map[string]any{"name": "review", "migratorApp": "kafka", "manual": true},
		},
		"candidates": []any{candidate(0), candidate(1)},
	}
	if edit != nil {
		edit(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func candidate(i int) map[string]any {
	return map[string]any{
		"id":       fmt.Sprintf("svc-%d", i),
		"kind":     "service",
		"metadata": map[string]any{"team": "payments", "tier": "1"},
		"files": []any{map[string]any{
			"name": "prod", "repo": "org/svc",
			"files": []any{map[string]any{"path": "deploy/values.yaml", "url": "https://git.example/org/svc/deploy/values.yaml"}},
		}},
		"steps":  []any{map[string]any{"name": "open-pr", "migratorApp": "kafka"}},
		"status": "not_started",
	}
}

func submission(edit func(m map[string]any)) []byte {
	m := map[string]any{"candidates": []any{candidate(0), candidate(1)}}
	if edit != nil {
		edit(m)
	}
	b, _ := json.Marshal(m)
	return b
}

func event(edit func(m map[string]any)) []byte {
	m := map[string]any{
		"stepName":    "open-pr",
		"candidateId": "svc-0",
		"status":      "pending",
		"metadata":    map[string]any{"prUrl": "https://git.example/pr/1"},
		"dispatchId":  "d-1",
	}
	if edit != nil {
		edit(m)
	}
	b, _ := json.Marshal(m)
	return b
}

func cand0(m map[string]any) map[string]any { return m["candidates"].([]any)[0].(map[string]any) }

func manyKeys(n int) map[string]any {
	m := map[string]any{}
	for i := range n {
		m[fmt.Sprintf("k%03d", i)] = "v"
	}
	return m
}

func items(n int, item any) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = item
	}
	return out
}

func nested(levels int) any {
	var v any = "deep"
	for range levels {
		v = []any{v}
	}
	return v
}

const idDescription = "letters, digits, '.', '-' and single '_' between them, starting with a letter or digit, at most "

type corpusCase struct {
	name   string
	op     string
	body   []byte
	field  string // "" with reason "": accepted
	reason string // a prefix of the reason
	syntax bool
}

func corpus() []corpusCase {
	long := func(n int) string { return strings.Repeat("a", n) }
	return []corpusCase{
		{name: "announcement", op: "announceMigration", body: announcement(nil)},
		{name: "submission", op: "submitCandidates", body: submission(nil)},
		{name: "event", op: "postStepEvent", body: event(nil)},
		{name: "start", op: "startRun", body: []byte(`{"inputs":{"ticket":"T-1"}}`)},
		{name: "start empty", op: "startRun", body: []byte(`{}`)},
		{name: "retry", op: "retryStep", body: []byte(`{"stepName":"open-pr"}`)},
		{name: "inputs", op: "updateInputs", body: []byte(`{"inputs":{}}`)},
		{name: "dry run", op: "dryRun", body: []byte(`{"candidate":{"id":"svc-0","kind":"ignored"}}`)},

		// Wrong types.
		{name: "name number", op: "announceMigration", body: announcement(func(m map[string]any) { m["name"] = 5 }), field: "name", reason: "must be of type string"},
		{name: "candidates object", op: "submitCandidates", body: submission(func(m map[string]any) { m["candidates"] = map[string]any{} }), field: "candidates", reason: "must be of type array"},
		{name: "manual string", op: "announceMigration", body: announcement(func(m map[string]any) { m["steps"].([]any)[1].(map[string]any)["manual"] = "yes" }), field: "steps[1].manual", reason: "must be of type boolean"},
		{name: "config value number", op: "announceMigration", body: announcement(func(m map[string]any) {
			m["steps"].([]any)[0].(map[string]any)["config"] = map[string]any{"retries": 3}
		}), field: "steps[0].config.retries", reason: "must be of type string"},
		{name: "metadata value bool", op: "postStepEvent", body: event(func(m map[string]any) { m["metadata"] = map[string]any{"ok": true} }), field: "metadata.ok", reason: "must be of type string"},
		{name: "root array", op: "postStepEvent", body: []byte(`[]`), field: "", reason: "must be of type object"},
		{name: "file group files string", op: "submitCandidates", body: submission(func(m map[string]any) {
			cand0(m)["files"].([]any)[0].(map[string]any)["files"] = "a.yaml"
		}), field: "candidates[0].files[0].files", reason: "must be of type array"},

		// Missing required properties.
		{name: "candidate without kind", op: "announceMigration", body: announcement(func(m map[string]any) { delete(cand0(m), "kind") }), field: "candidates[0].kind", reason: "is required"},
		{name: "announcement without steps", op: "announceMigration", body: announcement(func(m map[string]any) { delete(m, "steps") }), field: "steps", reason: "is required"},
		{name: "event without candidateId", op: "postStepEvent", body: event(func(m map[string]any) { delete(m, "candidateId") }), field: "candidateId", reason: "is required"},
		{name: "file ref without url", op: "submitCandidates", body: submission(func(m map[string]any) {
			delete(cand0(m)["files"].([]any)[0].(map[string]any)["files"].([]any)[0].(map[string]any), "url")
		}), field: "candidates[0].files[0].files[0].url", reason: "is required"},
		{name: "dry run without candidate id", op: "dryRun", body: []byte(`{"candidate":{}}`), field: "candidate.id", reason: "is required"},

		// Enums.
		{name: "event status", op: "postStepEvent", body: event(func(m map[string]any) { m["status"] = "done" }), field: "status", reason: `"done" is not one of succeeded, failed, pending, merged`},
		{name: "candidate status", op: "submitCandidates", body: submission(func(m map[string]any) { cand0(m)["status"] = "Running" }), field: "candidates[0].status", reason: `"Running" is not one of not_started, running, completed`},
		{name: "long enum value", op: "postStepEvent", body: event(func(m map[string]any) { m["status"] = long(100000) }), field: "status", reason: `"aaaaaaaaaa`},

		// Patterns.
		{name: "migration id", op: "announceMigration", body: announcement(func(m map[string]any) { m["id"] = "bad id!" }), field: "id", reason: `"bad id!" is not valid: expected ` + idDescription + "64 characters"},
		{name: "candidate id double underscore", op: "postStepEvent", body: event(func(m map[string]any) { m["candidateId"] = "a__b" }), field: "candidateId", reason: `"a__b" is not valid: expected ` + idDescription + "128 characters"},
		{name: "dry run candidate id", op: "dryRun", body: []byte(`{"candidate":{"id":"-x"}}`), field: "candidate.id", reason: `"-x" is not valid`},

		// Lengths.
		{name: "empty name", op: "announceMigration", body: announcement(func(m map[string]any) { m["name"] = "" }), field: "name", reason: "must not be empty"},
		{name: "empty step name", op: "retryStep", body: []byte(`{"stepName":""}`), field: "stepName", reason: "must not be empty"},
		{name: "description too long", op: "announceMigration", body: announcement(func(m map[string]any) { m["description"] = long(16385) }), field: "description", reason: "is 16385 characters long; at most 16384 allowed"},
		{name: "description at the limit", op: "announceMigration", body: announcement(func(m map[string]any) { m["description"] = strings.Repeat("é", 16384) })},
		{name: "description too long in runes", op: "announceMigration", body: announcement(func(m map[string]any) { m["description"] = strings.Repeat("😀", 16385) }), field: "description", reason: "is 16385 characters long; at most 16384 allowed"},
		{name: "candidate id too long", op: "submitCandidates", body: submission(func(m map[string]any) { cand0(m)["id"] = long(129) }), field: "candidates[0].id", reason: "is 129 characters long; at most 128 allowed"},
		{name: "metadata value too long", op: "postStepEvent", body: event(func(m map[string]any) { m["metadata"] = map[string]any{"log": long(8193)} }), field: "metadata.log", reason: "is 8193 characters long; at most 8192 allowed"},
		{name: "dispatch id too long", op: "postStepEvent", body: event(func(m map[string]any) { m["dispatchId"] = long(257) }), field: "dispatchId", reason: "is 257 characters long; at most 256 allowed"},
		{name: "step type too long", op: "announceMigration", body: announcement(func(m map[string]any) { m["steps"].([]any)[0].(map[string]any)["type"] = long(129) }), field: "steps[0].type", reason: "is 129 characters long; at most 128 allowed"},
		{name: "required input description too long", op: "announceMigration", body: announcement(func(m map[string]any) {
			m["requiredInputs"].([]any)[0].(map[string]any)["description"] = long(4097)
		}), field: "requiredInputs[0].description", reason: "is 4097 characters long; at most 4096 allowed"},
		{name: "migrator app too long", op: "announceMigration", body: announcement(func(m map[string]any) { m["steps"].([]any)[0].(map[string]any)["migratorApp"] = long(257) }), field: "steps[0].migratorApp", reason: "is 257 characters long; at most 256 allowed"},

		// Item and key counts.
		{name: "too many steps", op: "announceMigration", body: announcement(func(m map[string]any) {
			m["steps"] = items(101, map[string]any{"name": "s", "migratorApp": "a"})
		}), field: "steps", reason: "has more than 100 items; at most 100 allowed"},
		{name: "no steps", op: "announceMigration", body: announcement(func(m map[string]any) { m["steps"] = []any{} }), field: "steps", reason: "must have at least 1 item"},
		{name: "too many overview phases", op: "announceMigration", body: announcement(func(m map[string]any) { m["overview"] = items(101, "x") }), field: "overview", reason: "has more than 100 items; at most 100 allowed"},
		{name: "too many files", op: "submitCandidates", body: submission(func(m map[string]any) {
			cand0(m)["files"].([]any)[0].(map[string]any)["files"] = items(1001, map[string]any{"path": "p", "url": "u"})
		}), field: "candidates[0].files[0].files", reason: "has more than 1000 items; at most 1000 allowed"},
		{name: "too many metadata keys", op: "submitCandidates", body: submission(func(m map[string]any) { cand0(m)["metadata"] = manyKeys(65) }), field: "candidates[0].metadata", reason: "has more than 64 keys; at most 64 allowed"},
		{name: "64 metadata keys", op: "submitCandidates", body: submission(func(m map[string]any) { cand0(m)["metadata"] = manyKeys(64) })},
		{name: "too many event metadata keys", op: "postStepEvent", body: event(func(m map[string]any) { m["metadata"] = manyKeys(65) }), field: "metadata", reason: "has more than 64 keys; at most 64 allowed"},
		{name: "too many config keys", op: "announceMigration", body: announcement(func(m map[string]any) { m["steps"].([]any)[0].(map[string]any)["config"] = manyKeys(65) }), field: "steps[0].config", reason: "has more than 64 keys; at most 64 allowed"},
		{name: "too many inputs", op: "updateInputs", body: []byte(fmt.Sprintf(`{"inputs":%s}`, mustJSON(manyKeys(51)))), field: "inputs", reason: "has more than 50 keys; at most 50 allowed"},

		// null: refused for a required property, an item, a map value and the document; for an
		// optional property, the property's absence (left out of the copy).
		{name: "null name", op: "announceMigration", body: announcement(func(m map[string]any) { m["name"] = nil }), field: "name", reason: "must not be null"},
		{name: "null required input label", op: "announceMigration", body: announcement(func(m map[string]any) {
			m["requiredInputs"].([]any)[0].(map[string]any)["label"] = nil
		}), field: "requiredInputs[0].label", reason: "must not be null"},
		{name: "null inputs", op: "updateInputs", body: []byte(`{"inputs":null}`), field: "inputs", reason: "must not be null"},
		{name: "null metadata value", op: "postStepEvent", body: event(func(m map[string]any) { m["metadata"] = map[string]any{"x": nil} }), field: "metadata.x", reason: "must not be null"},
		{name: "null candidate", op: "submitCandidates", body: submission(func(m map[string]any) { m["candidates"] = []any{nil} }), field: "candidates[0]", reason: "must not be null"},
		{name: "null overview item", op: "announceMigration", body: announcement(func(m map[string]any) { m["overview"] = []any{"a", nil} }), field: "overview[1]", reason: "must not be null"},
		{name: "null body", op: "postStepEvent", body: []byte(`null`), field: "", reason: "must not be null"},
		{name: "null optional metadata", op: "postStepEvent", body: event(func(m map[string]any) { m["metadata"] = nil })},
		{name: "null optional dispatch id", op: "postStepEvent", body: event(func(m map[string]any) { m["dispatchId"] = nil })},
		{name: "null optional properties of an announcement", op: "announceMigration", body: announcement(func(m map[string]any) {
			m["overview"], m["phases"], m["requiredInputs"] = nil, nil, nil
			m["steps"].([]any)[0].(map[string]any)["config"] = nil
			m["steps"].([]any)[1].(map[string]any)["type"] = nil
			cand0(m)["metadata"], cand0(m)["files"] = nil, nil
		})},
		{name: "null optional inputs", op: "startRun", body: []byte(`{"inputs": null}`)},
		{name: "null optional property given twice", op: "postStepEvent", body: []byte(`{"stepName":"a","candidateId":"c","status":"pending","metadata":null,"metadata":{}}`), field: "metadata", reason: "is given twice"},

		// Unknown keys: accepted, left out of the copy.
		{name: "unknown top-level key", op: "announceMigration", body: announcement(func(m map[string]any) { m["labels"] = map[string]any{"a": []any{1, 2.5e300, nil, true}} })},
		{name: "nested unknown keys", op: "submitCandidates", body: submission(func(m map[string]any) {
			fr := cand0(m)["files"].([]any)[0].(map[string]any)["files"].([]any)[0].(map[string]any)
			fr["sha"] = map[string]any{"algo": "sha256", "parts": []any{map[string]any{"x": nil}}}
			cand0(m)["owner"] = "someone"
		})},
		{name: "unknown key with an invalid value for a known one", op: "postStepEvent", body: event(func(m map[string]any) { m["note"] = map[string]any{"status": 5, "metadata": nil} })},
		{name: "case variant METADATA", op: "postStepEvent", body: event(func(m map[string]any) { m["METADATA"] = map[string]any{"k": 1, "n": nil} })},
		{name: "case variant Status", op: "postStepEvent", body: event(func(m map[string]any) { m["Status"] = "bogus" })},
		{name: "case variant ID", op: "announceMigration", body: announcement(func(m map[string]any) { m["ID"] = "bad id!"; cand0(m)["Metadata"] = manyKeys(100) })},
		{name: "case variant only", op: "postStepEvent", body: event(func(m map[string]any) { delete(m, "status"); m["STATUS"] = "pending" }), field: "status", reason: "is required"},

		// Refused only here.
		{name: "duplicate key", op: "postStepEvent", body: []byte(`{"stepName":"a","candidateId":"c","status":"pending","status":"failed"}`), field: "status", reason: "is given twice"},
		{name: "duplicate metadata key", op: "postStepEvent", body: []byte(`{"stepName":"a","candidateId":"c","status":"pending","metadata":{"a":"1","b":"2","a":"3"}}`), field: "metadata.a", reason: "is given twice"},
		{name: "duplicate unknown key", op: "postStepEvent", body: []byte(`{"stepName":"a","x":1,"candidateId":"c","status":"pending","x":2}`), field: "x", reason: "is given twice"},
		// Keys are not compared inside a value left out of the copy.
		{name: "duplicate key deep in an unknown value", op: "postStepEvent", body: []byte(`{"stepName":"a","candidateId":"c","status":"pending","x":[{"y":{"z":1,"z":2}}]}`)},
		{name: "duplicate key in an unknown object", op: "postStepEvent", body: []byte(`{"stepName":"a","candidateId":"c","status":"pending","x":{"a":1,"a":2}}`)},
		{name: "duplicate key in a case variant", op: "postStepEvent", body: []byte(`{"stepName":"a","candidateId":"c","status":"pending","METADATA":{"a":"1","a":"2"}}`)},
		{name: "metadata key too long", op: "postStepEvent", body: event(func(m map[string]any) { m["metadata"] = map[string]any{long(257): "v"} }), field: "metadata", reason: "has a key of more than 256 characters"},
		{name: "metadata key at the limit", op: "postStepEvent", body: event(func(m map[string]any) { m["metadata"] = map[string]any{strings.Repeat("ü", 256): "v"} })},
		{name: "unknown key too long", op: "postStepEvent", body: event(func(m map[string]any) { m[long(300)] = 1 }), field: "", reason: "has a key of more than 256 characters"},
		{name: "deep unknown value", op: "postStepEvent", body: event(func(m map[string]any) { m["x"] = nested(40) }), field: "x" + strings.Repeat("[0]", 31), reason: "nests more than 32 levels deep"},
		{name: "32 levels", op: "postStepEvent", body: event(func(m map[string]any) { m["x"] = nested(31) })},
		{name: "empty metadata key", op: "postStepEvent", body: []byte(`{"stepName":"a","candidateId":"c","status":"pending","metadata":{"":"v"}}`)},
		{name: "empty metadata key of a wrong value", op: "postStepEvent", body: []byte(`{"stepName":"a","candidateId":"c","status":"pending","metadata":{"":5}}`), field: `metadata.""`, reason: "must be of type string"},
		{name: "empty metadata key given twice", op: "postStepEvent", body: []byte(`{"stepName":"a","candidateId":"c","status":"pending","metadata":{"":"1","":"2"}}`), field: `metadata.""`, reason: "is given twice"},
		{name: "empty unknown key given twice", op: "postStepEvent", body: []byte(`{"stepName":"a","candidateId":"c","status":"pending","":1,"":2}`), field: `""`, reason: "is given twice"},
		{name: "deep value under an empty key", op: "postStepEvent", body: event(func(m map[string]any) { m[""] = map[string]any{"": nested(40)} }), field: `"".""` + strings.Repeat("[0]", 30), reason: "nests more than 32 levels deep"},

		// Invalid UTF-8 and unpaired surrogates stand for U+FFFD, as encoding/json decodes them.
		{name: "invalid UTF-8", op: "postStepEvent", body: []byte("{\"stepName\":\"a\xff\",\"candidateId\":\"c\",\"status\":\"pending\"}")},
		{name: "invalid UTF-8 in an unknown value", op: "postStepEvent", body: []byte("{\"stepName\":\"a\",\"candidateId\":\"c\",\"status\":\"pending\",\"x\":[\"\xc3\"]}")},
		{name: "invalid UTF-8 in a key", op: "postStepEvent", body: []byte("{\"stepName\":\"a\",\"candidateId\":\"c\",\"status\":\"pending\",\"metadata\":{\"k\xe2\x82\":\"v\xed\xa0\x80\"}}")},
		{name: "invalid UTF-8 in a declared key", op: "postStepEvent", body: []byte("{\"stepName\":\"a\",\"candidateId\":\"c\",\"status\":\"pending\",\"status\xff\":5}")},
		{name: "invalid UTF-8 in an enum value", op: "postStepEvent", body: []byte("{\"stepName\":\"a\",\"candidateId\":\"c\",\"status\":\"pend\xffing\"}"), field: "status", reason: "\"pend\ufffding\" is not one of"},
		{name: "lone surrogate", op: "postStepEvent", body: []byte(`{"stepName":"a\ud800","candidateId":"c","status":"pending"}`)},
		{name: "lone surrogates in metadata", op: "postStepEvent", body: []byte(`{"stepName":"a","candidateId":"c","status":"pending","metadata":{"\udc00":"\ud83d","x\ud83d":"\ud83d\u0041\ud83d\ud83d\ude00\ude00"}}`)},
		{name: "lone surrogates become one key", op: "postStepEvent", body: []byte(`{"stepName":"a","candidateId":"c","status":"pending","metadata":{"\ud800":"1","\udfff":"2"}}`), field: "metadata.\ufffd", reason: "is given twice"},
		{name: "invalid UTF-8 at the length limit", op: "announceMigration", body: bytes.Replace(announcement(func(m map[string]any) { m["description"] = "@@" }), []byte("@@"), bytes.Repeat([]byte{0xff}, 16384), 1)},
		{name: "invalid UTF-8 beyond the length limit", op: "announceMigration", body: bytes.Replace(announcement(func(m map[string]any) { m["description"] = "@@" }), []byte("@@"), bytes.Repeat([]byte{0xff}, 16385), 1), field: "description", reason: "is 16385 characters long; at most 16384 allowed"},
		{name: "lone surrogates at the length limit", op: "announceMigration", body: bytes.Replace(announcement(func(m map[string]any) { m["description"] = "@@" }), []byte("@@"), bytes.Repeat([]byte(`\ud83d`), 16384), 1)},
		{name: "lone surrogates beyond the length limit", op: "announceMigration", body: bytes.Replace(announcement(func(m map[string]any) { m["description"] = "@@" }), []byte("@@"), bytes.Repeat([]byte(`\ude00`), 16385), 1), field: "description", reason: "is 16385 characters long; at most 16384 allowed"},
		{name: "unpaired surrogate before a bad escape", op: "postStepEvent", body: []byte(`{"stepName":"a\ud83d\uZZZZ","candidateId":"c","status":"pending"}`), syntax: true},

		// Escapes are decoded before validation.
		{name: "escaped status", op: "postStepEvent", body: []byte(`{"stepName":"\u00e9\ud83d\ude00\n\"\\\/","candidateId":"c","st\u0061tus":"pend\u0069ng","metadata":{"\u0000":"\t"}}`)},
		{name: "escaped unknown key", op: "postStepEvent", body: []byte(`{"stepName":"a","candidateId":"c","status":"pending","met\u0061data ":{"x":1}}`)},

		// Syntax.
		{name: "empty body", op: "postStepEvent", body: nil, syntax: true, reason: "the body is empty"},
		{name: "white space", op: "postStepEvent", body: []byte(" \n\t"), syntax: true, reason: "the body is empty"},
		{name: "truncated", op: "postStepEvent", body: []byte(`{"stepName":"a"`), syntax: true, reason: "unexpected end of the body"},
		{name: "trailing comma", op: "postStepEvent", body: []byte(`{"stepName":"a","candidateId":"c","status":"pending",}`), syntax: true},
		{name: "trailing comma in unknown", op: "postStepEvent", body: []byte(`{"stepName":"a","candidateId":"c","status":"pending","x":[1,]}`), syntax: true},
		{name: "trailing data", op: "postStepEvent", body: []byte(`{"stepName":"a","candidateId":"c","status":"pending"} {}`), syntax: true, reason: "invalid character '{' after the document"},
		{name: "bad literal", op: "postStepEvent", body: []byte(`{"stepName":"a","candidateId":"c","status":"pending","x":nul}`), syntax: true},
		{name: "bad number", op: "postStepEvent", body: []byte(`{"stepName":"a","candidateId":"c","status":"pending","x":01}`), syntax: true},
		{name: "bad escape", op: "postStepEvent", body: []byte(`{"stepName":"a\x","candidateId":"c","status":"pending"}`), syntax: true},
		{name: "raw newline in string", op: "postStepEvent", body: []byte("{\"stepName\":\"a\nb\",\"candidateId\":\"c\",\"status\":\"pending\"}"), syntax: true},
		{name: "single quotes", op: "postStepEvent", body: []byte(`{'stepName':'a'}`), syntax: true},
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestCorpusAgainstKin(t *testing.T) {
	all := requestSchemas(t)
	validators := map[string]*Validator{}
	for name, s := range all {
		validators[name] = mustCompile(t, s)
	}
	for _, tc := range corpus() {
		t.Run(tc.name, func(t *testing.T) {
			s := all[tc.op]
			out, err := compare(t, s, validators[tc.op], tc.body)
			if tc.reason == "" && !tc.syntax {
				if err != nil {
					t.Fatalf("Check refused the body: %v", err)
				}
				if bytes.Contains(bytes.ToLower(out), []byte(`"metadata":{"k":1`)) || bytes.Contains(out, []byte("METADATA")) || bytes.Contains(out, []byte(`"ID"`)) {
					t.Fatalf("the copy keeps an undeclared key: %s", out)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Check accepted the body, want %q: %q", tc.reason, tc.field)
			}
			if e.Syntax != tc.syntax || e.Field != tc.field || !strings.HasPrefix(e.Reason, tc.reason) {
				t.Fatalf("Check refused the body with %#v, want field %q, reason %q, syntax %v", e, tc.field, tc.reason, tc.syntax)
			}
		})
	}
}

// The copy is what a Go struct decoded with encoding/json sees: no case-insensitive match of an
// undeclared key reaches it.
func TestCaseVariantKeysDoNotReachStructs(t *testing.T) {
	v := mustCompile(t, specSchema(t, "postStepEvent"))
	body := []byte(`{"stepName":"s","candidateId":"c","status":"failed","METADATA":{"k":"unvalidated"},"Status":"bogus"}`)
	var before struct {
		Status   string
		Metadata map[string]string
	}
	if err := json.Unmarshal(body, &before); err != nil || before.Metadata == nil {
		t.Fatalf("encoding/json should fill Metadata from METADATA (the bug this package fixes): %+v %v", before, err)
	}
	out, err := v.Check(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var after struct {
		Status   string
		Metadata map[string]string
	}
	if err := json.Unmarshal(out, &after); err != nil {
		t.Fatal(err)
	}
	if after.Metadata != nil || after.Status != "failed" {
		t.Fatalf("decoded %+v from %s", after, out)
	}
	if want := `{"stepName":"s","candidateId":"c","status":"failed"}`; string(out) != want {
		t.Fatalf("copy %s, want %s", out, want)
	}
}

func TestErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		err  *Error
		want string
	}{
		{&Error{Field: "candidates[0].kind", Reason: "is required"}, `field "candidates[0].kind": is required`},
		{&Error{Reason: "must be of type object"}, `request body: must be of type object`},
		{&Error{Field: `metadata.""`, Reason: "must be of type string"}, `field "metadata.\"\"": must be of type string`},
		{&Error{Syntax: true, Reason: "unexpected end of the body"}, `request body is not valid JSON: unexpected end of the body`},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}
