package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

func webhook(id string, minute int) migrations.Webhook {
	return migrations.Webhook{Webhook: api.Webhook{Id: id, Url: "https://hooks.example.com/" + id, Format: api.WebhookFormatSlack,
		MigrationId: "m1", Events: []api.NotificationKind{api.NotificationKindStepFailed}, Description: "on-call",
		CreatedAt: at(minute), CreatedBy: "token:admin"}, Secret: "whsec_" + id}
}

func delivery(webhookID, id string, minute int, status api.WebhookDeliveryStatus) api.WebhookDelivery {
	return api.WebhookDelivery{Id: id, WebhookId: webhookID, Kind: api.NotificationKindStepFailed, Text: "Step x failed",
		MigrationId: "m1", CandidateId: "a", StepName: "x", Status: status, Attempts: 1, LastStatusCode: 500, LastError: "boom",
		CreatedAt: at(minute), UpdatedAt: at(minute)}
}

func testWebhooks(t *testing.T, store migrations.MigrationStore) {
	s, ok := store.(migrations.WebhookStore)
	if !ok {
		t.Skip("a decorator of the store; the stores themselves keep webhooks (checked where they are defined)")
	}
	ctx := context.Background()

	_, err := s.GetWebhook(ctx, "wh-1")
	require.ErrorIs(t, err, migrations.ErrWebhookNotFound)
	require.ErrorIs(t, s.DeleteWebhook(ctx, "wh-1"), migrations.ErrWebhookNotFound)
	_, err = s.ListDeliveries(ctx, "wh-1", 10)
	require.ErrorIs(t, err, migrations.ErrWebhookNotFound)
	list, err := s.ListWebhooks(ctx)
	require.NoError(t, err)
	require.Empty(t, list)

	// Kept as written, the secret too, and listed oldest first whatever the order of writes.
	w2, w1 := webhook("wh-2", 5), webhook("wh-1", 1)
	require.NoError(t, s.PutWebhook(ctx, w2))
	require.NoError(t, s.PutWebhook(ctx, w1))
	got, err := s.GetWebhook(ctx, "wh-1")
	require.NoError(t, err)
	require.Equal(t, w1, got)
	list, err = s.ListWebhooks(ctx)
	require.NoError(t, err)
	require.Equal(t, []migrations.Webhook{w1, w2}, list)

	// A delivery is replaced by id (a retried attempt), listed newest first.
	require.NoError(t, s.PutDelivery(ctx, delivery("wh-1", "n-a", 10, api.WebhookDeliveryStatusRetrying)))
	require.NoError(t, s.PutDelivery(ctx, delivery("wh-1", "n-b", 11, api.WebhookDeliveryStatusFailed)))
	done := delivery("wh-1", "n-a", 10, api.WebhookDeliveryStatusDelivered)
	done.Attempts, done.DeliveredAt, done.LastError = 2, at(12), ""
	require.NoError(t, s.PutDelivery(ctx, done))
	ds, err := s.ListDeliveries(ctx, "wh-1", 10)
	require.NoError(t, err)
	require.Equal(t, []api.WebhookDelivery{delivery("wh-1", "n-b", 11, api.WebhookDeliveryStatusFailed), done}, ds)
	ds, err = s.ListDeliveries(ctx, "wh-1", 1)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	ds, err = s.ListDeliveries(ctx, "wh-2", 10)
	require.NoError(t, err)
	require.Empty(t, ds, "deliveries are per webhook")

	// Only the newest MaxDeliveries are kept.
	for i := range migrations.MaxDeliveries + 5 {
		require.NoError(t, s.PutDelivery(ctx, delivery("wh-2", fmt.Sprintf("n-%03d", i), 100+i, api.WebhookDeliveryStatusDelivered)))
	}
	ds, err = s.ListDeliveries(ctx, "wh-2", migrations.MaxDeliveries+10)
	require.NoError(t, err)
	require.Len(t, ds, migrations.MaxDeliveries)
	require.Equal(t, fmt.Sprintf("n-%03d", migrations.MaxDeliveries+4), ds[0].Id)
	require.Equal(t, "n-005", ds[len(ds)-1].Id)

	// Deleting a webhook deletes its log; a late delivery of it is dropped, not resurrected.
	require.NoError(t, s.DeleteWebhook(ctx, "wh-1"))
	_, err = s.GetWebhook(ctx, "wh-1")
	require.ErrorIs(t, err, migrations.ErrWebhookNotFound)
	require.NoError(t, s.PutDelivery(ctx, delivery("wh-1", "n-c", 20, api.WebhookDeliveryStatusDelivered)))
	require.NoError(t, s.PutWebhook(ctx, w1))
	ds, err = s.ListDeliveries(ctx, "wh-1", 10)
	require.NoError(t, err)
	require.Empty(t, ds)
	list, err = s.ListWebhooks(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
}
