package handler

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

func (h *Handler) listRollouts(c *gin.Context) {
	rs, err := h.svc.ListRollouts(c.Request.Context(), c.Param("migrationId"))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, rs)
}

func (h *Handler) createRollout(c *gin.Context) {
	var body api.RolloutRequest
	if !decode(c, &body, true) {
		return
	}
	c.Set(ctxDetail, describeRollout(body))
	if body.Preview {
		p, err := h.svc.PreviewRollout(c.Request.Context(), c.Param("migrationId"), body)
		if err != nil {
			h.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, p)
		return
	}
	r, err := h.svc.CreateRollout(c.Request.Context(), c.Param("migrationId"), body, principal(c).Actor())
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Set(ctxDetail, fmt.Sprintf("rollout %s of %d candidates; %s", r.Id, r.Total, c.GetString(ctxDetail)))
	c.Header("Location", c.Request.URL.Path+"/"+r.Id)
	c.JSON(http.StatusCreated, r)
}

func (h *Handler) getRollout(c *gin.Context) {
	r, err := h.svc.GetRollout(c.Request.Context(), c.Param("migrationId"), c.Param("rolloutId"))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

func (h *Handler) pauseRollout(c *gin.Context) {
	var body api.PauseRolloutRequest
	if !decode(c, &body, false) {
		return
	}
	reason := strings.TrimSpace(body.Reason)
	if reason != "" {
		c.Set(ctxDetail, "reason "+reason)
		reason = "paused by " + principal(c).Actor() + ": " + reason
	} else {
		reason = "paused by " + principal(c).Actor()
	}
	h.steer(c, migrations.RolloutControl{Action: migrations.ActionPause, Reason: reason})
}

func (h *Handler) cancelRollout(c *gin.Context) {
	var body api.CancelRolloutRequest
	if !decode(c, &body, false) {
		return
	}
	if body.CancelRuns {
		c.Set(ctxDetail, "with its open runs")
	}
	h.steer(c, migrations.RolloutControl{Action: migrations.ActionCancel, CancelRuns: body.CancelRuns})
}

func (h *Handler) steerRollout(action string) gin.HandlerFunc {
	return func(c *gin.Context) { h.steer(c, migrations.RolloutControl{Action: action}) }
}

func (h *Handler) steer(c *gin.Context, cmd migrations.RolloutControl) {
	if err := h.svc.SteerRollout(c.Request.Context(), c.Param("migrationId"), c.Param("rolloutId"), cmd); err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, api.StatusResponse{Status: strings.ToUpper(cmd.Action) + "_REQUESTED"})
}

func (h *Handler) retryFailed(c *gin.Context) {
	res, err := h.svc.RetryFailed(c.Request.Context(), c.Param("migrationId"), c.Param("rolloutId"))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Set(ctxDetail, fmt.Sprintf("retried %d steps, %d could not be", res.Retried, len(res.Errors)))
	c.JSON(http.StatusAccepted, res)
}

func (h *Handler) cancelRuns(c *gin.Context) {
	var body api.CancelRunsRequest
	if !decode(c, &body, true) {
		return
	}
	n, err := h.svc.CancelRuns(c.Request.Context(), c.Param("migrationId"), body.CandidateIds)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Set(ctxDetail, fmt.Sprintf("%d of %d candidates running", n, len(body.CandidateIds)))
	c.JSON(http.StatusAccepted, api.CancelRunsAccepted{Status: "CANCEL_REQUESTED", Requested: n})
}

// describeRollout says, for the audit log, which candidates a rollout request takes and how it
// paces them.
func describeRollout(r api.RolloutRequest) string {
	var parts []string
	switch {
	case len(r.CandidateIds) > 0:
		parts = append(parts, fmt.Sprintf("%d candidate ids", len(r.CandidateIds)))
	case r.Filter != (api.RolloutFilter{}):
		f := "filter"
		if r.Filter.Status != "" {
			f += " status=" + string(r.Filter.Status)
		}
		if r.Filter.Q != "" {
			f += " q=" + r.Filter.Q
		}
		if r.Filter.Attention != nil {
			f += fmt.Sprintf(" attention=%t", *r.Filter.Attention)
		}
		parts = append(parts, f)
	default:
		parts = append(parts, "every not_started candidate")
	}
	if r.MaxConcurrent > 0 {
		parts = append(parts, fmt.Sprintf("maxConcurrent %d", r.MaxConcurrent))
	}
	if len(r.Waves) > 0 {
		parts = append(parts, fmt.Sprintf("waves %v", r.Waves))
	}
	if r.StartsPerMinute > 0 {
		parts = append(parts, fmt.Sprintf("%d/min", r.StartsPerMinute))
	}
	if r.StartsPerHour > 0 {
		parts = append(parts, fmt.Sprintf("%d/h", r.StartsPerHour))
	}
	if r.Window.Start != "" {
		parts = append(parts, fmt.Sprintf("window %s-%s %s", r.Window.Start, r.Window.End, r.Window.TimeZone))
	}
	if in := describeInputs(r.Inputs); in != "" {
		parts = append(parts, in)
	}
	if r.Preview {
		parts = append(parts, "preview")
	}
	return strings.Join(parts, "; ")
}
