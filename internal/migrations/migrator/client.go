// Package migrator is the outbound HTTP adapter to migrators: it dispatches steps and asks for
// dry runs at a migrator's announced base URL, signs them, and refuses to call addresses a
// migratorUrl must not reach.
package migrator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/drover-dev/drover/pkg/api"
	"github.com/drover-dev/drover/pkg/migrator/signature"
)

// Default timeouts: a dispatch must be acknowledged at once (the work is asynchronous), a dry
// run computes diffs synchronously and may take longer.
const (
	DefaultDispatchTimeout = 10 * time.Second
	DefaultDryRunTimeout   = 60 * time.Second
	maxErrorBody           = 4 << 10
	maxExcerpt             = 200 // characters of a migrator's error that reach Drover's callers
	maxDryRunBody          = 32 << 20
)

type errorKind int

const (
	kindUnreachable errorKind = iota
	kindTimeout
	kindRefused // the guard refused the address
	kindNotSent // the request could not be built or signed
	kindAnswered
)

// Error is a failed call to a migrator: it answered with a non-2xx status, did not answer in
// time, could not be reached, or was not called (its address is refused, or the request could
// not be signed).
type Error struct {
	Op         string // "dispatch-step" or "dry-run"
	URL        string
	StatusCode int // 0 when the migrator did not answer
	Message    string
	kind       errorKind
	peer       string // who was called, for the message: "" is a migrator
}

func (e *Error) Error() string {
	peer := e.peer
	if peer == "" {
		peer = "migrator"
	}
	switch {
	case e.kind == kindTimeout:
		return fmt.Sprintf("%s %s at %s did not answer in time: %s", peer, e.Op, e.URL, e.Message)
	case e.kind == kindRefused || e.kind == kindNotSent:
		return fmt.Sprintf("%s %s at %s was not called: %s", peer, e.Op, e.URL, e.Message)
	case e.StatusCode == 0:
		return fmt.Sprintf("%s %s at %s is unreachable: %s", peer, e.Op, e.URL, e.Message)
	case e.StatusCode >= 300 && e.StatusCode < 400:
		return fmt.Sprintf("%s %s at %s answered %d (%s)", peer, e.Op, e.URL, e.StatusCode, e.Message)
	default:
		return fmt.Sprintf("%s %s at %s answered %d: %s", peer, e.Op, e.URL, e.StatusCode, e.Message)
	}
}

// MigratorStatus is the HTTP status the migrator answered, 0 when it did not answer.
func (e *Error) MigratorStatus() int { return e.StatusCode }

// Timeout reports whether the migrator did not answer in time.
func (e *Error) Timeout() bool { return e.kind == kindTimeout }

// Refused reports whether the guard refused the migrator's address; retrying will not help
// until an admin allows it.
func (e *Error) Refused() bool { return e.kind == kindRefused }

// Signer gives the keys to sign a migration's dispatches and dry runs with: the secrets of the
// credential owning it (two while it rotates). No keys sends the request unsigned.
type Signer interface {
	Keys(ctx context.Context, migrationID string) ([][]byte, error)
}

