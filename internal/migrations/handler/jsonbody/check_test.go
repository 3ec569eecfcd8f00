package jsonbody

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
)

// schemaOf decodes a schema written as JSON (no $refs).
func schemaOf(t testing.TB, src string) *openapi3.Schema {
	t.Helper()
	var s openapi3.Schema
	if err := json.Unmarshal([]byte(src), &s); err != nil {
		t.Fatalf("schema %s: %v", src, err)
	}
	return &s
}

func TestCompileRefusesWhatItDoesNotImplement(t *testing.T) {
	for _, src := range []string{
		`{"oneOf":[{"type":"string"}]}`,
		`{"anyOf":[{"type":"string"}]}`,
		`{"type":"object","allOf":[{"type":"object"}]}`,
		`{"type":"string","not":{"type":"string"}}`,
		`{"type":"object","discriminator":{"propertyName":"kind"}}`,
		`{"type":"number","exclusiveMinimum":true,"minimum":1}`,
		`{"type":"number","exclusiveMaximum":true,"maximum":1}`,
		`{"type":"number","multipleOf":2}`,
		`{"type":"array","uniqueItems":true}`,
		`{"type":"string","readOnly":true}`,
		`{"type":"string","writeOnly":true}`,
		`{"type":"string","format":"date-time"}`,
		`{"type":"integer","format":"int32"}`,
		`{"type":"string","default":"x"}`,
		`{"type":"object","properties":{"a":{"type":"object","properties":{"b":{"anyOf":[{"type":"string"}]}}}}}`,
		`{"type":"array","items":{"type":"string","format":"uuid"}}`,
		`{"type":"object","additionalProperties":{"type":"string","pattern":"("}}`,
		`{"type":"object","required":["a"]}`,
		`{"type":"object","enum":[{}]}`,
		`{"minLength":1}`,
		`{"type":"nothing"}`,
	} {
		if _, err := Compile(schemaOf(t, src), Limits{}); err == nil {
			t.Errorf("Compile(%s) succeeded, want an error", src)
		} else {
			t.Logf("%s: %v", src, err)
		}
	}
	if _, err := Compile(schemaOf(t, `{"type":"number","exclusiveMinimum":false,"minimum":1,"title":"t","example":2,"deprecated":true,"x-go-name":"N"}`), Limits{}); err != nil {
		t.Errorf("annotations and exclusiveMinimum false: %v", err)
	}
}

func TestRecursiveSchema(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData([]byte(`
openapi: 3.0.3
info: {title: t, version: "1"}
paths: {}
components:
  schemas:
    Tree:
      type: object
      required: [name]
      properties:
        name: {type: string}
        children: {type: array, items: {$ref: '#/components/schemas/Tree'}}
`))
	if err != nil {
		t.Fatal(err)
	}
	v := mustCompile(t, doc.Components.Schemas["Tree"].Value)
	if _, err := v.Check(strings.NewReader(`{"name":"a","children":[{"name":"b","children":[{"name":"c"}]}]}`)); err != nil {
		t.Fatal(err)
	}
	_, err = v.Check(strings.NewReader(`{"name":"a","children":[{"name":"b","children":[{}]}]}`))
	wantError(t, err, "children[0].children[0].name", "is required")
}

func wantError(t testing.TB, err error, field, reason string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want field %q: %s", err, field, reason)
	}
	if e.Field != field || e.Reason != reason {
		t.Fatalf("got field %q: %q, want field %q: %q", e.Field, e.Reason, field, reason)
	}
}

