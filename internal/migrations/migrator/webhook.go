package migrator

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/drover-dev/drover/pkg/migrator/signature"
)

// WebhookTimeout bounds one delivery of a notification.
const WebhookTimeout = 10 * time.Second

// SendWebhook POSTs a notification's body to target through the same guard, transport and
// signing scheme as a dispatch, under the message id id (the same for every retry of a
// notification, so that a receiver can drop repeats). Errors are *Error, naming the URL
// without its path and query, which may hold the receiver's token.
func (c *Client) SendWebhook(ctx context.Context, target string, body []byte, secret, id string) (int, error) {
	shown := redactURL(target)
	fail := func(kind errorKind, status int, msg string) (int, error) {
		return status, &Error{Op: "notification", URL: shown, StatusCode: status, Message: msg, kind: kind, peer: "webhook"}
	}
	key, err := signature.ParseSecret(secret)
	if err != nil {
		return fail(kindNotSent, 0, "cannot sign it: "+err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fail(kindNotSent, 0, err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Drover-Webhook")
	signature.SignHeaders(req.Header, [][]byte{key}, id, c.now(), body)
	resp, err := c.http.Do(req)
	if err != nil {
		e := callError("notification", shown, WebhookTimeout, err)
		e.peer = "webhook"
		return 0, e
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := "redirects are not followed"
		if resp.StatusCode < 300 || resp.StatusCode > 399 {
			msg = errorExcerpt(resp)
		}
		return fail(kindAnswered, resp.StatusCode, msg)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	return resp.StatusCode, nil
}

// CheckWebhookURL refuses a webhook URL whose host is an address literal the guard refuses;
// host names are checked on the addresses they resolve to when dialled.
func (c *Client) CheckWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	return c.checkHost(u.Hostname())
}

// NewSecret returns a new webhook signing secret.
func (c *Client) NewSecret() (string, error) { return signature.NewSecret() }

// redactURL is target's scheme and host, with "/…" when it has more.
func redactURL(target string) string {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return "(a malformed URL)"
	}
	out := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		out += "/…"
	}
	return out
}