// Options configure a Client; the zero Options is a guarded client with default timeouts that
// sends unsigned requests.
type Options struct {
	DispatchTimeout time.Duration // zero: DefaultDispatchTimeout
	DryRunTimeout   time.Duration // zero: DefaultDryRunTimeout
	Guard           Guard
	Signer          Signer // nil: unsigned
	// HTTPClient replaces the guarded transport (tests); it is used as given, except that
	// redirects are never followed.
	HTTPClient *http.Client
	Now        func() time.Time // nil: time.Now; the signatures' timestamp
	// WrapTransport, when set, wraps the transport (tracing: a span and a traceparent per call).
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// Client calls migrators over HTTP.
type Client struct {
	http            *http.Client
	dispatchTimeout time.Duration
	dryRunTimeout   time.Duration
	signer          Signer
	now             func() time.Time
	guard           *guard
}

// NewClient returns a Client for existing callers: a nil httpClient gets the guarded transport
// with loopback allowed (drover dev, tests); zero timeouts take the defaults. Prefer
// NewClientWith, which sets the guard and the signer.
func NewClient(httpClient *http.Client, dispatchTimeout, dryRunTimeout time.Duration) *Client {
	return NewClientWith(Options{
		DispatchTimeout: dispatchTimeout,
		DryRunTimeout:   dryRunTimeout,
		Guard:           Guard{AllowLoopback: true},
		HTTPClient:      httpClient,
	})
}

// NewClientWith returns a Client configured by opts.
func NewClientWith(opts Options) *Client {
	g := newGuard(opts.Guard)
	var hc http.Client
	if opts.HTTPClient != nil {
		hc = *opts.HTTPClient
	} else {
		hc.Transport = &http.Transport{
			Proxy:               nil, // a proxy would dial for us, out of the guard's sight
			DialContext:         newDialer(g).DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		}
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if opts.WrapTransport != nil {
		base := hc.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		hc.Transport = opts.WrapTransport(base)
	}
	c := &Client{
		http:            &hc,
		dispatchTimeout: opts.DispatchTimeout,
		dryRunTimeout:   opts.DryRunTimeout,
		signer:          opts.Signer,
		now:             opts.Now,
		guard:           g,
	}
	if c.dispatchTimeout <= 0 {
		c.dispatchTimeout = DefaultDispatchTimeout
	}
	if c.dryRunTimeout <= 0 {
		c.dryRunTimeout = DefaultDryRunTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// DispatchStep POSTs req to {migratorURL}/dispatch-step; any 2xx is an acknowledgement.
func (c *Client) DispatchStep(ctx context.Context, migratorURL string, req api.DispatchStepRequest) error {
	return c.notify(ctx, "dispatch-step", migratorURL, req.MigrationId, req)
}

// CancelRun POSTs req to {migratorURL}/cancel-run; any 2xx means the migrator has it.
func (c *Client) CancelRun(ctx context.Context, migratorURL string, req api.CancelRunRequest) error {
	return c.notify(ctx, "cancel-run", migratorURL, req.MigrationId, req)
}

// notify POSTs a request whose answer's body does not matter, only its status.
func (c *Client) notify(ctx context.Context, op, migratorURL, migrationID string, body any) error {
	resp, err := c.post(ctx, op, migratorURL, migrationID, body, c.dispatchTimeout)
	if err != nil {
		return err
	}
	defer resp.body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.body, maxErrorBody))
	return nil
}

// DryRun POSTs req to {migratorURL}/dry-run and decodes the migrator's DryRunResult.
func (c *Client) DryRun(ctx context.Context, migratorURL string, req api.DryRunRequest) (api.DryRunResult, error) {
	resp, err := c.post(ctx, "dry-run", migratorURL, req.MigrationId, req, c.dryRunTimeout)
	if err != nil {
		return api.DryRunResult{}, err
	}
	defer resp.body.Close()
	var out api.DryRunResult
	if err := json.NewDecoder(io.LimitReader(resp.body, maxDryRunBody)).Decode(&out); err != nil {
		return api.DryRunResult{}, &Error{Op: "dry-run", URL: resp.url, StatusCode: resp.status, Message: "answer is not a dry-run result: " + err.Error(), kind: kindAnswered}
	}
	if out.Steps == nil {
		out.Steps = []api.StepDryRun{}
	}
	return out, nil
}

type response struct {
	url    string
	status int
	body   io.ReadCloser
}

func (c *Client) post(ctx context.Context, op, base, migrationID string, body any, timeout time.Duration) (*response, error) {
	target := strings.TrimRight(base, "/") + "/" + op
	if err := ValidateURL(base); err != nil {
		return nil, &Error{Op: op, URL: clipRunes(target, maxExcerpt), Message: err.Error(), kind: kindNotSent}
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s request: %w", op, err)
	}
	var keys [][]byte
	if c.signer != nil {
		if keys, err = c.signer.Keys(ctx, migrationID); err != nil {
			return nil, &Error{Op: op, URL: target, Message: fmt.Sprintf("cannot sign the request for migration %s: %v", migrationID, err), kind: kindNotSent}
		}
		for _, k := range keys {
			if len(k) == 0 {
				return nil, &Error{Op: op, URL: target, Message: fmt.Sprintf("cannot sign the request for migration %s: a signing key is empty", migrationID), kind: kindNotSent}
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(payload))
	if err != nil {
		cancel()
		return nil, &Error{Op: op, URL: target, Message: err.Error(), kind: kindNotSent}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if len(keys) > 0 {
		signature.SignHeaders(req.Header, keys, signature.NewID(), c.now(), payload)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		cancel()
		return nil, callError(op, target, timeout, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer cancel()
		defer resp.Body.Close()
		msg := "redirects are not followed"
		if resp.StatusCode < 300 || resp.StatusCode > 399 {
			msg = errorExcerpt(resp)
		}
		return nil, &Error{Op: op, URL: target, StatusCode: resp.StatusCode, Message: msg, kind: kindAnswered}
	}
	return &response{url: target, status: resp.StatusCode, body: cancelOnClose{resp.Body, cancel}}, nil
}

// callError describes a call that got no answer: refused by the guard, timed out, or failed.
func callError(op, target string, timeout time.Duration, err error) *Error {
	if r, ok := isRefused(err); ok {
		return &Error{Op: op, URL: target, Message: r.Error(), kind: kindRefused}
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &Error{Op: op, URL: target, Message: fmt.Sprintf("no answer within %s", timeout), kind: kindTimeout}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL is already in the Error
	}
	return &Error{Op: op, URL: target, Message: err.Error()}
}

// errorExcerpt is a migrator's explanation, bounded: the error or message of a JSON body, or
// the start of a text body, read from at most 4 KiB and clipped to 200 characters, so that a
// migratorUrl pointed at another service cannot read that service's answers back through Drover.
func errorExcerpt(resp *http.Response) string {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var body struct {
		Error   any    `json:"error"`
		Message string `json:"message"`
	}
	text := ""
	if json.Unmarshal(raw, &body) == nil {
		switch e := body.Error.(type) {
		case string:
			text = e
		case map[string]any: // {"error": {"message": "..."}}
			text, _ = e["message"].(string)
		}
		if strings.TrimSpace(text) == "" {
			text = body.Message
		}
	}
	if strings.TrimSpace(text) == "" {
		text = string(raw)
	}
	if text = clipRunes(clean(text), maxExcerpt); text != "" {
		return text
	}
	if s := http.StatusText(resp.StatusCode); s != "" {
		return s
	}
	return "no explanation"
}

// clean makes text valid UTF-8 on one line: control and format characters become spaces, runs
// of spaces one.
func clean(s string) string {
	s = strings.ToValidUTF8(s, string(utf8.RuneError))
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// clipRunes cuts s to at most n characters, the last one "…" when cut.
func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for i = range s {
		if count == n-1 {
			break
		}
		count++
	}
	return s[:i] + "…"
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// CheckURL refuses, at announcement, a migratorUrl this client would never call: a malformed
// one, or one whose host is an address literal the guard refuses. Host names are checked when
// dialled, on the addresses they resolve to then.
func (c *Client) CheckURL(raw string) error {
	if err := ValidateURL(raw); err != nil {
		return err
	}
	u, _ := url.Parse(raw) // ValidateURL parsed it
	return c.checkHost(u.Hostname())
}

// checkHost refuses a host that is an address literal the guard refuses (and not allowed by
// name).
func (c *Client) checkHost(host string) error {
	if c.guard.hostAllowed(host) {
		return nil
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		return c.guard.check("", addr)
	}
	return nil
}