// Keywords the spec does not use today, on small schemas, against kin-openapi.
func TestKeywords(t *testing.T) {
	for _, tc := range []struct {
		schema string
		body   string
		field  string // "" and reason "": accepted; "-syntax": not valid JSON
		reason string
		copy   string // the expected copy, when accepted ("": the body itself)
	}{
		{schema: `{"type":"integer","minimum":1,"maximum":10}`, body: `5`},
		{schema: `{"type":"integer"}`, body: `1.0`},
		{schema: `{"type":"integer"}`, body: `1e2`},
		{schema: `{"type":"integer"}`, body: `1.5`, reason: "must be of type integer"},
		{schema: `{"type":"integer","minimum":1}`, body: `0`, reason: "must be at least 1"},
		{schema: `{"type":"number","maximum":1.5}`, body: `1.6`, reason: "must be at most 1.5"},
		{schema: `{"type":"number"}`, body: `-0.5e-3`},
		{schema: `{"type":"number"}`, body: `1e400`, reason: `"1e400" is out of range for a number`},
		{schema: `{"type":"number","enum":[1,2.5]}`, body: `2.5`},
		{schema: `{"type":"number","enum":[1,2.5]}`, body: `2`, reason: "2 is not one of 1, 2.5"},
		{schema: `{"type":"boolean","enum":[true]}`, body: `false`, reason: "false is not one of true"},
		{schema: `{"type":"boolean"}`, body: `"true"`, reason: "must be of type boolean"},
		{schema: `{"type":"string","nullable":true}`, body: `null`},
		{schema: `{"type":["string","null"]}`, body: `null`},
		{schema: `{"type":["string","integer"]}`, body: `3`},
		{schema: `{"type":["string","integer"]}`, body: `true`, reason: "must be of type string or integer"},
		{schema: `{"type":"string","minLength":3}`, body: `"ab"`, reason: "must be at least 3 characters long"},
		{schema: `{"type":"string","pattern":"^a+$"}`, body: `"ab"`, reason: `"ab" does not match ^a+$`},
		{schema: `{"type":"string","pattern":"^\\u00E9$"}`, body: `"é"`},
		{schema: `{"type":"string","maxLength":2}`, body: `"\u00e9\u00e9"`, copy: `"éé"`},
		{schema: `{"type":"string","maxLength":2}`, body: `"ééé"`, reason: "is 3 characters long; at most 2 allowed"},
		{schema: `{"type":"array","minItems":2}`, body: `[1]`, reason: "must have at least 2 items"},
		{schema: `{"type":"array"}`, body: `[1,null,{"a":[]},"x"]`},
		{schema: `{"type":"array","items":{}}`, body: `[1,{"a":null}]`},
		{schema: `{"type":"array","items":{}}`, body: `[null]`, field: "[0]", reason: "must not be null"},
		{schema: `{"type":"object","minProperties":2}`, body: `{"a":1}`, reason: "must have at least 2 keys"},
		{schema: `{"type":"object","minProperties":2}`, body: `{"a":1,"b":2}`, copy: `{}`},
		{schema: `{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}`, body: `{"a":"x","b":1}`, reason: `has the key "b", which is not allowed`},
		{schema: `{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":true}`, body: `{"a":"x","b":1}`, copy: `{"a":"x"}`},
		{schema: `{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":{"type":"integer"}}`, body: `{"b":1,"a":"x"}`},
		{schema: `{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":{"type":"integer"}}`, body: `{"a":"x","b":"y"}`, field: "b", reason: "must be of type integer"},
		{schema: `{"type":"object","additionalProperties":{}}`, body: `{"a":{"b":[1,"x"]}}`},
		{schema: `{"type":"object","properties":{"a":{}}}`, body: `{"a":{"B":1},"b":2}`, copy: `{"a":{"B":1}}`},
		{schema: `{"type":"object","properties":{"a":{}}}`, body: `{"a":{"b":1,"b":2}}`, field: "a.b", reason: "is given twice"},
		// An empty key is written "", not mistaken for an array index or the document.
		{schema: `{"type":"object","required":[""],"properties":{"":{"type":"string"}}}`, body: `{}`, field: `""`, reason: "is required"},
		{schema: `{"type":"object","additionalProperties":{"type":"string"}}`, body: `{"":1}`, field: `""`, reason: "must be of type string"},
		{schema: `{"type":"object","additionalProperties":{"type":"object","additionalProperties":{"type":"array","items":{"type":"string"}}}}`, body: `{"":{"":["x",1]}}`, field: `"".""[1]`, reason: "must be of type string"},
		{schema: `{"type":"array","items":{"type":"object","additionalProperties":{"type":"string"}}}`, body: `[{"":1}]`, field: `[0].""`, reason: "must be of type string"},
		{schema: `{"type":"object","properties":{"a":{}}}`, body: `{"b":{"c":1,"c":2},"a":[{"c":1,"d":{"c":1}}]}`, copy: `{"a":[{"c":1,"d":{"c":1}}]}`},
		{schema: `{"type":"object","properties":{"a":{"type":"array"}}}`, body: `{"a":[{"c":1,"c":2}]}`, field: "a[0].c", reason: "is given twice"},
		// null for an optional property that is not nullable is its absence (kin-openapi, shown
		// the body without it, agrees); for a required or nullable one, a map value or an item
		// it is what it is.
		{schema: `{"type":"object","properties":{"a":{}}}`, body: `{"a":null}`, copy: `{}`},
		{schema: `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}`, body: `{"a":null,"b":1}`, copy: `{"b":1}`},
		{schema: `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}`, body: `{"b":1, "a" : null }`, copy: `{"b":1}`},
		{schema: `{"type":"object","properties":{"a":{"type":"string"}}}`, body: `{"a":nul}`, reason: "", field: "-syntax"},
		{schema: `{"type":"object","properties":{"a":{"type":"string"}}}`, body: `{"a":null,"a":"x"}`, field: "a", reason: "is given twice"},
		{schema: `{"type":"object","required":["a"],"properties":{"a":{}}}`, body: `{"a":null}`, field: "a", reason: "must not be null"},
		{schema: `{"type":"object","required":["a"],"properties":{"a":{"type":"string"}}}`, body: `{"a":null}`, field: "a", reason: "must not be null"},
		{schema: `{"type":"object","properties":{"a":{"type":"string","nullable":true}}}`, body: `{"a":null}`},
		{schema: `{"type":"object","properties":{"a":{"type":["string","null"]}}}`, body: `{"a":null}`},
		{schema: `{"type":"object","additionalProperties":{"type":"string"}}`, body: `{"k":null}`, field: "k", reason: "must not be null"},
		{schema: `{"type":"object","properties":{"a":{"type":"array","items":{"type":"object","properties":{"b":{"type":"string"}}}}}}`, body: `{"a":[{"b":null},null]}`, field: "a[1]", reason: "must not be null"},
		{schema: `{"type":"object","properties":{"a":{"type":"array","items":{"type":"object","properties":{"b":{"type":"string"}}}}}}`, body: `{"a":[{"b":null}]}`, copy: `{"a":[{}]}`},
		{schema: `{"type":"object","minProperties":1,"properties":{"a":{"type":"string"}}}`, body: `{"a":null}`, reason: "must have at least 1 key"},
		{schema: `{"type":"object","maxProperties":1,"properties":{"a":{"type":"string"},"b":{"type":"string"}}}`, body: `{"a":null,"b":"x"}`, copy: `{"b":"x"}`},
		// Invalid UTF-8 and unpaired surrogates: U+FFFD, one character.
		{schema: `{"type":"string","maxLength":2}`, body: "\"\xff\xfe\"", copy: "\"\ufffd\ufffd\""},
		{schema: `{"type":"string","maxLength":2}`, body: "\"\xff\xfe\xfd\"", reason: "is 3 characters long; at most 2 allowed"},
		{schema: `{"type":"string","maxLength":1}`, body: "\"\xe2\x82\"", reason: "is 2 characters long; at most 1 allowed"},
		{schema: `{"type":"string","maxLength":1}`, body: "\"\xe2\x82\xac\"", copy: `"€"`},
		{schema: `{"type":"string","maxLength":1}`, body: `"\ud83d"`, copy: "\"\ufffd\""},
		{schema: `{"type":"string","maxLength":1}`, body: `"\ude00"`, copy: "\"\ufffd\""},
		{schema: `{"type":"string","maxLength":2}`, body: `"\ud83d\ud83d\ude00"`, copy: "\"\ufffd😀\""},
		{schema: `{"type":"string","maxLength":2}`, body: `"\ud83d\u0041"`, copy: "\"\ufffdA\""},
		{schema: `{"type":"string","maxLength":2}`, body: `"\ud83d\n"`, copy: "\"\ufffd\\n\""},
		{schema: `{"type":"string","minLength":2}`, body: `"\ud83d\ude00"`, reason: "must be at least 2 characters long"},
		{schema: `{"type":"string","pattern":"^a\ufffd$"}`, body: "\"a\xc0\"", copy: "\"a\ufffd\""},
		{schema: `{"type":"string","enum":["a\ufffd"]}`, body: `"a\udbff"`, copy: "\"a\ufffd\""},
		{schema: `{"type":"object","properties":{"\ufffd":{"type":"string"}},"additionalProperties":false}`, body: "{\"\xff\":\"x\"}", copy: "{\"\ufffd\":\"x\"}"},
		{schema: `{"type":"object","additionalProperties":{"type":"string"}}`, body: "{\"\xff\":\"x\",\"\xfe\":\"y\"}", field: "\ufffd", reason: "is given twice"},
		{schema: `{"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"string"}},"required":["b"]}},"required":["a"]}`, body: `{"a":{"c":1}}`, field: "a.b", reason: "is required"},
		{schema: `{"type":"object","required":["z","a"],"properties":{"a":{"type":"string"},"z":{"type":"string"}}}`, body: `{}`, field: "z", reason: "is required"},
		{schema: `{"type":"object","properties":{"a":{"type":"string"}}}`, body: ` { "a" : "x" , "b" : [ 1 , 2 ] } `, copy: `{"a":"x"}`},
		{schema: `{"type":"object","properties":{"a":{"type":"string"}}}`, body: `{"b":1,"a":"x"}`, copy: `{"a":"x"}`},
		{schema: `{"type":"object","properties":{"a":{"type":"array","items":{"type":"number"}}}}`, body: `{"a":[1.50,-0,2E+3]}`, copy: `{"a":[1.50,-0,2E+3]}`},
	} {
		t.Run(tc.schema+" "+tc.body, func(t *testing.T) {
			s := schemaOf(t, tc.schema)
			v := mustCompile(t, s)
			out, err := compare(t, s, v, []byte(tc.body))
			if tc.field == "-syntax" {
				if e := (*Error)(nil); !errors.As(err, &e) || !e.Syntax {
					t.Fatalf("got %v, want a syntax error", err)
				}
				return
			}
			if tc.reason != "" {
				wantError(t, err, tc.field, tc.reason)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tc.copy
			if want == "" {
				want = tc.body
			}
			if string(out) != want {
				t.Fatalf("copy %s, want %s", out, want)
			}
		})
	}
}

func TestCopyReencodesStrings(t *testing.T) {
	v := mustCompile(t, schemaOf(t, `{"type":"object","properties":{"s":{"type":"string"},"x":{}}}`))
	body := `{"s":"\u0041\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t\u0000\u001f\u007f é <&>","x":{"k\u0000":["\ud83d\ude00"]}}`
	out, err := v.Check(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	want := "{\"s\":\"Aé😀\\\"\\\\/\\u0008\\u000c\\n\\r\\t\\u0000\\u001f\x7f é <&>\",\"x\":{\"k\\u0000\":[\"😀\"]}}"
	if string(out) != want {
		t.Fatalf("copy %s\nwant %s", out, want)
	}
	var a, b any
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(a, b) {
		t.Fatalf("%#v != %#v", a, b)
	}
}

// Invalid UTF-8 and unpaired surrogates, in keys and values, become U+FFFD as encoding/json
// decodes them, whatever the reader's splits (a pair may straddle two reads).
func TestReplacementCharacter(t *testing.T) {
	v := mustCompile(t, schemaOf(t, `{"type":"object","properties":{"s":{"type":"string","maxLength":14},"x":{},"m":{"type":"object","additionalProperties":{"type":"string"}}}}`))
	body := "{\"s\":\"a\xffb\xe2\x82c\xed\xa0\x80\\ud83d\\ude00\\ud83d\\u0041\\udc00\\ud83d\"," +
		"\"x\":{\"\\ud800\":[\"\\udc00x\",\"\\ud83d\\ud83d\\ude00\",\"\xc0\xaf\",\"\\ud83d\\\\\"]}," +
		"\"m\":{\"k\xf0\x9f\x98\":\"\\udbff\\udfff\\udbff\"},\"d\xff\":{\"\\ud800\":1,\"\\udfff\":2}}"
	const want = "{\"s\":\"a\ufffdb\ufffd\ufffdc\ufffd\ufffd\ufffd😀\ufffdA\ufffd\ufffd\"," +
		"\"x\":{\"\ufffd\":[\"\ufffdx\",\"\ufffd😀\",\"\ufffd\ufffd\",\"\ufffd\\\\\"]}," +
		"\"m\":{\"k\ufffd\ufffd\ufffd\":\"\U0010ffff\ufffd\"}}"
	var a, b any
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatal(err)
	}
	delete(a.(map[string]any), "d\ufffd")
	for name, r := range map[string]io.Reader{
		"whole":    strings.NewReader(body),
		"one byte": iotest.OneByteReader(strings.NewReader(body)),
		"3 bytes":  &chunked{r: strings.NewReader(body), n: 3},
		"5 bytes":  &chunked{r: strings.NewReader(body), n: 5},
	} {
		out, err := v.Check(r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if string(out) != want {
			t.Fatalf("%s: copy %q\nwant      %q", name, out, want)
		}
		if !utf8.Valid(out) {
			t.Fatalf("%s: the copy is not valid UTF-8", name)
		}
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(a, b) {
			t.Fatalf("%s: %#v, encoding/json decodes %#v", name, b, a)
		}
	}
	// Each replacement is one character: s has 14 above, 15 here.
	_, err := v.Check(strings.NewReader(`{"s":"` + strings.Repeat(`\ud83d`, 15) + `"}`))
	wantError(t, err, "s", "is 15 characters long; at most 14 allowed")
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// The scanner must not depend on how the reader splits the body.
func TestReaderSplits(t *testing.T) {
	v := mustCompile(t, specSchema(t, "announceMigration"))
	body := announcement(func(m map[string]any) {
		m["description"] = "é😀\u2028" + strings.Repeat("x", 10000) + "\\\"\u0001"
		m["x"] = map[string]any{"a": []any{1.5e10, "ü" + strings.Repeat("y", 70000), nil, true, false}}
	})
	want, err := v.Check(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]io.Reader{
		"one byte":  iotest.OneByteReader(bytes.NewReader(body)),
		"half":      iotest.HalfReader(bytes.NewReader(body)),
		"data+EOF":  iotest.DataErrReader(bytes.NewReader(body)),
		"3 bytes":   &chunked{r: bytes.NewReader(body), n: 3},
		"odd sizes": &chunked{r: bytes.NewReader(body), n: 32767},
	} {
		got, err := v.Check(r)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %v, copy differs: %v", name, err, !bytes.Equal(got, want))
		}
	}
}

type chunked struct {
	r io.Reader
	n int
}

func (c *chunked) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

func TestReadErrors(t *testing.T) {
	v := mustCompile(t, specSchema(t, "postStepEvent"))
	boom := errors.New("boom")
	_, err := v.Check(io.MultiReader(strings.NewReader(`{"stepName":"a`), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the read error", err)
	}
	var e *Error
	if errors.As(err, &e) {
		t.Fatalf("a read error is not an *Error: %v", err)
	}
	_, err = v.Check(iotest.ErrReader(boom))
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the read error", err)
	}
	// As the server reads bodies: the limit's error comes through for a 413.
	rec := httptest.NewRecorder()
	body := http.MaxBytesReader(rec, io.NopCloser(bytes.NewReader(event(func(m map[string]any) { m["x"] = strings.Repeat("y", 2000) }))), 1000)
	_, err = v.Check(body)
	var tooLarge *http.MaxBytesError
	if !errors.As(err, &tooLarge) {
		t.Fatalf("got %v, want *http.MaxBytesError", err)
	}
}

// lazyBody generates prefix, n copies of item separated by commas, and suffix, without holding
// them, and counts the bytes it handed out.
type lazyBody struct {
	prefix, item, suffix string
	n                    int
	served               int64

	sep string // "," + item

	i   int    // items generated
	cur string // the rest of the current piece
	end bool
}

func newLazyBody(prefix, item, suffix string, n int) *lazyBody {
	return &lazyBody{prefix: prefix, item: item, suffix: suffix, n: n, cur: prefix, sep: "," + item}
}

func (l *lazyBody) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		if l.cur == "" {
			switch {
			case l.i < l.n:
				l.cur = l.item
				if l.i > 0 {
					l.cur = l.sep
				}
				l.i++
			case !l.end:
				l.cur, l.end = l.suffix, true
			default:
				l.served += int64(total)
				if total == 0 {
					return 0, io.EOF
				}
				return total, nil
			}
		}
		k := copy(p, l.cur)
		l.cur, p, total = l.cur[k:], p[k:], total+k
	}
	l.served += int64(total)
	return total, nil
}

