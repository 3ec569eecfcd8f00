// Package handler is Drover's inbound HTTP adapter: the operator API, the migrators' announce
// and callback endpoints, and health checks. Requests are validated against the OpenAPI
// document; domain errors become status codes that say whose fault it was.
package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
	"github.com/drover-dev/drover/schemas"
)

// Request body limits: announcements and candidate submissions carry whole candidate lists
// (50,000 candidates with a little metadata are 4 to 10 MB); every other request is small.
// At most MaxLargeBodies large bodies are handled at once (an accepted one costs about 11 times
// its size at the peak); more wait their turn.
const (
	MaxBodyBytes      = 16 << 20
	MaxSmallBodyBytes = 1 << 20
	MaxLargeBodies    = 4
)

// Keys of the request context that the refusal log reads.
const (
	ctxError     = "drover.error"
	ctxField     = "drover.field"
	ctxMigration = "drover.migration"
	ctxBody      = "drover.body"   // the validated body
	ctxLimit     = "drover.limit"  // the body limit, bytes
	ctxDetail    = "drover.detail" // what the request asked, for the audit log
)

// migratorRoutes are the routes migrators call (all POST); every 4xx answered on them is logged
// at warn, so that a migrator whose requests Drover refuses shows in Drover's log.
var migratorRoutes = map[string]bool{
	"/registry/announce":                  true,
	"/migrations/:migrationId/candidates": true,
	"/event/:runId":                       true,
}

// largeBodyRoutes take bodies up to MaxBodyBytes (they may list many candidates).
var largeBodyRoutes = map[string]bool{
	"/registry/announce":                   true,
	"/migrations/:migrationId/candidates":  true,
	"/migrations/:migrationId/rollouts":    true,
	"/migrations/:migrationId/cancel-runs": true,
}

// Service is what the handlers need of the use cases.
type Service interface {
	Announce(ctx context.Context, a api.MigrationAnnouncement) error
	SubmitCandidates(ctx context.Context, migrationID string, candidates []api.CandidateInput) error
	ListMigrationsJSON(ctx context.Context, withCandidates bool) ([]byte, error)
	GetMigrationJSON(ctx context.Context, id string, withCandidates bool) ([]byte, error)
	ListCandidatesJSON(ctx context.Context, migrationID string) ([]byte, error)
	FindCandidates(ctx context.Context, migrationID string, f migrations.CandidateFilter) ([]api.Candidate, int, error)
	Progress(ctx context.Context, migrationID string, points int) (api.Progress, error)
	Start(ctx context.Context, migrationID, candidateID string, inputs map[string]string) (string, error)
	Cancel(ctx context.Context, migrationID, candidateID string) (bool, error)
	RetryStep(ctx context.Context, migrationID, candidateID, stepName string) error
	UpdateInputs(ctx context.Context, migrationID, candidateID string, inputs map[string]string) (map[string]string, error)
	GetCandidate(ctx context.Context, migrationID, candidateID string) (api.Candidate, error)
	GetSteps(ctx context.Context, migrationID, candidateID string) (migrations.RunRecord, error)
	History(ctx context.Context, migrationID, candidateID string, page migrations.HistoryPage) ([]api.HistoryEvent, string, error)
	Insights(ctx context.Context, migrationID string, days int) (api.Insights, error)
	InsightsOverview(ctx context.Context, days int) (api.InsightsOverview, error)
	DryRun(ctx context.Context, migrationID, candidateID string, inputs map[string]string) (api.DryRunResult, error)
	HandleEvent(ctx context.Context, runID string, ev api.StepStatusEvent) (bool, error)
	CompleteStep(ctx context.Context, migrationID, candidateID, stepName string, status api.StepEventStatus, note, dispatchID, actor string) error
	PreviewRollout(ctx context.Context, migrationID string, req api.RolloutRequest) (api.RolloutPreview, error)
	CreateRollout(ctx context.Context, migrationID string, req api.RolloutRequest, actor string) (api.Rollout, error)
	ListRollouts(ctx context.Context, migrationID string) ([]api.Rollout, error)
	GetRollout(ctx context.Context, migrationID, rolloutID string) (api.Rollout, error)
	SteerRollout(ctx context.Context, migrationID, rolloutID string, cmd migrations.RolloutControl) error
	RetryFailed(ctx context.Context, migrationID, rolloutID string) (api.RetryFailedResult, error)
	CancelRuns(ctx context.Context, migrationID string, candidateIDs []string) (int, error)
	Ready(ctx context.Context) map[string]error
}

