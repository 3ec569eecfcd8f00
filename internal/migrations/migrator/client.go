// Package migrator is the outbound HTTP adapter to migrators: it dispatches steps and asks for
// dry runs at a migrator's announced base URL.
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
	"strings"
	"time"

	"github.com/drover-dev/drover/pkg/api"
)

// Default timeouts: a dispatch must be acknowledged at once (the work is asynchronous), a dry
// run computes diffs synchronously and may take longer.
const (
	DefaultDispatchTimeout = 10 * time.Second
	DefaultDryRunTimeout   = 60 * time.Second
	maxErrorBody           = 4 << 10
	maxDryRunBody          = 32 << 20
)

// Error is a failed call to a migrator: it answered with a non-2xx status, did not answer in
// time, or could not be reached.
type Error struct {
	Op         string // "dispatch-step" or "dry-run"
	URL        string
	StatusCode int // 0 when the migrator did not answer
	Message    string
	timeout    bool
}

func (e *Error) Error() string {
	switch {
	case e.timeout:
		return fmt.Sprintf("migrator %s at %s did not answer in time: %s", e.Op, e.URL, e.Message)
	case e.StatusCode == 0:
		return fmt.Sprintf("migrator %s at %s is unreachable: %s", e.Op, e.URL, e.Message)
	default:
		return fmt.Sprintf("migrator %s at %s answered %d: %s", e.Op, e.URL, e.StatusCode, e.Message)
	}
}

// MigratorStatus is the HTTP status the migrator answered, 0 when it did not answer.
func (e *Error) MigratorStatus() int { return e.StatusCode }

// Timeout reports whether the migrator did not answer in time.
func (e *Error) Timeout() bool { return e.timeout }

// Client calls migrators over HTTP.
type Client struct {
	http            *http.Client
	dispatchTimeout time.Duration
	dryRunTimeout   time.Duration
}

// NewClient returns a Client; zero timeouts take the defaults. httpClient may be nil.
func NewClient(httpClient *http.Client, dispatchTimeout, dryRunTimeout time.Duration) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	if dispatchTimeout <= 0 {
		dispatchTimeout = DefaultDispatchTimeout
	}
	if dryRunTimeout <= 0 {
		dryRunTimeout = DefaultDryRunTimeout
	}
	return &Client{http: httpClient, dispatchTimeout: dispatchTimeout, dryRunTimeout: dryRunTimeout}
}

// DispatchStep POSTs req to {migratorURL}/dispatch-step; any 2xx is an acknowledgement.
func (c *Client) DispatchStep(ctx context.Context, migratorURL string, req api.DispatchStepRequest) error {
	resp, err := c.post(ctx, "dispatch-step", migratorURL, req, c.dispatchTimeout)
	if err != nil {
		return err
	}
	defer resp.body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.body, maxErrorBody))
	return nil
}

// DryRun POSTs req to {migratorURL}/dry-run and decodes the migrator's DryRunResult.
func (c *Client) DryRun(ctx context.Context, migratorURL string, req api.DryRunRequest) (api.DryRunResult, error) {
	resp, err := c.post(ctx, "dry-run", migratorURL, req, c.dryRunTimeout)
	if err != nil {
		return api.DryRunResult{}, err
	}
	defer resp.body.Close()
	var out api.DryRunResult
	if err := json.NewDecoder(io.LimitReader(resp.body, maxDryRunBody)).Decode(&out); err != nil {
		return api.DryRunResult{}, &Error{Op: "dry-run", URL: resp.url, StatusCode: resp.status, Message: "answer is not a dry-run result: " + err.Error()}
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

func (c *Client) post(ctx context.Context, op, base string, body any, timeout time.Duration) (*response, error) {
	url := strings.TrimRight(base, "/") + "/" + op
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s request: %w", op, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		cancel()
		return nil, &Error{Op: op, URL: url, Message: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		cancel()
		var ne net.Error
		timedOut := errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
		if timedOut {
			return nil, &Error{Op: op, URL: url, Message: fmt.Sprintf("no answer within %s", timeout), timeout: true}
		}
		return nil, &Error{Op: op, URL: url, Message: err.Error()}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer cancel()
		defer resp.Body.Close()
		return nil, &Error{Op: op, URL: url, StatusCode: resp.StatusCode, Message: errorMessage(resp)}
	}
	return &response{url: url, status: resp.StatusCode, body: cancelOnClose{resp.Body, cancel}}, nil
}

// errorMessage extracts a migrator's explanation: {"error": ...} or {"message": ...} JSON, or
// the start of a plain-text body.
func errorMessage(resp *http.Response) string {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var body struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &body) == nil {
		if body.Error != "" {
			return body.Error
		}
		if body.Message != "" {
			return body.Message
		}
	}
	if text := strings.TrimSpace(string(raw)); text != "" {
		return text
	}
	return http.StatusText(resp.StatusCode)
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