func TestLazyBody(t *testing.T) {
	got, err := io.ReadAll(newLazyBody("[", "1", "]", 3))
	if err != nil || string(got) != "[1,1,1]" {
		t.Fatalf("%q %v", got, err)
	}
}

// A 5,000,000-item array against maxItems 100 fails at item 101, having read about 101 items
// (and a read buffer), with no allocation that grows with the body.
func TestMaxItemsFailsFast(t *testing.T) {
	v := mustCompile(t, specSchema(t, "announceMigration"))
	const item = `{"name":"s","migratorApp":"a"}`
	check := func(n int) *lazyBody {
		body := newLazyBody(`{"id":"m","name":"n","description":"d","migratorUrl":"u","candidates":[],"steps":[`, item, `]}`, n)
		_, err := v.Check(body)
		wantError(t, err, "steps", "has more than 100 items; at most 100 allowed")
		return body
	}
	body := check(5_000_000)
	if limit := int64(101*(len(item)+1) + 2*readBuffer); body.served > limit {
		t.Fatalf("read %d bytes of the body, want at most %d", body.served, limit)
	}
	allocs := func(n int) float64 {
		return testing.AllocsPerRun(5, func() {
			_, _ = v.Check(newLazyBody(`{"id":"m","name":"n","description":"d","migratorUrl":"u","candidates":[],"steps":[`, item, `]}`, n))
		})
	}
	// A handful, whatever the size (a few more when sync.Pool drops the checker, as under -race).
	if small, large := allocs(200), allocs(5_000_000); large > 60 || small > 60 {
		t.Fatalf("%v allocations for 5,000,000 items, %v for 200", large, small)
	}

	// The same against a schema of integers.
	ints := mustCompile(t, schemaOf(t, `{"type":"array","maxItems":100,"items":{"type":"integer"}}`))
	lb := newLazyBody("[", "7", "]", 5_000_000)
	_, err := ints.Check(lb)
	wantError(t, err, "", "has more than 100 items; at most 100 allowed")
	if lb.served > 2*readBuffer {
		t.Fatalf("read %d bytes", lb.served)
	}
}

