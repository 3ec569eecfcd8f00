package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/app"
	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/migrations/execution"
	ptemporal "github.com/drover-dev/drover/internal/platform/temporal"
	"github.com/drover-dev/drover/internal/testsupport"
	"github.com/drover-dev/drover/pkg/api"
	"github.com/drover-dev/drover/pkg/migrator/signature"
)

// TestWebhookNotifications: on real Temporal and Redis, a failed step reaches a json webhook
// (signed, and retried after the receiver failed once) and a Slack-format one; the migration
// finishing reaches the json one only; the delivery log says how each went.
func TestWebhookNotifications(t *testing.T) {
	mig := testsupport.NewMigrator(t)
	hooks, slack := testsupport.NewWebhookReceiver(t), testsupport.NewWebhookReceiver(t)
	r, a := startDrover(t, newStore(t, "redis"), func(c *app.Config) {
		c.PublicURL = "https://drover.example.com"
		c.NotifyRetry = migrations.DeliveryRetry{First: 200 * time.Millisecond, Max: time.Second, Attempts: 3}
	})
	mid := migrationID(t, "redis")
	rolloutMigration(t, a, mid, mig.URL, 1)
	create := func(in api.WebhookInput) api.CreatedWebhook {
		t.Helper()
		resp := a.Do(t, http.MethodPost, "/admin/webhooks", in)
		require.Equal(t, http.StatusCreated, resp.Status, string(resp.Body))
		var w api.CreatedWebhook
		resp.JSON(t, &w)
		return w
	}
	all := create(api.WebhookInput{Url: hooks.URL + "/drover", MigrationId: api.MigrationID(mid)})
	create(api.WebhookInput{Url: slack.URL + "/services/T1/B2/x", Format: api.WebhookFormatSlack, Events: []api.NotificationKind{api.NotificationKindStepFailed}})
	key, err := signature.ParseSecret(all.Secret)
	require.NoError(t, err)

	hooks.AnswerNext(http.StatusInternalServerError)
	require.Equal(t, http.StatusAccepted, a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-00/start", nil).Status)
	answerStep(t, a, mig.NextDispatch(t, waitFor), api.StepEventStatusFailed)

	first, second := hooks.Next(t, waitFor), hooks.Next(t, waitFor)
	require.Equal(t, http.StatusInternalServerError, first.Status)
	require.Equal(t, http.StatusOK, second.Status)
	var note api.Notification
	for _, d := range []testsupport.Delivery{first, second} {
		msg, err := signature.Verify([][]byte{key}, d.Header, d.Body, time.Now())
		require.NoError(t, err, "signed with the webhook's secret")
		require.NoError(t, json.Unmarshal(d.Body, &note))
		require.Equal(t, note.Id, msg.ID, "the same id on every attempt")
	}
	require.Equal(t, api.NotificationKindStepFailed, note.Kind)
	require.Equal(t, "svc-00", note.CandidateId)
	require.Equal(t, "branch", note.StepName)
	require.Equal(t, "CI is red", note.Error)
	require.Equal(t, "https://drover.example.com/ui/migrations/"+mid+"/candidates/svc-00", note.Link)

	var text map[string]string
	require.NoError(t, json.Unmarshal(slack.Next(t, waitFor).Body, &text))
	require.Equal(t, "Step branch of svc-00 in Rename topics "+mid+" failed: CI is red <"+note.Link+"|Open in Drover>", text["text"])

	metrics := a.Do(t, http.MethodGet, "/metrics", nil)
	require.Contains(t, string(metrics.Body), `drover_notification_attempts_total{kind="step_failed",result="retrying"} 1`)
	var log api.WebhookDeliveryList
	testsupport.Eventually(t, waitFor, func() (bool, string) {
		resp := a.Do(t, http.MethodGet, "/admin/webhooks/"+all.Id+"/deliveries", nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		resp.JSON(t, &log)
		return len(log.Deliveries) == 1 && log.Deliveries[0].Status == api.WebhookDeliveryStatusDelivered, "the delivery log says delivered"
	})
	require.Equal(t, 2, log.Deliveries[0].Attempts)
	testsupport.Eventually(t, waitFor, func() (bool, string) { // counted once the attempt has been recorded
		want := `drover_notification_attempts_total{kind="step_failed",result="delivered"} 2`
		return strings.Contains(string(a.Do(t, http.MethodGet, "/metrics", nil).Body), want), want + " (the json and the Slack webhook)"
	})
	require.Equal(t, note.Id, log.Deliveries[0].Id)

	// Retried, the step succeeds and the only candidate completes: the migration is finished.
	require.Equal(t, http.StatusAccepted, a.Do(t, http.MethodPost, "/migrations/"+mid+"/candidates/svc-00/retry-step", api.RetryStepRequest{StepName: "branch"}).Status)
	answerStep(t, a, mig.NextDispatch(t, waitFor), api.StepEventStatusSucceeded)
	require.NoError(t, json.Unmarshal(hooks.Next(t, waitFor).Body, &note))
	require.Equal(t, api.NotificationKindMigrationFinished, note.Kind)
	require.Equal(t, 1, slack.Count(), "the Slack webhook takes failures only")

	// The same notification enqueued twice (a store write retried after a crash) is sent once.
	engine := ptemporal.NewEngine(r.Client, ptemporal.EngineConfig{TaskQueue: "tq-" + nonQueueChars.ReplaceAllString(t.Name(), "-"),
		NotifyWorkflow: execution.NotifyWorkflowName})
	twice := migrations.DeliveryInput{WebhookID: all.Id, Notification: api.Notification{Id: "n-twice", Kind: api.NotificationKindStepWaiting, MigrationId: mid, At: time.Now().UTC()}}
	require.NoError(t, engine.EnqueueDelivery(t.Context(), twice))
	require.NoError(t, engine.EnqueueDelivery(t.Context(), twice))
	then := twice
	then.Notification.Id = "n-then"
	require.NoError(t, engine.EnqueueDelivery(t.Context(), then))
	ids := map[string]int{}
	for range 2 {
		d := hooks.Next(t, waitFor)
		ids[d.Header.Get(signature.HeaderID)]++
	}
	testsupport.Eventually(t, waitFor, func() (bool, string) {
		resp := a.Do(t, http.MethodGet, "/admin/webhooks/"+all.Id+"/deliveries", nil)
		resp.JSON(t, &log)
		return len(log.Deliveries) == 4, "four deliveries in the log"
	})
	require.Equal(t, map[string]int{"n-twice": 1, "n-then": 1}, ids)
	require.Equal(t, 5, hooks.Count(), "two attempts of the failure, the finish, and each of the last two once")

	// A receiver that refuses (410) is not tried again; the log says failed.
	gone := testsupport.NewWebhookReceiver(t)
	refusing := create(api.WebhookInput{Url: gone.URL + "/gone"})
	gone.AnswerNext(http.StatusGone)
	refused := migrations.DeliveryInput{WebhookID: refusing.Id, Notification: api.Notification{Id: "n-refused", Kind: api.NotificationKindStepFailed, MigrationId: mid, At: time.Now().UTC()}}
	require.NoError(t, engine.EnqueueDelivery(t.Context(), refused))
	require.Equal(t, http.StatusGone, gone.Next(t, waitFor).Status)
	testsupport.Eventually(t, waitFor, func() (bool, string) {
		resp := a.Do(t, http.MethodGet, "/admin/webhooks/"+refusing.Id+"/deliveries", nil)
		resp.JSON(t, &log)
		return len(log.Deliveries) == 1 && log.Deliveries[0].Status == api.WebhookDeliveryStatusFailed, "the refusal logged as failed"
	})
	require.Equal(t, 1, log.Deliveries[0].Attempts)

	// Replay fixtures of the notification workflow: delivered after a retry, and refused.
	for name, id := range map[string]string{"notify-retried": "drover-notify/" + all.Id + "/" + first.Header.Get(signature.HeaderID),
		"notify-refused": "drover-notify/" + refusing.Id + "/n-refused"} {
		require.NoError(t, r.Client.GetWorkflow(t.Context(), id, "").Get(t.Context(), nil), "the delivery's workflow ends")
		recordHistories(t, r.Client, id, name)
	}
}
