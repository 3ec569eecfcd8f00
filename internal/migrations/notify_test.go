package migrations_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/migrations/migrator"
	"github.com/drover-dev/drover/internal/migrations/store"
	"github.com/drover-dev/drover/internal/testsupport"
	"github.com/drover-dev/drover/pkg/api"
	"github.com/drover-dev/drover/pkg/migrator/signature"
)

// dedupQueue keeps each (webhook, notification id) once, as Temporal's workflow ids do.
type dedupQueue struct {
	mu   sync.Mutex
	seen map[string]bool
	ins  []migrations.DeliveryInput
	err  error
}

func (q *dedupQueue) EnqueueDelivery(_ context.Context, in migrations.DeliveryInput) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	key := in.WebhookID + "/" + in.Notification.Id
	if !q.seen[key] {
		q.seen[key] = true
		q.ins = append(q.ins, in)
	}
	return nil
}

// take returns what was enqueued since the last take.
func (q *dedupQueue) take() []migrations.DeliveryInput {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.ins
	q.ins = nil
	return out
}

type notifyFixture struct {
	st    *store.SQLiteStore
	store migrations.MigrationStore // notifies
	n     *migrations.Notifications
	queue *dedupQueue
	now   time.Time
}

// newNotify is a SQLite store with migrations m ("Bump Go", candidates a and b) and other
// (candidate a), notifying through a deduplicating queue and a real, loopback-allowed sender.
func newNotify(t *testing.T) *notifyFixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "drover.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	f := &notifyFixture{st: st, queue: &dedupQueue{seen: map[string]bool{}}, now: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	f.n = migrations.NewNotifications(migrations.NotificationsConfig{Webhooks: st, Migrations: st, Queue: f.queue,
		Sender: migrator.NewClient(nil, 0, 0), PublicURL: "https://drover.example.com/", Now: func() time.Time { return f.now }})
	f.store = migrations.Notifying(st, f.n)
	for id, name := range map[string]string{"m": "Bump Go", "other": "Other"} {
		require.NoError(t, st.SaveMigration(ctx, api.Migration{Id: id, Name: name, MigratorUrl: "http://127.0.0.1:1",
			Steps: []api.StepDefinition{{Name: "change", MigratorApp: "x"}, {Name: "review", MigratorApp: "x", Manual: true}}, CreatedAt: f.now}))
	}
	require.NoError(t, st.MergeCandidates(ctx, "m", []api.CandidateInput{{Id: "a", Kind: "service"}, {Id: "b", Kind: "service"}}, f.now))
	require.NoError(t, st.MergeCandidates(ctx, "other", []api.CandidateInput{{Id: "a", Kind: "service"}}, f.now))
	return f
}

func (f *notifyFixture) hook(t *testing.T, in api.WebhookInput) migrations.Webhook {
	t.Helper()
	w, err := f.n.CreateWebhook(context.Background(), "token:admin", in)
	require.NoError(t, err)
	return w
}

func (f *notifyFixture) begin(t *testing.T, mid, cid, exec string) {
	t.Helper()
	require.NoError(t, f.store.BeginRun(context.Background(), migrations.RunRecord{RunID: migrations.RunID(mid, cid), ExecutionID: exec,
		MigrationID: mid, CandidateID: cid, Status: api.RunStatusRunning, StepNames: []string{"change", "review"}, StartedAt: f.now}))
}

func (f *notifyFixture) step(t *testing.T, mid, cid, exec string, s api.StepState, a api.Attention) {
	t.Helper()
	require.NoError(t, f.store.PutStepState(context.Background(), mid, cid, exec, s, a))
}

// sent is, per webhook id, the kinds enqueued.
func sent(ins []migrations.DeliveryInput) map[string][]api.NotificationKind {
	out := map[string][]api.NotificationKind{}
	for _, in := range ins {
		out[in.WebhookID] = append(out[in.WebhookID], in.Notification.Kind)
	}
	return out
}