// Handler serves the API.
type Handler struct {
	svc          Service
	access       Access
	log          *slog.Logger
	large        chan struct{} // a slot per large body being handled
	routes       map[string]route
	allowedHosts map[string]bool
	loginURL     string
	observe      func(route, method string, status int, d time.Duration)
	live         Live
	keepAlive    time.Duration
	webhooks     Webhooks
	streams      func(delta int)
}

// Config is what the API is built from.
type Config struct {
	Service Service
	Access  Access
	Log     *slog.Logger
	// Routes, when not nil, may add routes (the console).
	Routes func(*gin.Engine)
	// AllowedHosts, when not empty, are the only Host header values answered (names or
	// addresses, without port).
	AllowedHosts []string
	// TrustedProxies are the addresses whose X-Forwarded-For is believed for the client's
	// address in the audit log; none by default.
	TrustedProxies []string
	// SSO, when not nil, is the console's single sign-on.
	SSO SSO
	// Metrics, when not nil, serves GET /metrics; Observe, when not nil, is told of every
	// request: its route template (empty when none matched), method, status and duration.
	Metrics http.Handler
	Observe func(route, method string, status int, d time.Duration)
	// Tracing, when not nil, runs around every request (a span per request).
	Tracing gin.HandlerFunc
	// Live, when not nil, serves the event streams; KeepAlive is how often an idle stream sends
	// a comment so that proxies keep it open (15 s when zero).
	Live      Live
	KeepAlive time.Duration
	// Webhooks, when not nil, serves the notification webhooks' endpoints.
	Webhooks Webhooks
	// Streams, when not nil, is told of every event stream opening (+1) and closing (-1).
	Streams func(delta int)
}

// SSO is a single sign-on flow: its login redirect, the provider's callback and the logout.
type SSO interface {
	Login(c *gin.Context)
	Callback(c *gin.Context)
	Logout(c *gin.Context)
}

