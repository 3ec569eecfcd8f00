package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

var _ migrations.WebhookStore = (*RedisStore)(nil)

// Webhook keys share one hash slot ({webhooks}): P:{webhooks} maps id -> Webhook JSON; each
// webhook's deliveries are a hash (delivery id -> JSON) and a sorted set of ids by CreatedAt.
func (s *RedisStore) webhooksKey() string { return s.prefix + "{webhooks}" }
func (s *RedisStore) deliveriesKey(id string) string {
	return s.prefix + "{webhooks}:deliveries:" + id
}
func (s *RedisStore) deliveryOrderKey(id string) string {
	return s.prefix + "{webhooks}:order:" + id
}

// luaPutDelivery writes a delivery of a webhook that exists, and drops the oldest beyond the
// kept number. KEYS: webhooks, deliveries, order; ARGV: webhook id, delivery id, JSON, created
// (ms), keep.
const luaPutDelivery = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[5])
if over > 0 then
  local old = redis.call('ZRANGE', KEYS[3], 0, over - 1)
  redis.call('HDEL', KEYS[2], unpack(old))
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, over - 1)
end
return 1
`

var putDeliveryScript = redis.NewScript(luaPutDelivery)

// PutWebhook creates or replaces a webhook.
func (s *RedisStore) PutWebhook(ctx context.Context, w migrations.Webhook) error {
	enc, err := encodeJSON("webhook", w)
	if err != nil {
		return fmt.Errorf("put webhook %s: %w", w.Id, err)
	}
	if err := s.client.HSet(ctx, s.webhooksKey(), w.Id, enc).Err(); err != nil {
		return fmt.Errorf("put webhook %s: %w", w.Id, backendError(err))
	}
	return nil
}

// GetWebhook returns one webhook.
func (s *RedisStore) GetWebhook(ctx context.Context, id string) (migrations.Webhook, error) {
	enc, err := s.client.HGet(ctx, s.webhooksKey(), id).Result()
	if errors.Is(err, redis.Nil) {
		return migrations.Webhook{}, fmt.Errorf("get webhook %s: %w", id, migrations.ErrWebhookNotFound)
	}
	if err != nil {
		return migrations.Webhook{}, fmt.Errorf("get webhook %s: %w", id, backendError(err))
	}
	w, err := decodeWebhook(enc)
	if err != nil {
		return migrations.Webhook{}, fmt.Errorf("get webhook %s: %w", id, err)
	}
	return w, nil
}

// ListWebhooks returns every webhook, oldest first.
func (s *RedisStore) ListWebhooks(ctx context.Context) ([]migrations.Webhook, error) {
	all, err := s.client.HGetAll(ctx, s.webhooksKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", backendError(err))
	}
	out := make([]migrations.Webhook, 0, len(all))
	for id, enc := range all {
		w, err := decodeWebhook(enc)
		if err != nil {
			return nil, fmt.Errorf("list webhooks: %s: %w", id, err)
		}
		out = append(out, w)
	}
	sortWebhooks(out)
	return out, nil
}

func sortWebhooks(ws []migrations.Webhook) {
	slices.SortFunc(ws, func(a, b migrations.Webhook) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Id, b.Id)
	})
}

// DeleteWebhook removes a webhook and its deliveries.
func (s *RedisStore) DeleteWebhook(ctx context.Context, id string) error {
	var n *redis.IntCmd
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		n = p.HDel(ctx, s.webhooksKey(), id)
		p.Del(ctx, s.deliveriesKey(id), s.deliveryOrderKey(id))
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, backendError(err))
	}
	if n.Val() == 0 {
		return fmt.Errorf("delete webhook %s: %w", id, migrations.ErrWebhookNotFound)
	}
	return nil
}

// PutDelivery records a delivery of a webhook that exists.
func (s *RedisStore) PutDelivery(ctx context.Context, d api.WebhookDelivery) error {
	enc, err := encodeJSON("delivery", d)
	if err != nil {
		return fmt.Errorf("put delivery %s of webhook %s: %w", d.Id, d.WebhookId, err)
	}
	keys := []string{s.webhooksKey(), s.deliveriesKey(d.WebhookId), s.deliveryOrderKey(d.WebhookId)}
	if err := putDeliveryScript.Run(ctx, s.client, keys, d.WebhookId, d.Id, enc, d.CreatedAt.UnixMilli(), migrations.MaxDeliveries).Err(); err != nil {
		return fmt.Errorf("put delivery %s of webhook %s: %w", d.Id, d.WebhookId, backendError(err))
	}
	return nil
}

// ListDeliveries returns a webhook's newest deliveries.
func (s *RedisStore) ListDeliveries(ctx context.Context, webhookID string, limit int) ([]api.WebhookDelivery, error) {
	var exists *redis.BoolCmd
	var ids *redis.StringSliceCmd
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		exists = p.HExists(ctx, s.webhooksKey(), webhookID)
		ids = p.ZRevRange(ctx, s.deliveryOrderKey(webhookID), 0, int64(limit)-1)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("deliveries of webhook %s: %w", webhookID, backendError(err))
	}
	if !exists.Val() {
		return nil, fmt.Errorf("deliveries of webhook %s: %w", webhookID, migrations.ErrWebhookNotFound)
	}
	out := []api.WebhookDelivery{}
	if len(ids.Val()) == 0 {
		return out, nil
	}
	encs, err := s.client.HMGet(ctx, s.deliveriesKey(webhookID), ids.Val()...).Result()
	if err != nil {
		return nil, fmt.Errorf("deliveries of webhook %s: %w", webhookID, backendError(err))
	}
	for _, e := range encs {
		enc, ok := e.(string)
		if !ok {
			continue // dropped between the two reads
		}
		var d api.WebhookDelivery
		if err := json.Unmarshal([]byte(enc), &d); err != nil {
			return nil, fmt.Errorf("deliveries of webhook %s: decode: %w", webhookID, err)
		}
		out = append(out, d)
	}
	sortDeliveries(out)
	return out, nil
}

// decodeWebhook reads a stored webhook.
func decodeWebhook(enc string) (migrations.Webhook, error) {
	var w migrations.Webhook
	if err := json.Unmarshal([]byte(enc), &w); err != nil {
		return migrations.Webhook{}, fmt.Errorf("decode webhook: %w", err)
	}
	return w, nil
}

// sortDeliveries orders deliveries newest first, by CreatedAt then id.
func sortDeliveries(ds []api.WebhookDelivery) {
	slices.SortStableFunc(ds, func(a, b api.WebhookDelivery) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.Id, a.Id)
	})
}
