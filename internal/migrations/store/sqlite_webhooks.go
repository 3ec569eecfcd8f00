package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

var _ migrations.WebhookStore = (*SQLiteStore)(nil)

// PutWebhook creates or replaces a webhook.
func (s *SQLiteStore) PutWebhook(ctx context.Context, w migrations.Webhook) error {
	enc, err := encodeJSON("webhook", w)
	if err != nil {
		return fmt.Errorf("put webhook %s: %w", w.Id, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
INSERT INTO webhooks (id, created_at, body) VALUES (?, ?, ?)
ON CONFLICT (id) DO UPDATE SET body = excluded.body`, w.Id, toNanos(w.CreatedAt), enc)
		return backendErrorOrNil(err)
	})
	if err != nil {
		return fmt.Errorf("put webhook %s: %w", w.Id, err)
	}
	return nil
}

// GetWebhook returns one webhook.
func (s *SQLiteStore) GetWebhook(ctx context.Context, id string) (migrations.Webhook, error) {
	var enc string
	err := s.r.QueryRowContext(ctx, `SELECT body FROM webhooks WHERE id = ?`, id).Scan(&enc)
	if errors.Is(err, sql.ErrNoRows) {
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
func (s *SQLiteStore) ListWebhooks(ctx context.Context) ([]migrations.Webhook, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT body FROM webhooks`)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", backendError(err))
	}
	defer rows.Close()
	out := []migrations.Webhook{}
	for rows.Next() {
		var enc string
		if err := rows.Scan(&enc); err != nil {
			return nil, fmt.Errorf("list webhooks: %w", backendError(err))
		}
		w, err := decodeWebhook(enc)
		if err != nil {
			return nil, fmt.Errorf("list webhooks: %w", err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list webhooks: %w", backendError(err))
	}
	sortWebhooks(out)
	return out, nil
}

// DeleteWebhook removes a webhook and (by cascade) its deliveries.
func (s *SQLiteStore) DeleteWebhook(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
		if err != nil {
			return backendError(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return migrations.ErrWebhookNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, err)
	}
	return nil
}

// PutDelivery records a delivery of a webhook that exists and keeps its newest MaxDeliveries.
func (s *SQLiteStore) PutDelivery(ctx context.Context, d api.WebhookDelivery) error {
	enc, err := encodeJSON("delivery", d)
	if err != nil {
		return fmt.Errorf("put delivery %s of webhook %s: %w", d.Id, d.WebhookId, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
INSERT INTO webhook_deliveries (webhook_id, id, created_at, body)
SELECT id, ?, ?, ? FROM webhooks WHERE id = ?
ON CONFLICT (webhook_id, id) DO UPDATE SET body = excluded.body`, d.Id, toNanos(d.CreatedAt), enc, d.WebhookId)
		if err != nil {
			return backendError(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // the webhook is gone
		}
		_, err = tx.ExecContext(ctx, `
DELETE FROM webhook_deliveries WHERE webhook_id = ? AND id IN (
	SELECT id FROM webhook_deliveries WHERE webhook_id = ? ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET ?)`,
			d.WebhookId, d.WebhookId, migrations.MaxDeliveries)
		return backendErrorOrNil(err)
	})
	if err != nil {
		return fmt.Errorf("put delivery %s of webhook %s: %w", d.Id, d.WebhookId, err)
	}
	return nil
}

// ListDeliveries returns a webhook's newest deliveries.
func (s *SQLiteStore) ListDeliveries(ctx context.Context, webhookID string, limit int) ([]api.WebhookDelivery, error) {
	out := []api.WebhookDelivery{}
	err := s.read(ctx, func(tx *sql.Tx) error {
		var known bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM webhooks WHERE id = ?)`, webhookID).Scan(&known); err != nil {
			return backendError(err)
		}
		if !known {
			return migrations.ErrWebhookNotFound
		}
		rows, err := tx.QueryContext(ctx, `
SELECT body FROM webhook_deliveries WHERE webhook_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`, webhookID, limit)
		if err != nil {
			return backendError(err)
		}
		defer rows.Close()
		for rows.Next() {
			var enc string
			if err := rows.Scan(&enc); err != nil {
				return backendError(err)
			}
			var d api.WebhookDelivery
			if err := json.Unmarshal([]byte(enc), &d); err != nil {
				return fmt.Errorf("decode: %w", err)
			}
			out = append(out, d)
		}
		return backendErrorOrNil(rows.Err())
	})
	if err != nil {
		return nil, fmt.Errorf("deliveries of webhook %s: %w", webhookID, err)
	}
	return out, nil
}