// New returns the API as an http.Handler.
func New(cfg Config) (http.Handler, error) {
	if cfg.Service == nil || cfg.Access == nil {
		return nil, errors.New("handler: the service and the access model are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	v, err := newValidator(schemas.OpenAPI)
	if err != nil {
		return nil, err
	}
	h := &Handler{svc: cfg.Service, access: cfg.Access, log: cfg.Log, large: make(chan struct{}, MaxLargeBodies),
		routes: v.routes, allowedHosts: map[string]bool{}, observe: cfg.Observe, live: cfg.Live, keepAlive: cfg.KeepAlive, webhooks: cfg.Webhooks, streams: cfg.Streams}
	if h.keepAlive <= 0 {
		h.keepAlive = 15 * time.Second
	}
	sso := cfg.SSO
	if sso != nil {
		h.loginURL = "/auth/login"
	} else {
		sso = noSSO{}
	}
	for _, host := range cfg.AllowedHosts {
		h.allowedHosts[strings.ToLower(strings.Trim(host, "[]"))] = true
	}
	r := gin.New()
	if err := r.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("trusted proxies: %w", err)
	}
	r.HandleMethodNotAllowed = true
	if cfg.Tracing != nil {
		r.Use(cfg.Tracing)
	}
	r.Use(h.recoverer, h.accessLog, h.hostCheck, h.limitBody, h.guard, v.middleware)

	r.POST("/registry/announce", h.announce)
	r.GET("/migrations", h.listMigrations)
	r.GET("/migrations/:migrationId", h.getMigration)
	r.GET("/migrations/:migrationId/candidates", h.listCandidates)
	r.POST("/migrations/:migrationId/candidates", h.submitCandidates)
	r.GET("/migrations/:migrationId/progress", h.progress)
	r.POST("/migrations/:migrationId/dry-run", h.dryRun)
	r.POST("/migrations/:migrationId/candidates/:candidateId/start", h.start)
	r.POST("/migrations/:migrationId/candidates/:candidateId/cancel", h.cancel)
	r.POST("/migrations/:migrationId/candidates/:candidateId/retry-step", h.retryStep)
	r.PATCH("/migrations/:migrationId/candidates/:candidateId/inputs", h.updateInputs)
	r.GET("/migrations/:migrationId/candidates/:candidateId", h.getCandidate)
	r.GET("/migrations/:migrationId/candidates/:candidateId/steps", h.getSteps)
	r.GET("/migrations/:migrationId/candidates/:candidateId/history", h.getHistory)
	r.GET("/migrations/:migrationId/insights", h.getInsights)
	r.GET("/insights", h.getInsightsOverview)
	r.GET("/migrations/:migrationId/events", h.events)
	r.GET("/events", h.events)
	r.POST("/migrations/:migrationId/candidates/:candidateId/steps/:stepName/complete", h.completeStep)
	r.GET("/migrations/:migrationId/rollouts", h.listRollouts)
	r.POST("/migrations/:migrationId/rollouts", h.createRollout)
	r.GET("/migrations/:migrationId/rollouts/:rolloutId", h.getRollout)
	r.POST("/migrations/:migrationId/rollouts/:rolloutId/pause", h.pauseRollout)
	r.POST("/migrations/:migrationId/rollouts/:rolloutId/resume", h.steerRollout(migrations.ActionResume))
	r.POST("/migrations/:migrationId/rollouts/:rolloutId/approve", h.steerRollout(migrations.ActionApprove))
	r.POST("/migrations/:migrationId/rollouts/:rolloutId/cancel", h.cancelRollout)
	r.POST("/migrations/:migrationId/rollouts/:rolloutId/retry-failed", h.retryFailed)
	r.POST("/migrations/:migrationId/cancel-runs", h.cancelRuns)
	r.POST("/event/:runId", h.event)
	r.GET("/auth/me", h.whoAmI)
	r.GET("/auth/login", sso.Login)
	r.GET("/auth/callback", sso.Callback)
	r.POST("/auth/logout", sso.Logout)
	r.GET("/admin/tokens", h.listTokens)
	r.POST("/admin/tokens", h.createToken)
	r.DELETE("/admin/tokens/:tokenId", h.revokeToken)
	r.GET("/admin/migrators", h.listMigrators)
	r.POST("/admin/migrators", h.createMigrator)
	r.DELETE("/admin/migrators/:migratorId", h.revokeMigrator)
	r.POST("/admin/migrators/:migratorId/rotate", h.rotateMigrator)
	r.GET("/admin/webhooks", h.listWebhooks)
	r.POST("/admin/webhooks", h.createWebhook)
	r.DELETE("/admin/webhooks/:webhookId", h.deleteWebhook)
	r.GET("/admin/webhooks/:webhookId/deliveries", h.listWebhookDeliveries)
	r.POST("/admin/webhooks/:webhookId/test", h.testWebhook)
	r.GET("/audit", h.listAudit)
	r.GET("/metrics", func(c *gin.Context) {
		if cfg.Metrics == nil {
			abort(c, http.StatusNotFound, "metrics are not enabled in this server", "")
			return
		}
		cfg.Metrics.ServeHTTP(c.Writer, c.Request)
	})
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, api.StatusResponse{Status: "ok"}) })
	r.GET("/readyz", h.readyz)
	if cfg.Routes != nil {
		cfg.Routes(r)
	}
	r.NoRoute(func(c *gin.Context) {
		abort(c, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", c.Request.Method, c.Request.URL.Path), "")
	})
	r.NoMethod(func(c *gin.Context) {
		abort(c, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s", c.Request.Method, c.Request.URL.Path), "")
	})
	return r, nil
}

func (h *Handler) announce(c *gin.Context) {
	var body api.MigrationAnnouncement
	if !decode(c, &body, true) {
		return
	}
	c.Set(ctxMigration, body.Id)
	if v := c.GetString(ctxVerifiedMigration); v != body.Id {
		abort(c, http.StatusBadRequest, fmt.Sprintf("field \"id\": %q is not the migration the request was verified for", body.Id), "id")
		return
	}
	if err := h.svc.Announce(c.Request.Context(), body); err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.StatusResponse{Status: "SUCCESS"})
}