func TestNotifyingRaisesWhatNeedsAPersonOnce(t *testing.T) {
	f := newNotify(t)
	ctx := context.Background()
	all := f.hook(t, api.WebhookInput{Url: "https://hooks.example.com/all", Format: api.WebhookFormatSlack})
	other := f.hook(t, api.WebhookInput{Url: "https://hooks.example.com/other", MigrationId: "other"})
	failures := f.hook(t, api.WebhookInput{Url: "https://hooks.example.com/failures", MigrationId: "m",
		Events: []api.NotificationKind{api.NotificationKindStepFailed, api.NotificationKindStepFailed}})
	require.Equal(t, []api.NotificationKind{api.NotificationKindStepFailed}, failures.Events, "kinds are kept once")

	f.begin(t, "m", "a", "e1")
	change := api.StepState{StepName: "change", Status: api.StepStatusInProgress, DispatchId: "e1/change/1", StartedAt: f.now, Attempts: 1}
	f.step(t, "m", "a", "e1", change, "")
	retrying := change
	retrying.Attempts, retrying.LastError = 3, "connection refused"
	f.step(t, "m", "a", "e1", retrying, api.AttentionRetrying)
	require.Empty(t, f.queue.take(), "a step under way or retrying its dispatch needs nobody yet")

	failed := change
	failed.Status, failed.LastError, failed.FinishedAt = api.StepStatusFailed, "tests fail", f.now.Add(time.Minute)
	f.step(t, "m", "a", "e1", failed, api.AttentionFailed)
	f.step(t, "m", "a", "e1", failed, api.AttentionFailed) // the activity's write, retried
	got := f.queue.take()
	require.Equal(t, map[string][]api.NotificationKind{all.Id: {api.NotificationKindStepFailed}, failures.Id: {api.NotificationKindStepFailed}}, sent(got))
	n := got[0].Notification
	require.Equal(t, got[0].Notification, got[1].Notification, "one notification, to each webhook that wants it")
	require.Equal(t, "Step change of a in Bump Go failed: tests fail", n.Text)
	require.Equal(t, "https://drover.example.com/ui/migrations/m/candidates/a", n.Link)
	require.Equal(t, api.Notification{Id: n.Id, Kind: api.NotificationKindStepFailed, Text: n.Text, MigrationId: "m", MigrationName: "Bump Go",
		CandidateId: "a", StepName: "change", Error: "tests fail", Link: n.Link, At: f.now}, n)

	// Retried, the step fails again: a new notification.
	again := failed
	again.DispatchId, again.FinishedAt = "e1/change/2", f.now.Add(2*time.Minute)
	f.step(t, "m", "a", "e1", again, api.AttentionFailed)
	got = f.queue.take()
	require.Len(t, got, 2)
	require.NotEqual(t, n.Id, got[0].Notification.Id)

	// A step waiting for a person, its metadata updated while it waits: one notification.
	review := api.StepState{StepName: "review", Status: api.StepStatusPending, DispatchId: "e1/review/1", StartedAt: f.now}
	f.step(t, "m", "a", "e1", review, api.AttentionWaiting)
	review.Metadata = map[string]string{"prUrl": "https://example.com/pr/1"}
	f.step(t, "m", "a", "e1", review, api.AttentionWaiting)
	got = f.queue.take()
	require.Equal(t, map[string][]api.NotificationKind{all.Id: {api.NotificationKindStepWaiting}}, sent(got))
	require.Equal(t, "Step review of a in Bump Go waits for a person to mark it done", got[0].Notification.Text)

	// It goes overdue; then, redelivered, overdue again later: two notifications.
	review.TimedOutAt = f.now.Add(time.Hour)
	f.step(t, "m", "a", "e1", review, api.AttentionOverdue)
	review.TimedOutAt = f.now.Add(2 * time.Hour)
	f.step(t, "m", "a", "e1", review, api.AttentionOverdue)
	require.Equal(t, map[string][]api.NotificationKind{all.Id: {api.NotificationKindStepOverdue, api.NotificationKindStepOverdue}}, sent(f.queue.take()))

	// A silent step of the other migration reaches the webhooks for every migration and for it.
	f.begin(t, "other", "a", "e2")
	f.step(t, "other", "a", "e2", api.StepState{StepName: "change", Status: api.StepStatusInProgress, DispatchId: "e2/change/1",
		StartedAt: f.now, TimedOutAt: f.now.Add(10 * time.Minute)}, api.AttentionSilent)
	got = f.queue.take()
	require.Equal(t, map[string][]api.NotificationKind{all.Id: {api.NotificationKindStepSilent}, other.Id: {api.NotificationKindStepSilent}}, sent(got))
	require.Contains(t, got[0].Notification.Text, "is silent")

	// A rollout that pauses notifies once per pause; one that runs does not.
	ro := api.Rollout{Id: "ro-1", MigrationId: "m", Status: api.RolloutStatusRunning, Total: 2, Waves: []api.RolloutWave{{Size: 2}}, CreatedAt: f.now, UpdatedAt: f.now}
	require.NoError(t, f.store.PutRollout(ctx, ro))
	require.Empty(t, f.queue.take())
	ro.Status, ro.PausedReason, ro.Failed = api.RolloutStatusPaused, "1 run failed (pauseAfterFailures 1)", 1
	require.NoError(t, f.store.PutRollout(ctx, ro))
	ro.UpdatedAt = f.now.Add(time.Minute) // the rollout polls while paused
	require.NoError(t, f.store.PutRollout(ctx, ro))
	got = f.queue.take()
	require.Equal(t, map[string][]api.NotificationKind{all.Id: {api.NotificationKindRolloutPaused}}, sent(got))
	require.Equal(t, "Rollout ro-1 of Bump Go paused: 1 run failed (pauseAfterFailures 1)", got[0].Notification.Text)
	require.Equal(t, "https://drover.example.com/ui/migrations/m/rollouts/ro-1", got[0].Notification.Link)

	// The migration is finished when its last candidate completes, not before.
	require.NoError(t, f.store.FinishRun(ctx, "m", "a", "e1", api.RunStatusCompleted, api.CandidateStatusCompleted, f.now))
	require.Empty(t, f.queue.take(), "b has not started")
	f.begin(t, "m", "b", "e3")
	require.NoError(t, f.store.FinishRun(ctx, "m", "b", "e3", api.RunStatusCancelled, api.CandidateStatusNotStarted, f.now))
	require.Empty(t, f.queue.take())
	f.begin(t, "m", "b", "e4")
	require.NoError(t, f.store.FinishRun(ctx, "m", "b", "e4", api.RunStatusCompleted, api.CandidateStatusCompleted, f.now))
	require.NoError(t, f.store.FinishRun(ctx, "m", "b", "e4", api.RunStatusCompleted, api.CandidateStatusCompleted, f.now))
	got = f.queue.take()
	require.Equal(t, map[string][]api.NotificationKind{all.Id: {api.NotificationKindMigrationFinished}}, sent(got))
	require.Equal(t, "Migration Bump Go is finished: every candidate is completed", got[0].Notification.Text)
}

