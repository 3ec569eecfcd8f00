package migrations

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/drover-dev/drover/pkg/api"
)

// Webhook is a notification webhook as stored: its public settings and its signing secret.
type Webhook struct {
	api.Webhook
	Secret string
}

// WebhookStore keeps notification webhooks and the log of their deliveries. Every method is
// atomic.
type WebhookStore interface {
	// PutWebhook creates or replaces a webhook by id.
	PutWebhook(ctx context.Context, w Webhook) error
	// GetWebhook returns one webhook; ErrWebhookNotFound when there is none.
	GetWebhook(ctx context.Context, id string) (Webhook, error)
	// ListWebhooks returns every webhook, oldest first (by CreatedAt, then id).
	ListWebhooks(ctx context.Context) ([]Webhook, error)
	// DeleteWebhook removes a webhook and its deliveries; ErrWebhookNotFound when there is none.
	DeleteWebhook(ctx context.Context, id string) error
	// PutDelivery creates or replaces the delivery d.Id of webhook d.WebhookId, and keeps only
	// the newest MaxDeliveries (by CreatedAt) of that webhook. It is a no-op for a webhook that
	// no longer exists.
	PutDelivery(ctx context.Context, d api.WebhookDelivery) error
	// ListDeliveries returns up to limit of the webhook's deliveries, newest first (by
	// CreatedAt, then id); ErrWebhookNotFound when there is no such webhook.
	ListDeliveries(ctx context.Context, webhookID string, limit int) ([]api.WebhookDelivery, error)
}

// MaxDeliveries is how many deliveries a webhook's log keeps.
const MaxDeliveries = 200

// DeliveryInput is one notification to deliver to one webhook, and how to retry it (zero: the
// defaults).
type DeliveryInput struct {
	WebhookID    string
	Notification api.Notification
	Retry        DeliveryRetry
}

// DeliveryRetry is how a delivery is retried: after First, then twice as long each time up to
// Max, for at most Attempts attempts.
type DeliveryRetry struct {
	First, Max time.Duration
	Attempts   int
}

// DefaultDeliveryRetry retries for about 20 minutes: 10 s, 20 s, 40 s ... up to 10 min, 8 attempts.
var DefaultDeliveryRetry = DeliveryRetry{First: 10 * time.Second, Max: 10 * time.Minute, Attempts: 8}

// OrDefault fills r's unset fields from DefaultDeliveryRetry.
func (r DeliveryRetry) OrDefault() DeliveryRetry {
	if r.First <= 0 {
		r.First = DefaultDeliveryRetry.First
	}
	if r.Max < r.First {
		r.Max = max(r.First, DefaultDeliveryRetry.Max)
	}
	if r.Attempts <= 0 {
		r.Attempts = DefaultDeliveryRetry.Attempts
	}
	return r
}

// Wait is how long r waits after attempt n (from 1) before the next.
func (r DeliveryRetry) Wait(n int) time.Duration {
	d := r.First
	for i := 1; i < n && d < r.Max; i++ {
		d *= 2
	}
	return min(d, r.Max)
}

// DeliveryQueue delivers notifications durably, retrying with back-off (Temporal in production).
type DeliveryQueue interface {
	// EnqueueDelivery starts delivering in once: enqueuing the same notification id for the same
	// webhook again is a no-op, so that a write retried after a crash does not notify twice.
	EnqueueDelivery(ctx context.Context, in DeliveryInput) error
}

// WebhookSender sends signed webhook requests and owns their signing scheme.
type WebhookSender interface {
	// SendWebhook POSTs body to target, signed with secret under the message id id, and returns
	// the receiver's status; an error (a MigratorFailure) for anything but a 2xx.
	SendWebhook(ctx context.Context, target string, body []byte, secret, id string) (int, error)
	// CheckWebhookURL refuses a URL that Drover will never call.
	CheckWebhookURL(raw string) error
	// NewSecret returns a new signing secret.
	NewSecret() (string, error)
}

// Kinds of notification a webhook may subscribe to (test is sent on request only).
var notificationKinds = []api.NotificationKind{
	api.NotificationKindStepFailed, api.NotificationKindStepWaiting, api.NotificationKindStepSilent,
	api.NotificationKindStepOverdue, api.NotificationKindRolloutPaused, api.NotificationKindMigrationFinished,
}