// An unknown property is skipped without being kept: allocations do not grow with it.
func TestUnknownValuesAreNotKept(t *testing.T) {
	v := mustCompile(t, specSchema(t, "postStepEvent"))
	var out []byte
	var err error
	allocs := func(n int) float64 {
		return testing.AllocsPerRun(3, func() {
			out, err = v.Check(newLazyBody(`{"stepName":"s","candidateId":"c","status":"pending","junk":[`, `{"a":[1,2,{"b":"c"}],"d":"éé"}`, `]}`, n))
		})
	}
	small := allocs(10)
	large := allocs(200_000)
	if err != nil || string(out) != `{"stepName":"s","candidateId":"c","status":"pending"}` {
		t.Fatalf("copy %s, %v", out, err)
	}
	if large > 60 || small > 60 {
		t.Fatalf("%v allocations for 200,000 unknown items, %v for 10", large, small)
	}
}

// A 50 MB string against maxLength 8192 fails without being held: memory allocated stays far
// below the string's size.
func TestLongStringIsNotHeld(t *testing.T) {
	v := mustCompile(t, specSchema(t, "postStepEvent"))
	const size = 50 << 20
	for _, tc := range []struct {
		name, prefix, suffix, field, reason string
	}{
		{"metadata value", `{"stepName":"s","candidateId":"c","status":"pending","metadata":{"log":"`, `"}}`, "metadata.log", "is 52428800 characters long; at most 8192 allowed"},
		{"unknown value", `{"stepName":"s","candidateId":"c","status":"pending","junk":"`, `"}`, "", ""},
		{"key", `{"stepName":"s","candidateId":"c","status":"pending","metadata":{"`, `":"v"}}`, "metadata", "has a key of more than 256 characters"},
		{"enum", `{"stepName":"s","candidateId":"c","status":"`, `"}`, "status", `"` + strings.Repeat("a", 40) + `…" is not one of succeeded, failed, pending, merged`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := io.MultiReader(strings.NewReader(tc.prefix), &repeatReader{b: 'a', n: size}, strings.NewReader(tc.suffix))
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			out, err := v.Check(r)
			runtime.ReadMemStats(&after)
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(out) > 100 {
					t.Fatalf("copy of %d bytes", len(out))
				}
			} else {
				wantError(t, err, tc.field, tc.reason)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Fatalf("allocated %d bytes for a %d byte string", grew, size)
			}
		})
	}
}