func TestNotifyingKeepsTheWriteWhenTheQueueFails(t *testing.T) {
	f := newNotify(t)
	f.hook(t, api.WebhookInput{Url: "https://hooks.example.com/all"})
	f.queue.err = errors.New("temporal is down")
	f.begin(t, "m", "a", "e1")
	failed := api.StepState{StepName: "change", Status: api.StepStatusFailed, LastError: "boom", StartedAt: f.now, FinishedAt: f.now}
	require.NoError(t, f.store.PutStepState(context.Background(), "m", "a", "e1", failed, api.AttentionFailed))
	run, err := f.st.GetRun(context.Background(), "m", "a")
	require.NoError(t, err)
	require.Equal(t, api.StepStatusFailed, run.Steps[0].Status)
}

func TestCreateWebhookRefusesBadInput(t *testing.T) {
	f := newNotify(t)
	for _, c := range []struct {
		name  string
		in    api.WebhookInput
		field string
		want  string
	}{
		{"no URL", api.WebhookInput{}, "url", "a URL is required"},
		{"ftp", api.WebhookInput{Url: "ftp://hooks.example.com/x"}, "url", "http or https"},
		{"no host", api.WebhookInput{Url: "https:///x"}, "url", "a host is required"},
		{"userinfo", api.WebhookInput{Url: "https://u:p@hooks.example.com/x"}, "url", "userinfo"},
		{"fragment", api.WebhookInput{Url: "https://hooks.example.com/x#y"}, "url", "fragment"},
		{"metadata service", api.WebhookInput{Url: "http://169.254.169.254/latest"}, "url", "link-local"},
		{"format", api.WebhookInput{Url: "https://hooks.example.com/x", Format: "teams"}, "format", "use json or slack"},
		{"test event", api.WebhookInput{Url: "https://hooks.example.com/x", Events: []api.NotificationKind{api.NotificationKindTest}}, "events", "only on request"},
		{"unknown event", api.WebhookInput{Url: "https://hooks.example.com/x", Events: []api.NotificationKind{"step_exploded"}}, "events", "not a notification kind"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.n.CreateWebhook(context.Background(), "admin", c.in)
			var verr *migrations.ValidationError
			require.ErrorAs(t, err, &verr)
			require.Equal(t, c.field, verr.Field)
			require.Contains(t, verr.Message, c.want)
		})
	}
	_, err := f.n.CreateWebhook(context.Background(), "admin", api.WebhookInput{Url: "https://hooks.example.com/x", MigrationId: "nope"})
	require.ErrorIs(t, err, migrations.ErrMigrationNotFound)
	list, err := f.n.ListWebhooks(context.Background())
	require.NoError(t, err)
	require.Empty(t, list, "nothing refused was stored")
}