func (h *Handler) listMigrations(c *gin.Context) {
	with, ok := withCandidates(c)
	if !ok {
		return
	}
	h.rawJSON(c, func(ctx context.Context) ([]byte, error) { return h.svc.ListMigrationsJSON(ctx, with) })
}

func (h *Handler) getMigration(c *gin.Context) {
	with, ok := withCandidates(c)
	if !ok {
		return
	}
	h.rawJSON(c, func(ctx context.Context) ([]byte, error) {
		return h.svc.GetMigrationJSON(ctx, c.Param("migrationId"), with)
	})
}

// withCandidates reads the optional ?candidates= (default true); parsed here because the
// generated parameter, a plain bool, cannot say "absent".
func withCandidates(c *gin.Context) (bool, bool) {
	raw, ok := c.GetQuery("candidates")
	if !ok {
		return true, true
	}
	with, err := strconv.ParseBool(raw)
	if err != nil {
		abort(c, http.StatusBadRequest, fmt.Sprintf("query parameter \"candidates\": %q is not a boolean; expected true or false", raw), "candidates")
		return false, false
	}
	return with, true
}

func (h *Handler) listCandidates(c *gin.Context) {
	var p api.ListCandidatesParams
	if err := c.ShouldBindQuery(&p); err != nil { // the validator has checked types and ranges
		abort(c, http.StatusBadRequest, "query: "+err.Error(), "")
		return
	}
	f := migrations.CandidateFilter{Status: p.Status, Query: p.Q, Offset: p.Offset, Limit: p.Limit}
	if raw, ok := c.GetQuery("attention"); ok {
		// Parsed here: the generated parameter is a plain bool, which cannot say "absent".
		want, err := strconv.ParseBool(raw)
		if err != nil {
			abort(c, http.StatusBadRequest, fmt.Sprintf("query parameter \"attention\": %q is not a boolean; expected true or false", raw), "attention")
			return
		}
		f.Attention = &want
	}
	if f.Empty() {
		h.rawJSON(c, func(ctx context.Context) ([]byte, error) {
			return h.svc.ListCandidatesJSON(ctx, c.Param("migrationId"))
		})
		return
	}
	cs, total, err := h.svc.FindCandidates(c.Request.Context(), c.Param("migrationId"), f)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("X-Total-Count", strconv.Itoa(total))
	c.JSON(http.StatusOK, cs)
}