type repeatReader struct {
	b byte
	n int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = r.b
	}
	r.n -= k
	return k, nil
}

// Nesting beyond the limit fails, also where no schema looks, without recursing further.
func TestDepth(t *testing.T) {
	v := mustCompile(t, specSchema(t, "postStepEvent"))
	_, err := v.Check(io.MultiReader(strings.NewReader(`{"x":`), &repeatReader{b: '[', n: 10 << 20}))
	wantError(t, err, "x"+strings.Repeat("[0]", 31), "nests more than 32 levels deep")

	shallow, err := Compile(schemaOf(t, `{"type":"object"}`), Limits{MaxDepth: 2, MaxKeyLength: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shallow.Check(strings.NewReader(`{"abc":{"x":1}}`)); err != nil {
		t.Fatal(err)
	}
	_, err = shallow.Check(strings.NewReader(`{"abc":{"x":{}}}`))
	wantError(t, err, "abc.x", "nests more than 2 levels deep")
	_, err = shallow.Check(strings.NewReader(`{"abcd":1}`))
	wantError(t, err, "", "has a key of more than 3 characters")
}

// distinctKeys generates prefix, n members "k<i>":1 with distinct keys separated by commas, and
// suffix, without holding them or allocating as it goes.
type distinctKeys struct {
	prefix, suffix string
	n, i           int
	piece          []byte // the current piece
	rest           []byte // what is left of it
	state          int    // 0 prefix, 1 members, 2 suffix, 3 done
}

func newDistinctKeys(prefix, suffix string, n int) *distinctKeys {
	return &distinctKeys{prefix: prefix, suffix: suffix, n: n, piece: make([]byte, 0, 64)}
}

func (d *distinctKeys) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		if len(d.rest) == 0 {
			b := d.piece[:0]
			switch {
			case d.state == 0:
				b, d.state = append(b, d.prefix...), 1
			case d.state == 1 && d.i < d.n:
				if d.i > 0 {
					b = append(b, ',')
				}
				b = append(b, `"k`...)
				b = strconv.AppendInt(b, int64(d.i), 36)
				b = append(b, `":1`...)
				d.i++
			case d.state == 1:
				b, d.state = append(b, d.suffix...), 3
			default:
				if total == 0 {
					return 0, io.EOF
				}
				return total, nil
			}
			d.piece, d.rest = b, b
		}
		k := copy(p, d.rest)
		d.rest, p, total = d.rest[k:], p[k:], total+k
	}
	return total, nil
}