func TestDeliverSignsRetriesAndRecords(t *testing.T) {
	f := newNotify(t)
	ctx := context.Background()
	recv := testsupport.NewWebhookReceiver(t)
	w := f.hook(t, api.WebhookInput{Url: recv.URL + "/hook?token=t1"})
	slack := f.hook(t, api.WebhookInput{Url: recv.URL + "/slack", Format: api.WebhookFormatSlack})
	note := api.Notification{Id: "n-1", Kind: api.NotificationKindStepFailed, Text: "Step change of a in Bump Go failed: x < y & z",
		MigrationId: "m", CandidateId: "a", StepName: "change", Error: "x < y & z", Link: "https://drover.example.com/ui/migrations/m/candidates/a", At: f.now}
	in := migrations.DeliveryInput{WebhookID: w.Id, Notification: note}
	key, err := signature.ParseSecret(w.Secret)
	require.NoError(t, err)

	// The receiver fails: the attempt is recorded as retrying, with when the next one comes.
	recv.AnswerNext(http.StatusServiceUnavailable)
	err = f.n.Deliver(ctx, in, migrations.DeliveryAttempt{Number: 1, Of: 3, Next: 10 * time.Second})
	var de *migrations.DeliveryError
	require.ErrorAs(t, err, &de)
	require.False(t, de.Permanent)
	first := recv.Next(t, 5*time.Second)
	ds, err := f.n.Deliveries(ctx, w.Id, 0)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.Equal(t, api.WebhookDeliveryStatusRetrying, ds[0].Status)
	require.Equal(t, 503, ds[0].LastStatusCode)
	require.Equal(t, f.now.Add(10*time.Second), ds[0].NextAttemptAt)
	require.Contains(t, ds[0].LastError, "receiver says no")
	require.NotContains(t, ds[0].LastError, "token=t1", "the URL's secret parts stay out of errors")

	// The retry succeeds: signed under the notification's id, as the first attempt was.
	f.now = f.now.Add(10 * time.Second)
	require.NoError(t, f.n.Deliver(ctx, in, migrations.DeliveryAttempt{Number: 2, Of: 3, Next: 20 * time.Second}))
	second := recv.Next(t, 5*time.Second)
	for _, d := range []testsupport.Delivery{first, second} {
		msg, err := signature.Verify([][]byte{key}, d.Header, d.Body, time.Now())
		require.NoError(t, err)
		require.Equal(t, "n-1", msg.ID)
		var body api.Notification
		require.NoError(t, json.Unmarshal(d.Body, &body))
		require.Equal(t, note, body)
	}
	ds, err = f.n.Deliveries(ctx, w.Id, 0)
	require.NoError(t, err)
	require.Len(t, ds, 1, "one notification, one entry")
	require.Equal(t, api.WebhookDeliveryStatusDelivered, ds[0].Status)
	require.Equal(t, 2, ds[0].Attempts)
	require.Equal(t, f.now, ds[0].DeliveredAt)

	// Slack gets its text, escaped, with the link in its own markup.
	require.NoError(t, f.n.Deliver(ctx, migrations.DeliveryInput{WebhookID: slack.Id, Notification: note}, migrations.DeliveryAttempt{Number: 1, Of: 3}))
	var text map[string]string
	require.NoError(t, json.Unmarshal(recv.Next(t, 5*time.Second).Body, &text))
	require.Equal(t, map[string]string{"text": "Step change of a in Bump Go failed: x &lt; y &amp; z <https://drover.example.com/ui/migrations/m/candidates/a|Open in Drover>"}, text)

	// A receiver that refuses (404: the Slack webhook was revoked) is not retried.
	recv.AnswerNext(http.StatusNotFound)
	in.Notification.Id = "n-2"
	err = f.n.Deliver(ctx, in, migrations.DeliveryAttempt{Number: 1, Of: 3, Next: time.Second})
	require.ErrorAs(t, err, &de)
	require.True(t, de.Permanent)
	// Too many requests is retried, until the last attempt.
	recv.AnswerNext(http.StatusTooManyRequests)
	in.Notification.Id = "n-3"
	err = f.n.Deliver(ctx, in, migrations.DeliveryAttempt{Number: 3, Of: 3, Next: time.Second})
	require.ErrorAs(t, err, &de)
	require.False(t, de.Permanent)
	ds, err = f.n.Deliveries(ctx, w.Id, 0)
	require.NoError(t, err)
	status := map[string]api.WebhookDeliveryStatus{}
	for _, d := range ds {
		status[d.Id] = d.Status
		if d.Status == api.WebhookDeliveryStatusFailed {
			require.True(t, d.NextAttemptAt.IsZero(), "no attempt follows a failed delivery")
		}
	}
	require.Equal(t, map[string]api.WebhookDeliveryStatus{"n-1": api.WebhookDeliveryStatusDelivered, "n-2": api.WebhookDeliveryStatusFailed,
		"n-3": api.WebhookDeliveryStatusFailed}, status)

	// A webhook removed meanwhile is not called.
	require.NoError(t, f.n.DeleteWebhook(ctx, w.Id))
	before := recv.Count()
	require.NoError(t, f.n.Deliver(ctx, in, migrations.DeliveryAttempt{Number: 2, Of: 3}))
	require.Equal(t, before, recv.Count())
	_, err = f.n.Deliveries(ctx, w.Id, 0)
	require.ErrorIs(t, err, migrations.ErrWebhookNotFound)
}