// attentionKinds maps the attention a step gets to the notification it raises; retrying has
// none (the migrator may be briefly down, and a failed step follows if it stays so).
var attentionKinds = map[api.Attention]api.NotificationKind{
	api.AttentionFailed:  api.NotificationKindStepFailed,
	api.AttentionWaiting: api.NotificationKindStepWaiting,
	api.AttentionSilent:  api.NotificationKindStepSilent,
	api.AttentionOverdue: api.NotificationKindStepOverdue,
}

// notificationID is the id of the notification that the event key describes: the same event,
// written again by a retried activity, gets the same id and so is delivered once.
func notificationID(key ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(key, "\x00")))
	return "n-" + hex.EncodeToString(sum[:12])
}

func nanos(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return fmt.Sprint(t.UnixNano())
}

// stepNotification is the notification a step's attention raises, and false when it raises
// none. Its id changes with each try and dispatch of the step and each time it times out.
func stepNotification(migrationID, candidateID, executionID string, step api.StepState, attention api.Attention, at time.Time) (api.Notification, bool) {
	kind, ok := attentionKinds[attention]
	if !ok {
		return api.Notification{}, false
	}
	key := []string{string(kind), migrationID, candidateID, executionID, step.StepName, step.DispatchId, nanos(step.StartedAt)}
	switch kind {
	case api.NotificationKindStepFailed:
		key = append(key, nanos(step.FinishedAt), step.LastError)
	case api.NotificationKindStepSilent, api.NotificationKindStepOverdue:
		key = append(key, nanos(step.TimedOutAt))
	}
	n := api.Notification{Id: notificationID(key...), Kind: kind, MigrationId: migrationID, CandidateId: candidateID,
		StepName: step.StepName, At: at.UTC()}
	if kind == api.NotificationKindStepFailed {
		n.Error = step.LastError
	}
	return n, true
}

// rolloutNotification is the notification a paused rollout raises; it is raised once per pause
// (the wave, the reason and the rollout's tallies at that moment tell pauses apart).
func rolloutNotification(r api.Rollout, at time.Time) (api.Notification, bool) {
	if r.Status != api.RolloutStatusPaused {
		return api.Notification{}, false
	}
	key := []string{"rollout_paused", string(r.MigrationId), r.Id, fmt.Sprint(r.Wave), r.PausedReason, fmt.Sprint(r.Started), fmt.Sprint(r.Failed)}
	return api.Notification{Id: notificationID(key...), Kind: api.NotificationKindRolloutPaused, MigrationId: string(r.MigrationId),
		RolloutId: r.Id, Error: r.PausedReason, At: at.UTC()}, true
}

// describe fills n's text and link for a person.
func describe(n *api.Notification, publicURL string) {
	name := n.MigrationName
	if name == "" {
		name = n.MigrationId
	}
	page := "/ui/migrations/" + url.PathEscape(n.MigrationId)
	switch n.Kind {
	case api.NotificationKindStepFailed:
		n.Text = fmt.Sprintf("Step %s of %s in %s failed", n.StepName, n.CandidateId, name)
		if n.Error != "" {
			n.Text += ": " + n.Error
		}
	case api.NotificationKindStepWaiting:
		n.Text = fmt.Sprintf("Step %s of %s in %s waits for a person to mark it done", n.StepName, n.CandidateId, name)
	case api.NotificationKindStepSilent:
		n.Text = fmt.Sprintf("Step %s of %s in %s is silent: the migrator accepted it and has not called back", n.StepName, n.CandidateId, name)
	case api.NotificationKindStepOverdue:
		n.Text = fmt.Sprintf("Step %s of %s in %s is overdue: still pending past its timeout", n.StepName, n.CandidateId, name)
	case api.NotificationKindRolloutPaused:
		n.Text = fmt.Sprintf("Rollout %s of %s paused", n.RolloutId, name)
		if n.Error != "" {
			n.Text += ": " + n.Error
		}
		page += "/rollouts/" + url.PathEscape(n.RolloutId)
	case api.NotificationKindMigrationFinished:
		n.Text = fmt.Sprintf("Migration %s is finished: every candidate is completed", name)
		page += "/insights"
	case api.NotificationKindTest:
		n.Text = "Test notification from Drover: this webhook works"
		page = "/ui/notifications"
	}
	if n.CandidateId != "" {
		page += "/candidates/" + url.PathEscape(n.CandidateId)
	}
	if publicURL != "" {
		n.Link = strings.TrimRight(publicURL, "/") + page
	}
}