func TestDistinctKeys(t *testing.T) {
	got, err := io.ReadAll(newDistinctKeys("{", "}", 37))
	if err != nil || !json.Valid(got) || !strings.HasSuffix(string(got), `"k10":1}`) {
		t.Fatalf("%s %v", got, err)
	}
	var m map[string]int
	if err := json.Unmarshal(got, &m); err != nil || len(m) != 37 {
		t.Fatalf("%d keys, %v", len(m), err)
	}
}

// Inside a value left out of the copy, keys are not held to find duplicates: a dropped object of
// 1,000,000 distinct keys is accepted with allocations that do not grow with it. Objects that
// the copy keeps still refuse a key given twice.
func TestDroppedValuesDoNotHoldKeys(t *testing.T) {
	v := mustCompile(t, specSchema(t, "postStepEvent"))
	const prefix = `{"stepName":"s","candidateId":"c","status":"pending","x":{"y":[{`
	const suffix = `,"k0":2}]},"metadata":{"a":"b"}}` // k0 again: not compared here
	const want = `{"stepName":"s","candidateId":"c","status":"pending","metadata":{"a":"b"}}`
	var out []byte
	var err error
	allocs := func(n int) float64 {
		return testing.AllocsPerRun(2, func() {
			out, err = v.Check(newDistinctKeys(prefix, suffix, n))
		})
	}
	small := allocs(1000)
	if err != nil || string(out) != want {
		t.Fatalf("copy %s, %v", out, err)
	}
	large := allocs(1_000_000)
	if err != nil || string(out) != want {
		t.Fatalf("copy %s, %v", out, err)
	}
	// A handful, whatever the size (a few more when sync.Pool drops the checker, as under -race).
	if large > 60 || small > 60 {
		t.Fatalf("%v allocations for 1,000,000 dropped keys, %v for 1,000", large, small)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	body := newDistinctKeys(prefix, suffix, 1_000_000)
	if _, err := v.Check(body); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("allocated %d bytes for a dropped object of 1,000,000 keys", grew)
	}

	// Kept objects: the document (an undeclared key given twice), a map, a value kept whole.
	_, err = v.Check(newDistinctKeys(`{"stepName":"s","candidateId":"c","status":"pending",`, `,"k0":2}`, 100_000))
	wantError(t, err, "k0", "is given twice")
	_, err = v.Check(strings.NewReader(`{"stepName":"s","candidateId":"c","status":"pending","metadata":{"a":"1","b":"2","a":"3"}}`))
	wantError(t, err, "metadata.a", "is given twice")
	maps := mustCompile(t, schemaOf(t, `{"type":"object","properties":{"m":{"type":"object","additionalProperties":{"type":"integer"}},"any":{}}}`))
	_, err = maps.Check(newDistinctKeys(`{"m":{`, `,"kzz":2}}`, 100_000))
	wantError(t, err, "m.kzz", "is given twice")
	_, err = maps.Check(newDistinctKeys(`{"any":[{`, `,"k1":2}]}`, 100_000))
	wantError(t, err, "any[0].k1", "is given twice")
	if _, err = maps.Check(newDistinctKeys(`{"any":[{`, `,"k-1":2}]}`, 100_000)); err != nil {
		t.Fatal(err)
	}
}