func TestDeliveryRetryWaits(t *testing.T) {
	r := migrations.DeliveryRetry{}.OrDefault()
	require.Equal(t, migrations.DefaultDeliveryRetry, r)
	var waits []string
	for n := 1; n <= r.Attempts; n++ {
		waits = append(waits, r.Wait(n).String())
	}
	require.Equal(t, "10s 20s 40s 1m20s 2m40s 5m20s 10m0s 10m0s", strings.Join(waits, " "))
}

// TestInsightsAreReused: insights are computed once per 15 s slot, however many pages ask.
func TestInsightsAreReused(t *testing.T) {
	f := newNotify(t)
	ctx := context.Background()
	now := f.now
	svc := migrations.NewService(f.st, nil, nil, func() time.Time { return now }, nil)
	first, err := svc.InsightsOverview(ctx, 7)
	require.NoError(t, err)
	require.Empty(t, first.RecentFailures)
	one, err := svc.Insights(ctx, "m", 7)
	require.NoError(t, err)
	require.Empty(t, one.RecentFailures)
	f.begin(t, "m", "a", "e1")
	f.step(t, "m", "a", "e1", api.StepState{StepName: "change", Status: api.StepStatusFailed, LastError: "boom", StartedAt: now, FinishedAt: now}, api.AttentionFailed)
	now = now.Add(14 * time.Second) // f.now starts a slot
	again, err := svc.InsightsOverview(ctx, 7)
	require.NoError(t, err)
	require.Equal(t, first, again, "reused within the slot")
	oneAgain, err := svc.Insights(ctx, "m", 7)
	require.NoError(t, err)
	require.Equal(t, one, oneAgain)
	other, err := svc.InsightsOverview(ctx, 30)
	require.NoError(t, err)
	require.Len(t, other.RecentFailures, 1, "another window is computed afresh")
	now = now.Add(2 * time.Second)
	later, err := svc.InsightsOverview(ctx, 7)
	require.NoError(t, err)
	require.Len(t, later.RecentFailures, 1)
	require.Equal(t, "m", later.RecentFailures[0].MigrationId)
	oneLater, err := svc.Insights(ctx, "m", 7)
	require.NoError(t, err)
	require.Len(t, oneLater.RecentFailures, 1)
	_, err = svc.Insights(ctx, "nope", 7)
	require.ErrorIs(t, err, migrations.ErrMigrationNotFound, "errors are not cached as answers")
}

