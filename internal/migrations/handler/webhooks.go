package handler

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

// Webhooks is what the notification endpoints need (migrations.Notifications).
type Webhooks interface {
	CreateWebhook(ctx context.Context, actor string, in api.WebhookInput) (migrations.Webhook, error)
	ListWebhooks(ctx context.Context) ([]api.Webhook, error)
	DeleteWebhook(ctx context.Context, id string) error
	Deliveries(ctx context.Context, id string, limit int) ([]api.WebhookDelivery, error)
	TestWebhook(ctx context.Context, id string) (api.Notification, error)
}

// webhooksOn is the webhooks, or false (after a 404) when this server has none.
func (h *Handler) webhooksOn(c *gin.Context) (Webhooks, bool) {
	if h.webhooks == nil {
		abort(c, http.StatusNotFound, "notifications are not enabled in this server", "")
		return nil, false
	}
	return h.webhooks, true
}

func (h *Handler) listWebhooks(c *gin.Context) {
	w, ok := h.webhooksOn(c)
	if !ok {
		return
	}
	list, err := w.ListWebhooks(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.WebhookList{Webhooks: list})
}

func (h *Handler) createWebhook(c *gin.Context) {
	w, ok := h.webhooksOn(c)
	if !ok {
		return
	}
	var body api.WebhookInput
	if !decode(c, &body, true) {
		return
	}
	if u, err := url.Parse(body.Url); err == nil {
		c.Set(ctxDetail, fmt.Sprintf("webhook to %s (%s)", u.Host, body.Format)) // the path may hold the receiver's token
	}
	if body.MigrationId != "" {
		c.Set(ctxMigration, string(body.MigrationId))
	}
	hook, err := w.CreateWebhook(c.Request.Context(), principal(c).Actor(), body)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Set(ctxDetail, fmt.Sprintf("webhook %s to %s (%s)", hook.Id, hostOf(hook.Url), hook.Format))
	c.JSON(http.StatusCreated, api.CreatedWebhook{Id: hook.Id, Url: hook.Url, Format: hook.Format, MigrationId: hook.MigrationId,
		Events: hook.Events, Description: hook.Description, CreatedAt: hook.CreatedAt, CreatedBy: hook.CreatedBy, Secret: hook.Secret})
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return "?"
}

func (h *Handler) deleteWebhook(c *gin.Context) {
	w, ok := h.webhooksOn(c)
	if !ok {
		return
	}
	c.Set(ctxDetail, "webhook "+c.Param("webhookId"))
	if err := w.DeleteWebhook(c.Request.Context(), c.Param("webhookId")); err != nil {
		h.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *Handler) listWebhookDeliveries(c *gin.Context) {
	w, ok := h.webhooksOn(c)
	if !ok {
		return
	}
	limit := 0
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s) // the validator has checked its type and range
		if err != nil {
			abort(c, http.StatusBadRequest, "limit: "+err.Error(), "limit")
			return
		}
		limit = n
	}
	ds, err := w.Deliveries(c.Request.Context(), c.Param("webhookId"), limit)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.WebhookDeliveryList{Deliveries: ds})
}

func (h *Handler) testWebhook(c *gin.Context) {
	w, ok := h.webhooksOn(c)
	if !ok {
		return
	}
	c.Set(ctxDetail, "webhook "+c.Param("webhookId"))
	n, err := w.TestWebhook(c.Request.Context(), c.Param("webhookId"))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, n)
}
