package handler_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/access"
	"github.com/drover-dev/drover/internal/migrations/handler"
	"github.com/drover-dev/drover/pkg/api"
)

func TestWebhookEndpoints(t *testing.T) {
	e := newEnv(t)
	var hook api.CreatedWebhook
	r := e.api.Do(t, http.MethodPost, "/admin/webhooks", map[string]any{"url": "https://hooks.slack.example/services/T1/B2/secret-token",
		"format": "slack", "migrationId": mig, "events": []string{"step_failed", "rollout_paused"}, "description": " on-call "})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	r.JSON(t, &hook)
	require.True(t, strings.HasPrefix(hook.Secret, "whsec_"), hook.Secret)
	require.Equal(t, api.WebhookFormatSlack, hook.Format)
	require.Equal(t, mig, hook.MigrationId)
	require.Equal(t, "on-call", hook.Description)
	require.Equal(t, []api.NotificationKind{api.NotificationKindStepFailed, api.NotificationKindRolloutPaused}, hook.Events)

	r = e.api.Do(t, http.MethodPost, "/admin/webhooks", map[string]any{"url": "https://hooks.example.com/all"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	var all api.CreatedWebhook
	r.JSON(t, &all)
	require.Equal(t, api.WebhookFormatJson, all.Format, "json unless told")
	require.Equal(t, []api.NotificationKind{}, all.Events, "every kind")

	r = e.api.Do(t, http.MethodGet, "/admin/webhooks", nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.NotContains(t, string(r.Body), "whsec_", "the secrets are shown only once")
	var list api.WebhookList
	r.JSON(t, &list)
	require.Len(t, list.Webhooks, 2)
	require.Equal(t, hook.Id, list.Webhooks[0].Id)

	// A test notification goes to the queue as any other.
	r = e.api.Do(t, http.MethodPost, "/admin/webhooks/"+hook.Id+"/test", nil)
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	var n api.Notification
	r.JSON(t, &n)
	require.Equal(t, api.NotificationKindTest, n.Kind)
	queued := e.queue.all()
	require.Len(t, queued, 1)
	require.Equal(t, hook.Id, queued[0].WebhookID)
	require.Equal(t, n, queued[0].Notification)

	r = e.api.Do(t, http.MethodGet, "/admin/webhooks/"+hook.Id+"/deliveries?limit=10", nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.JSONEq(t, `{"deliveries": []}`, string(r.Body))

	r = e.api.Do(t, http.MethodDelete, "/admin/webhooks/"+hook.Id, nil)
	require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Body)
	r = e.api.Do(t, http.MethodGet, "/admin/webhooks", nil)
	r.JSON(t, &list)
	require.Len(t, list.Webhooks, 1)
	require.Equal(t, all.Id, list.Webhooks[0].Id)
}

func TestWebhookEndpointsRefuseBadInput(t *testing.T) {
	e := newEnv(t)
	r := e.api.Do(t, http.MethodPost, "/admin/webhooks", map[string]any{"url": "https://hooks.example.com/x"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	var hook api.CreatedWebhook
	r.JSON(t, &hook)
	for _, c := range []struct {
		name, method, path string
		body               any
		status             int
		want               string
	}{
		{"no body", http.MethodPost, "/admin/webhooks", nil, 400, "body"},
		{"no url", http.MethodPost, "/admin/webhooks", map[string]any{"format": "json"}, 400, "url"},
		{"url not a string", http.MethodPost, "/admin/webhooks", map[string]any{"url": 7}, 400, "url"},
		{"url too long", http.MethodPost, "/admin/webhooks", map[string]any{"url": "https://hooks.example.com/" + strings.Repeat("x", 2100)}, 400, "url"},
		{"scheme", http.MethodPost, "/admin/webhooks", map[string]any{"url": "file:///etc/passwd"}, 400, "http or https"},
		{"metadata service", http.MethodPost, "/admin/webhooks", map[string]any{"url": "http://169.254.169.254/latest/meta-data"}, 400, "link-local"},
		{"format", http.MethodPost, "/admin/webhooks", map[string]any{"url": "https://h.example.com", "format": "teams"}, 400, "format"},
		{"event", http.MethodPost, "/admin/webhooks", map[string]any{"url": "https://h.example.com", "events": []string{"exploded"}}, 400, "events"},
		{"test event", http.MethodPost, "/admin/webhooks", map[string]any{"url": "https://h.example.com", "events": []string{"test"}}, 400, "only on request"},
		{"unknown field", http.MethodPost, "/admin/webhooks", map[string]any{"url": "https://h.example.com", "secret": "mine"}, 400, "secret"},
		{"bad migration id", http.MethodPost, "/admin/webhooks", map[string]any{"url": "https://h.example.com", "migrationId": "no spaces"}, 400, "migrationId"},
		{"unknown migration", http.MethodPost, "/admin/webhooks", map[string]any{"url": "https://h.example.com", "migrationId": "nope"}, 404, "migration not found"},
		{"delete unknown", http.MethodDelete, "/admin/webhooks/wh-nope", nil, 404, "webhook not found"},
		{"test unknown", http.MethodPost, "/admin/webhooks/wh-nope/test", nil, 404, "webhook not found"},
		{"deliveries unknown", http.MethodGet, "/admin/webhooks/wh-nope/deliveries", nil, 404, "webhook not found"},
		{"limit zero", http.MethodGet, "/admin/webhooks/" + hook.Id + "/deliveries?limit=0", nil, 400, "limit"},
		{"limit too big", http.MethodGet, "/admin/webhooks/" + hook.Id + "/deliveries?limit=500", nil, 400, "limit"},
		{"limit not a number", http.MethodGet, "/admin/webhooks/" + hook.Id + "/deliveries?limit=many", nil, 400, "limit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.api.Do(t, c.method, c.path, c.body)
			require.Equal(t, c.status, r.Status, "%s", r.Body)
			require.Contains(t, r.Error(), c.want)
		})
	}
	r = e.api.Do(t, http.MethodGet, "/admin/webhooks", nil)
	var list api.WebhookList
	r.JSON(t, &list)
	require.Len(t, list.Webhooks, 1, "nothing refused was stored")
	require.Zero(t, e.queue.count())
}

func TestWebhookAuditLeavesTheURLsTokenOut(t *testing.T) {
	e := newAuthEnv(t, handler.Config{})
	r := e.admin.Do(t, http.MethodPost, "/admin/webhooks", map[string]any{"url": "https://hooks.slack.example/services/T1/B2/secret-token", "format": "slack"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	var hook api.CreatedWebhook
	r.JSON(t, &hook)
	got, err := e.acc.Audit(context.Background(), access.AuditFilter{Limit: 1})
	require.NoError(t, err)
	require.Equal(t, "createWebhook", got[0].Action)
	require.Equal(t, "webhook "+hook.Id+" to hooks.slack.example (slack)", got[0].Detail)
	require.NotContains(t, got[0].Path+got[0].Detail, "secret-token")
}