// countingStore counts the migration reads made through it.
type countingStore struct {
	migrations.MigrationStore
	mu    sync.Mutex
	reads int
}

func (c *countingStore) GetMigration(ctx context.Context, id string) (api.Migration, error) {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.MigrationStore.GetMigration(ctx, id)
}

// TestNotifyingCountsOnlyWhenSomeoneListens: a completed run reads its migration's counts (a
// scan in the embedded store) only when a webhook wants to hear that the migration finished.
func TestNotifyingCountsOnlyWhenSomeoneListens(t *testing.T) {
	f := newNotify(t)
	ctx := context.Background()
	counting := &countingStore{MigrationStore: f.st}
	s := migrations.Notifying(counting, f.n)
	f.hook(t, api.WebhookInput{Url: "https://hooks.example.com/failures", Events: []api.NotificationKind{api.NotificationKindStepFailed}})
	f.begin(t, "m", "a", "e1")
	require.NoError(t, s.FinishRun(ctx, "m", "a", "e1", api.RunStatusCompleted, api.CandidateStatusCompleted, f.now))
	require.Zero(t, counting.reads)
	f.hook(t, api.WebhookInput{Url: "https://hooks.example.com/done", MigrationId: "m", Events: []api.NotificationKind{api.NotificationKindMigrationFinished}})
	f.begin(t, "m", "b", "e2")
	require.NoError(t, s.FinishRun(ctx, "m", "b", "e2", api.RunStatusCompleted, api.CandidateStatusCompleted, f.now))
	require.Equal(t, 1, counting.reads)
	require.Len(t, f.queue.take(), 1, "the finish, to the webhook that wants it")
}
