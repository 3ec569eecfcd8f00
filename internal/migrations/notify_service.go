package migrations

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/drover-dev/drover/pkg/api"
)

// Notifications manages the webhooks and delivers their notifications.
type Notifications struct {
	store      WebhookStore
	migrations MigrationStore
	queue      DeliveryQueue
	sender     WebhookSender
	publicURL  string
	now        func() time.Time
	log        *slog.Logger
}

// NotificationsConfig is what Notifications are built from. PublicURL, when set, is the
// console's address for the links in notifications.
type NotificationsConfig struct {
	Webhooks   WebhookStore
	Migrations MigrationStore
	Queue      DeliveryQueue
	Sender     WebhookSender
	PublicURL  string
	Now        func() time.Time
	Log        *slog.Logger
}

// NewNotifications returns the notifications use cases.
func NewNotifications(cfg NotificationsConfig) *Notifications {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Notifications{store: cfg.Webhooks, migrations: cfg.Migrations, queue: cfg.Queue, sender: cfg.Sender,
		publicURL: cfg.PublicURL, now: cfg.Now, log: logger(cfg.Log)}
}

// CreateWebhook validates in and stores a new webhook made by actor; the answer holds its secret.
func (n *Notifications) CreateWebhook(ctx context.Context, actor string, in api.WebhookInput) (Webhook, error) {
	if err := checkWebhookURL(in.Url); err != nil {
		return Webhook{}, err
	}
	if err := n.sender.CheckWebhookURL(in.Url); err != nil {
		return Webhook{}, Invalid("url", "%v", err)
	}
	format := in.Format
	switch format {
	case "":
		format = api.WebhookFormatJson
	case api.WebhookFormatJson, api.WebhookFormatSlack:
	default:
		return Webhook{}, Invalid("format", "%q is not a format: use json or slack", format)
	}
	events := []api.NotificationKind{}
	for _, k := range in.Events {
		if k == api.NotificationKindTest {
			return Webhook{}, Invalid("events", "test is sent only on request (POST /admin/webhooks/{id}/test); leave it out")
		}
		if !slices.Contains(notificationKinds, k) {
			return Webhook{}, Invalid("events", "%q is not a notification kind", k)
		}
		if !slices.Contains(events, k) {
			events = append(events, k)
		}
	}
	if in.MigrationId != "" {
		if _, err := n.migrations.GetMigration(ctx, string(in.MigrationId)); err != nil {
			if errors.Is(err, ErrMigrationNotFound) {
				return Webhook{}, fmt.Errorf("webhook for migration %s: %w", in.MigrationId, err)
			}
			return Webhook{}, storeErr(fmt.Errorf("create webhook: %w", err))
		}
	}
	secret, err := n.sender.NewSecret()
	if err != nil {
		return Webhook{}, fmt.Errorf("create webhook: %w", err)
	}
	id, err := randomID("wh-")
	if err != nil {
		return Webhook{}, fmt.Errorf("create webhook: %w", err)
	}
	w := Webhook{Webhook: api.Webhook{Id: id, Url: in.Url, Format: format, MigrationId: string(in.MigrationId), Events: events,
		Description: strings.TrimSpace(in.Description), CreatedAt: n.now().UTC(), CreatedBy: actor}, Secret: secret}
	if err := n.store.PutWebhook(ctx, w); err != nil {
		return Webhook{}, storeErr(fmt.Errorf("create webhook: %w", err))
	}
	return w, nil
}

// checkWebhookURL refuses a URL that is not an absolute http(s) URL with a host; unlike a
// migratorUrl it may have a query (some receivers take their token there).
func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return Invalid("url", "a URL is required")
	case err != nil:
		return Invalid("url", "not a URL: %v", errors.Unwrap(err))
	case u.Scheme != "http" && u.Scheme != "https":
		return Invalid("url", "the scheme must be http or https")
	case u.Opaque != "" || u.Host == "":
		return Invalid("url", "a host is required (https://host[:port]/path)")
	case u.User != nil:
		return Invalid("url", "userinfo (user:password@) is not allowed")
	case strings.Contains(raw, "#"):
		return Invalid("url", "a fragment is not allowed")
	}
	return nil
}

func randomID(prefix string) (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return prefix + hex.EncodeToString(b), nil
}

// ListWebhooks returns every webhook without its secret.
func (n *Notifications) ListWebhooks(ctx context.Context) ([]api.Webhook, error) {
	ws, err := n.store.ListWebhooks(ctx)
	if err != nil {
		return nil, storeErr(fmt.Errorf("list webhooks: %w", err))
	}
	out := make([]api.Webhook, len(ws))
	for i, w := range ws {
		out[i] = w.Webhook
	}
	return out, nil
}

// DeleteWebhook removes a webhook; its deliveries under way find it gone and stop.
func (n *Notifications) DeleteWebhook(ctx context.Context, id string) error {
	if err := n.store.DeleteWebhook(ctx, id); err != nil {
		return lookupErr(fmt.Errorf("delete webhook %s: %w", id, err))
	}
	return nil
}