// matches reports whether w is sent notifications of kind about migration migrationID.
func (w Webhook) matches(kind api.NotificationKind, migrationID string) bool {
	if kind == api.NotificationKindTest {
		return false
	}
	if w.MigrationId != "" && w.MigrationId != migrationID {
		return false
	}
	return len(w.Events) == 0 || slices.Contains(w.Events, kind)
}

// Notifying returns store, which also notifies the webhooks through n after each change that
// needs a person: a step failed, waits for a person, went silent or overdue; a rollout paused;
// the last candidate of a migration completed. As with live events, a notification that could
// not be enqueued is logged, not failed: the change is stored and shows in the console.
func Notifying(store MigrationStore, n *Notifications) MigrationStore {
	return &notifyingStore{MigrationStore: store, n: n}
}

type notifyingStore struct {
	MigrationStore
	n *Notifications
}

func (s *notifyingStore) PutStepState(ctx context.Context, migrationID, candidateID, executionID string, step api.StepState, attention api.Attention) error {
	if err := s.MigrationStore.PutStepState(ctx, migrationID, candidateID, executionID, step, attention); err != nil {
		return err
	}
	if n, ok := stepNotification(migrationID, candidateID, executionID, step, attention, s.n.now()); ok {
		s.n.raise(ctx, n)
	}
	return nil
}

func (s *notifyingStore) PutRollout(ctx context.Context, r api.Rollout) error {
	if err := s.MigrationStore.PutRollout(ctx, r); err != nil {
		return err
	}
	if n, ok := rolloutNotification(r, s.n.now()); ok {
		s.n.raise(ctx, n)
	}
	return nil
}

func (s *notifyingStore) FinishRun(ctx context.Context, migrationID, candidateID, executionID string, status api.RunStatus, cs api.CandidateStatus, at time.Time) error {
	if err := s.MigrationStore.FinishRun(ctx, migrationID, candidateID, executionID, status, cs, at); err != nil {
		return err
	}
	if cs != api.CandidateStatusCompleted {
		return nil
	}
	// Counting a migration's candidates is a scan in the embedded store: only when someone listens.
	if hooks := s.n.targets(ctx, api.NotificationKindMigrationFinished, migrationID); len(hooks) == 0 {
		return nil
	}
	m, err := s.MigrationStore.GetMigration(ctx, migrationID)
	if err != nil {
		s.n.log.WarnContext(ctx, "notifications: cannot read the migration to tell whether it is finished", "migration", migrationID, "error", err)
		return nil
	}
	c := m.Counts
	if c.Completed > 0 && c.NotStarted == 0 && c.Running == 0 {
		s.n.raise(ctx, api.Notification{Id: notificationID("migration_finished", migrationID, fmt.Sprint(c.Completed)),
			Kind: api.NotificationKindMigrationFinished, MigrationId: migrationID, MigrationName: m.Name, At: s.n.now().UTC()})
	}
	return nil
}

// targets are the webhooks that want notifications of kind about migrationID (none, logged,
// when they cannot be read).
func (n *Notifications) targets(ctx context.Context, kind api.NotificationKind, migrationID string) []Webhook {
	hooks, err := n.store.ListWebhooks(ctx)
	if err != nil {
		n.log.WarnContext(ctx, "notifications: cannot list webhooks; this notification is not sent", "kind", kind, "migration", migrationID, "error", err)
		return nil
	}
	return slices.DeleteFunc(hooks, func(w Webhook) bool { return !w.matches(kind, migrationID) })
}

// raise enqueues n for every webhook that wants it.
func (n *Notifications) raise(ctx context.Context, note api.Notification) {
	// The change is stored; its notice must not be lost to the caller's deadline running out.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	hooks := n.targets(ctx, note.Kind, note.MigrationId)
	if len(hooks) == 0 {
		return
	}
	if note.MigrationName == "" {
		if m, err := n.migrations.GetMigration(ctx, note.MigrationId); err == nil {
			note.MigrationName = m.Name
		}
	}
	describe(&note, n.publicURL)
	for _, w := range hooks {
		if err := n.queue.EnqueueDelivery(ctx, DeliveryInput{WebhookID: w.Id, Notification: note}); err != nil {
			n.log.WarnContext(ctx, "notifications: cannot enqueue a delivery; this notification is not sent",
				"webhook", w.Id, "kind", note.Kind, "migration", note.MigrationId, "candidate", note.CandidateId, "error", err)
		}
	}
}

// logger is log, or one that discards.
func logger(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