func TestDuplicateKeysInLargeObjects(t *testing.T) {
	v := mustCompile(t, schemaOf(t, `{"type":"object","additionalProperties":{"type":"integer"}}`))
	var b strings.Builder
	b.WriteString("{")
	for i := range 5000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + itoa(i) + `":1`)
	}
	if _, err := v.Check(strings.NewReader(b.String() + "}")); err != nil {
		t.Fatal(err)
	}
	_, err := v.Check(strings.NewReader(b.String() + `,"kxxxxxxd4999":2}`))
	if err != nil {
		t.Fatalf("distinct key refused: %v", err)
	}
	_, err = v.Check(strings.NewReader(b.String() + `,"kxxxd3":2}`))
	wantError(t, err, "kxxxd3", "is given twice")
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// Concurrent checks share the compiled validator.
func TestConcurrentChecks(t *testing.T) {
	v := mustCompile(t, specSchema(t, "announceMigration"))
	body := announcement(nil)
	want, err := v.Check(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	for range 8 {
		go func() {
			for range 50 {
				got, err := v.Check(bytes.NewReader(body))
				if err == nil && !bytes.Equal(got, want) {
					err = errors.New("copy differs")
				}
				if err != nil {
					done <- err
					return
				}
				if _, err := v.Check(strings.NewReader(`{"id":1}`)); err == nil {
					done <- errors.New("accepted a bad body")
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