func (h *Handler) progress(c *gin.Context) {
	var p api.GetProgressParams
	if err := c.ShouldBindQuery(&p); err != nil { // the validator has checked types and ranges
		abort(c, http.StatusBadRequest, "query: "+err.Error(), "")
		return
	}
	res, err := h.svc.Progress(c.Request.Context(), c.Param("migrationId"), p.Points)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

// rawJSON answers 200 with a body the service has already encoded (and may have cached).
func (h *Handler) rawJSON(c *gin.Context, read func(context.Context) ([]byte, error)) {
	body, err := read(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

func (h *Handler) submitCandidates(c *gin.Context) {
	var body api.CandidateSubmission
	if !decode(c, &body, true) {
		return
	}
	if err := h.svc.SubmitCandidates(c.Request.Context(), c.Param("migrationId"), body.Candidates); err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.StatusResponse{Status: "SUCCESS"})
}

func (h *Handler) dryRun(c *gin.Context) {
	var body api.DryRunRequestBody
	if !decode(c, &body, true) {
		return
	}
	c.Set(ctxDetail, "candidate "+body.Candidate.Id)
	res, err := h.svc.DryRun(c.Request.Context(), c.Param("migrationId"), body.Candidate.Id, body.Inputs)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

func (h *Handler) start(c *gin.Context) {
	var body api.StartRunRequest
	if !decode(c, &body, false) {
		return
	}
	c.Set(ctxDetail, describeInputs(body.Inputs))
	runID, err := h.svc.Start(c.Request.Context(), c.Param("migrationId"), c.Param("candidateId"), body.Inputs)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, api.RunAccepted{Status: "STARTED", RunId: runID})
}

func (h *Handler) cancel(c *gin.Context) {
	done, err := h.svc.Cancel(c.Request.Context(), c.Param("migrationId"), c.Param("candidateId"))
	if err != nil {
		h.fail(c, err)
		return
	}
	if !done {
		c.JSON(http.StatusAccepted, api.StatusResponse{Status: "CANCEL_REQUESTED", Message: "the run is cancelling; the candidate returns to not_started when its clean-up has run"})
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *Handler) retryStep(c *gin.Context) {
	var body api.RetryStepRequest
	if !decode(c, &body, true) {
		return
	}
	c.Set(ctxDetail, "step "+body.StepName)
	if err := h.svc.RetryStep(c.Request.Context(), c.Param("migrationId"), c.Param("candidateId"), body.StepName); err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, api.StatusResponse{Status: "RETRYING"})
}

func (h *Handler) updateInputs(c *gin.Context) {
	var body api.UpdateInputsRequest
	if !decode(c, &body, true) {
		return
	}
	c.Set(ctxDetail, describeInputs(body.Inputs))
	if _, err := h.svc.UpdateInputs(c.Request.Context(), c.Param("migrationId"), c.Param("candidateId"), body.Inputs); err != nil {
		h.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *Handler) getCandidate(c *gin.Context) {
	cand, err := h.svc.GetCandidate(c.Request.Context(), c.Param("migrationId"), c.Param("candidateId"))
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, cand)
}

func (h *Handler) getSteps(c *gin.Context) {
	run, err := h.svc.GetSteps(c.Request.Context(), c.Param("migrationId"), c.Param("candidateId"))
	if err != nil {
		h.fail(c, err)
		return
	}
	steps := run.Steps
	if steps == nil {
		steps = []api.StepState{}
	}
	out := api.RunSteps{Status: run.Status, RunId: run.RunID, StartedAt: run.StartedAt, FinishedAt: run.FinishedAt, Steps: steps}
	if run.Cancellation != nil {
		out.Cancellation = *run.Cancellation
	}
	c.JSON(http.StatusOK, out)
}

func (h *Handler) getHistory(c *gin.Context) {
	var p api.GetHistoryParams
	if err := c.ShouldBindQuery(&p); err != nil { // the validator has checked types and ranges
		abort(c, http.StatusBadRequest, "query: "+err.Error(), "")
		return
	}
	evs, next, err := h.svc.History(c.Request.Context(), c.Param("migrationId"), c.Param("candidateId"),
		migrations.HistoryPage{Before: string(p.Before), Limit: p.Limit})
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.HistoryPage{Events: evs, Next: next})
}

func (h *Handler) getInsights(c *gin.Context) {
	var p api.GetInsightsParams
	if err := c.ShouldBindQuery(&p); err != nil { // the validator has checked types and ranges
		abort(c, http.StatusBadRequest, "query: "+err.Error(), "")
		return
	}
	out, err := h.svc.Insights(c.Request.Context(), c.Param("migrationId"), p.Days)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (h *Handler) getInsightsOverview(c *gin.Context) {
	var p api.GetInsightsOverviewParams
	if err := c.ShouldBindQuery(&p); err != nil { // the validator has checked types and ranges
		abort(c, http.StatusBadRequest, "query: "+err.Error(), "")
		return
	}
	out, err := h.svc.InsightsOverview(c.Request.Context(), p.Days)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (h *Handler) event(c *gin.Context) {
	var body api.StepStatusEvent
	if !decode(c, &body, true) {
		return
	}
	c.Set(ctxDetail, fmt.Sprintf("step %s %s", body.StepName, body.Status))
	dup, err := h.svc.HandleEvent(c.Request.Context(), c.Param("runId"), body)
	if err != nil {
		h.fail(c, err)
		return
	}
	if dup {
		c.JSON(http.StatusAccepted, api.StatusResponse{Status: "ACCEPTED", Message: "duplicate of an outcome already recorded; no effect"})
		return
	}
	c.JSON(http.StatusAccepted, api.StatusResponse{Status: "ACCEPTED"})
}

func (h *Handler) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{}
	status, code := api.ReadinessStatusReady, http.StatusOK
	for name, err := range h.svc.Ready(ctx) {
		checks[name] = "ok"
		if err != nil {
			checks[name] = err.Error()
			status, code = api.ReadinessStatusUnavailable, http.StatusServiceUnavailable
		}
	}
	c.JSON(code, api.Readiness{Status: status, Checks: checks})
}

// decode reads the JSON body into v from the validator's canonical copy of it, so that v holds
// exactly what was validated. The validator has already refused a missing required body; an
// absent optional one leaves v as it is. A body that reached a handler unvalidated (a route
// the document does not describe) is never decoded.
func decode(c *gin.Context, v any, required bool) bool {
	raw, ok := c.Get(ctxBody)
	if !ok || raw == nil {
		if required || (c.Request.Body != nil && c.Request.Body != http.NoBody) {
			h := c.Request.Method + " " + c.FullPath()
			abort(c, http.StatusInternalServerError, "internal error: the request body of "+h+" was not validated", "")
			return false
		}
		return true
	}
	err := json.Unmarshal(raw.([]byte), v)
	// The body is v now: let the collector have it while the use case runs (a large
	// announcement's copy is megabytes).
	c.Set(ctxBody, nil)
	c.Request.Body = http.NoBody
	if err != nil {
		abort(c, http.StatusBadRequest, "request body is not valid JSON: "+err.Error(), "")
		return false
	}
	return true
}

// fail maps a use case's error to a status code and a message for a person.
func (h *Handler) fail(c *gin.Context, err error) {
	var verr *migrations.ValidationError
	var serr *migrations.StateError
	var lerr *migrations.LimitError
	switch {
	case errors.As(err, &verr):
		abort(c, http.StatusBadRequest, verr.Error(), verr.Field)
	case errors.As(err, &lerr):
		abort(c, http.StatusRequestEntityTooLarge, lerr.Error(), lerr.Field)
	case errors.As(err, &serr):
		abort(c, http.StatusConflict, serr.Message, "")
	case errors.Is(err, migrations.ErrMigrationNotFound), errors.Is(err, migrations.ErrCandidateNotFound), errors.Is(err, migrations.ErrRunNotFound),
		errors.Is(err, migrations.ErrRolloutNotFound), errors.Is(err, migrations.ErrWebhookNotFound):
		abort(c, http.StatusNotFound, err.Error(), "")
	case errors.Is(err, migrations.ErrMigratorTimeout):
		abort(c, http.StatusGatewayTimeout, err.Error(), "")
	case errors.Is(err, migrations.ErrMigratorFailed):
		abort(c, http.StatusBadGateway, err.Error(), "")
	case errors.Is(err, migrations.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		h.log.WarnContext(c.Request.Context(), "dependency unavailable", "path", c.FullPath(), "error", err)
		abort(c, http.StatusServiceUnavailable, err.Error(), "")
	case errors.Is(err, context.Canceled):
		abort(c, 499, "request cancelled", "")
	default:
		h.log.ErrorContext(c.Request.Context(), "request failed", "method", c.Request.Method, "path", c.Request.URL.Path, "error", err)
		abort(c, http.StatusInternalServerError, "internal error: "+err.Error(), "")
	}
}

func abort(c *gin.Context, code int, msg, field string) {
	c.Set(ctxError, msg)
	c.Set(ctxField, field)
	c.AbortWithStatusJSON(code, api.Error{Error: msg, Field: field})
}

// limitBody bounds the request body, and the number of large bodies handled at once.
func (h *Handler) limitBody(c *gin.Context) {
	if c.Request.Body == nil {
		c.Next()
		return
	}
	limit := int64(MaxSmallBodyBytes)
	if c.Request.Method == http.MethodPost && largeBodyRoutes[c.FullPath()] {
		limit = MaxBodyBytes
		select {
		case h.large <- struct{}{}:
			defer func() { <-h.large }()
		case <-c.Request.Context().Done():
			abort(c, http.StatusServiceUnavailable, "request cancelled while waiting for other large requests to finish", "")
			return
		}
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	c.Set(ctxLimit, limit)
	c.Next()
}

func (h *Handler) recoverer(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			h.log.ErrorContext(c.Request.Context(), "panic while serving a request", "method", c.Request.Method, "path", c.Request.URL.Path, "panic", r)
			abort(c, http.StatusInternalServerError, "internal error", "")
		}
	}()
	c.Next()
}

func (h *Handler) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	if h.observe != nil {
		h.observe(c.FullPath(), c.Request.Method, c.Writer.Status(), time.Since(start))
	}
	level := slog.LevelDebug
	if c.Writer.Status() >= 500 {
		level = slog.LevelWarn
	}
	status := c.Writer.Status()
	if status >= 400 && status < 500 && c.Request.Method == http.MethodPost && migratorRoutes[c.FullPath()] {
		h.logRefusal(c, status)
		return
	}
	h.log.Log(c.Request.Context(), level, "http request", "method", c.Request.Method, "path", c.Request.URL.Path,
		"status", status, "duration", time.Since(start))
}

// logRefusal logs a migrator's refused request at warn: which migration or run, the field at
// fault and the reason, as answered.
func (h *Handler) logRefusal(c *gin.Context, status int) {
	attrs := []any{"method", c.Request.Method, "path", clip(c.Request.URL.Path), "status", status, "remote", c.RemoteIP()}
	switch {
	case c.Param("runId") != "":
		attrs = append(attrs, "run", clip(c.Param("runId")))
	case c.Param("migrationId") != "":
		attrs = append(attrs, "migration", clip(c.Param("migrationId")))
	case c.GetString(ctxMigration) != "":
		attrs = append(attrs, "migration", clip(c.GetString(ctxMigration)))
	}
	if f := c.GetString(ctxField); f != "" {
		attrs = append(attrs, "field", clip(f))
	}
	attrs = append(attrs, "reason", clip(c.GetString(ctxError)))
	h.log.WarnContext(c.Request.Context(), "refused a migrator's request", attrs...)
}

// clip shortens what a caller chose (a path, a field, a reason quoting a value) for the log.
func clip(s string) string {
	const maxLog = 512
	if len(s) <= maxLog {
		return s
	}
	return strings.ToValidUTF8(s[:maxLog], "") + "…"
}

// noSSO answers the login routes when no single sign-on is configured.
type noSSO struct{}

func (noSSO) Login(c *gin.Context)    { noSSOConfigured(c) }
func (noSSO) Callback(c *gin.Context) { noSSOConfigured(c) }
func (noSSO) Logout(c *gin.Context)   { c.Status(http.StatusNoContent) }

func noSSOConfigured(c *gin.Context) {
	abort(c, http.StatusNotFound, "single sign-on is not configured (--oidc-issuer); use an API token", "")
}

// describeInputs names the inputs a request sets, with their values, sorted, for the audit log.
func describeInputs(in map[string]string) string {
	if len(in) == 0 {
		return ""
	}
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + in[k]
	}
	return "inputs " + strings.Join(parts, ", ")
}