// Deliveries returns the webhook's latest deliveries (limit 0: 50).
func (n *Notifications) Deliveries(ctx context.Context, id string, limit int) ([]api.WebhookDelivery, error) {
	if limit == 0 {
		limit = 50
	}
	if limit < 1 || limit > MaxDeliveries {
		return nil, Invalid("limit", "%d is outside 1 to %d", limit, MaxDeliveries)
	}
	ds, err := n.store.ListDeliveries(ctx, id, limit)
	if err != nil {
		return nil, lookupErr(fmt.Errorf("deliveries of webhook %s: %w", id, err))
	}
	return ds, nil
}

// TestWebhook sends the webhook a test notification, as any other is sent.
func (n *Notifications) TestWebhook(ctx context.Context, id string) (api.Notification, error) {
	if _, err := n.store.GetWebhook(ctx, id); err != nil {
		return api.Notification{}, lookupErr(fmt.Errorf("test webhook %s: %w", id, err))
	}
	nid, err := randomID("n-test-")
	if err != nil {
		return api.Notification{}, fmt.Errorf("test webhook %s: %w", id, err)
	}
	note := api.Notification{Id: nid, Kind: api.NotificationKindTest, At: n.now().UTC()}
	describe(&note, n.publicURL)
	if err := n.queue.EnqueueDelivery(ctx, DeliveryInput{WebhookID: id, Notification: note}); err != nil {
		return api.Notification{}, fmt.Errorf("%w: test webhook %s: %v", ErrUnavailable, id, err)
	}
	return note, nil
}

// lookupErr keeps a not-found error as it is and marks any other as the store's failure.
func lookupErr(err error) error {
	if errors.Is(err, ErrWebhookNotFound) {
		return err
	}
	return storeErr(err)
}

// DeliveryAttempt is one attempt at a delivery: its number (from 1), how many there are at
// most, and the wait before the next.
type DeliveryAttempt struct {
	Number, Of int
	Next       time.Duration
}

// DeliveryError is a failed attempt; Permanent when no retry can succeed (the receiver
// refused the request, or Drover may not call it).
type DeliveryError struct {
	Permanent bool
	Err       error
}

func (e *DeliveryError) Error() string { return e.Err.Error() }
func (e *DeliveryError) Unwrap() error { return e.Err }

// Deliver makes attempt a of in's delivery and records how it went in the webhook's log. A
// webhook removed meanwhile is not called.
func (n *Notifications) Deliver(ctx context.Context, in DeliveryInput, a DeliveryAttempt) error {
	w, err := n.store.GetWebhook(ctx, in.WebhookID)
	if errors.Is(err, ErrWebhookNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deliver %s: read webhook %s: %w", in.Notification.Id, in.WebhookID, err)
	}
	body, err := webhookBody(w.Format, in.Notification)
	if err != nil {
		return &DeliveryError{Permanent: true, Err: fmt.Errorf("deliver %s: %w", in.Notification.Id, err)}
	}
	note := in.Notification
	d := api.WebhookDelivery{Id: note.Id, WebhookId: w.Id, Kind: note.Kind, Text: note.Text, MigrationId: note.MigrationId,
		CandidateId: note.CandidateId, StepName: note.StepName, RolloutId: note.RolloutId, Attempts: a.Number, CreatedAt: note.At}
	status, sendErr := n.sender.SendWebhook(ctx, w.Url, body, w.Secret, note.Id)
	now := n.now().UTC()
	d.UpdatedAt = now
	d.LastStatusCode = status
	var result error
	switch {
	case sendErr == nil:
		d.Status, d.DeliveredAt = api.WebhookDeliveryStatusDelivered, now
	default:
		var mf MigratorFailure
		if errors.As(sendErr, &mf) {
			d.LastStatusCode = mf.MigratorStatus()
		}
		d.LastError = sendErr.Error()
		permanent := errors.As(sendErr, &mf) && (mf.Refused() || permanentStatus(mf.MigratorStatus()))
		if permanent || a.Number >= a.Of {
			d.Status = api.WebhookDeliveryStatusFailed
		} else {
			d.Status, d.NextAttemptAt = api.WebhookDeliveryStatusRetrying, now.Add(a.Next)
		}
		result = &DeliveryError{Permanent: permanent, Err: fmt.Errorf("deliver %s to webhook %s: %w", note.Id, w.Id, sendErr)}
	}
	if err := n.store.PutDelivery(context.WithoutCancel(ctx), d); err != nil {
		n.log.WarnContext(ctx, "notifications: cannot record a delivery", "webhook", w.Id, "notification", note.Id, "error", err)
		if result == nil {
			return nil // delivered: a retry would notify the receiver twice
		}
	}
	return result
}

// permanentStatus reports whether a receiver's status says that sending again will not help:
// a 4xx, but for a timeout, too early and too many requests.
func permanentStatus(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return false
	}
	return status >= 400 && status < 500
}

// webhookBody is the request body of a notification in a webhook's format.
func webhookBody(format api.WebhookFormat, note api.Notification) ([]byte, error) {
	if format != api.WebhookFormatSlack {
		return json.Marshal(note)
	}
	text := slackEscape(note.Text)
	if note.Link != "" {
		text += " <" + note.Link + "|Open in Drover>"
	}
	return json.Marshal(map[string]string{"text": text})
}

// slackEscape escapes the three characters Slack's message text reserves for its markup.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
