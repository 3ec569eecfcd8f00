package testsupport

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drover-dev/drover/pkg/migrator/signature"
)

// API calls a Drover server over real HTTP in tests.
type API struct {
	Base   string
	Client *http.Client
	// Token, when set, is sent as the bearer token of every request.
	Token string
	// Secret, when set, signs every request as a migrator holding it would.
	Secret string
	// Header is added to every request.
	Header http.Header
}

// As returns a copy of a that sends token as its bearer token.
func (a *API) As(token string) *API {
	c := *a
	c.Token = token
	return &c
}

// Signed returns a copy of a that signs its requests with secret (a migrator's).
func (a *API) Signed(secret string) *API {
	c := *a
	c.Secret = secret
	return &c
}

// NewAPI returns an API for the server at base (e.g. http://127.0.0.1:8080).
func NewAPI(base string) *API {
	return &API{Base: strings.TrimRight(base, "/"), Client: &http.Client{Timeout: 30 * time.Second}}
}

// Response is a finished call: its status and raw body.
type Response struct {
	Status int
	Body   []byte
	Header http.Header
}

// JSON decodes the body into v, failing the test when it is not JSON of that shape.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
}

// Error returns the "error" field of a JSON error body.
func (r Response) Error() string {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error
}

// Do sends method path with body (a string is sent as is, anything else as JSON; nil sends
// nothing) and returns the response.
func (a *API) Do(t testing.TB, method, path string, body any) Response {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatalf("encode request body: %v", err)
		}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, a.Base+path, rd)
	if err != nil {
		t.Fatalf("build request: %v", err)
	}
	if rd != nil || (method != http.MethodGet && method != http.MethodHead) {
		req.Header.Set("Content-Type", "application/json")
	}
	a.authorize(t, req, raw)
	resp, err := a.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s %s: %v", method, path, err)
	}
	return Response{Status: resp.StatusCode, Body: out, Header: resp.Header}
}

// authorize adds a's headers, its bearer token and, with a secret, a migrator's signature of
// body to req.
func (a *API) authorize(t testing.TB, req *http.Request, body []byte) {
	t.Helper()
	for k, vs := range a.Header {
		req.Header[k] = vs
	}
	if a.Token != "" {
		req.Header.Set("Authorization", "Bearer "+a.Token)
	}
	if a.Secret != "" {
		key, err := signature.ParseSecret(a.Secret)
		if err != nil {
			t.Fatalf("migrator secret: %v", err)
		}
		signature.SignHeaders(req.Header, [][]byte{key}, signature.NewID(), time.Now(), body)
	}
}

// Eventually polls cond every 20 ms until it returns true or timeout passes; it reports the
// last explanation cond gave.
func Eventually(t testing.TB, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var why string
	for {
		var ok bool
		if ok, why = cond(); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %s", timeout, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
