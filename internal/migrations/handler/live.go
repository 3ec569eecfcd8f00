package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/drover-dev/drover/internal/migrations"
)

// Live is where the event streams come from.
type Live interface {
	Watch(ctx context.Context, migrationID, after string) (*migrations.Subscription, error)
}

// liveRetry is the reconnect delay a stream asks of EventSource clients, in ms.
const liveRetry = 3000

// events streams live events as server-sent events: every migration's on /events, one
// migration's on /migrations/:migrationId/events.
func (h *Handler) events(c *gin.Context) {
	if h.live == nil {
		abort(c, http.StatusNotFound, "live updates are not enabled in this server", "")
		return
	}
	after := c.GetHeader("Last-Event-ID")
	if after == "" {
		after = c.Query("after")
	}
	ctx := c.Request.Context()
	sub, err := h.live.Watch(ctx, c.Param("migrationId"), after)
	if err != nil {
		h.fail(c, err)
		return
	}
	if h.streams != nil {
		h.streams(1)
		defer h.streams(-1)
	}
	// A stream outlives the server's read timeout, which would otherwise end it.
	rc := http.NewResponseController(c.Writer)
	_ = rc.SetReadDeadline(time.Time{})
	hd := c.Writer.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no") // a buffering proxy (nginx) would hold events back
	c.Status(http.StatusOK)
	if _, err := fmt.Fprintf(c.Writer, "retry: %d\n\n", liveRetry); err != nil {
		return
	}
	c.Writer.Flush()
	for {
		evs, err := sub.Next(ctx, h.keepAlive)
		if err != nil {
			if !errors.Is(err, migrations.ErrLiveClosed) && ctx.Err() == nil {
				h.log.WarnContext(ctx, "live stream ended", "path", c.Request.URL.Path, "error", err)
				fmt.Fprintf(c.Writer, ": %s\n\n", "the change feed failed; reconnect")
			}
			return
		}
		if len(evs) == 0 {
			if _, err := c.Writer.WriteString(": keep-alive\n\n"); err != nil {
				return
			}
		}
		for _, ev := range evs {
			b, err := json.Marshal(ev)
			if err != nil {
				h.log.ErrorContext(ctx, "encode live event", "error", err)
				return
			}
			if _, err := fmt.Fprintf(c.Writer, "id: %s\ndata: %s\n\n", ev.Id, b); err != nil {
				return
			}
		}
		c.Writer.Flush()
	}
}
