package handler

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"

	"github.com/drover-dev/drover/internal/access"
	"github.com/drover-dev/drover/internal/migrations"
)

// Access is what the handlers need of the trust model.
type Access interface {
	AuthRequired() bool
	Anonymous() access.Principal
	Authenticate(ctx context.Context, token string) (access.Principal, error)
	Session(ctx context.Context, cookie string) (access.Principal, string, error)
	VerifyMigrator(ctx context.Context, r access.MigratorRequest) (access.Principal, error)
	Record(ctx context.Context, e access.AuditEntry)
	Audit(ctx context.Context, f access.AuditFilter) ([]access.AuditEntry, error)
	Admin
}

// Keys of the request context the guard sets.
const (
	ctxPrincipal         = "drover.principal"
	ctxVerifiedMigration = "drover.verifiedMigration"
)

// Headers and cookies of operator authentication.
const (
	SessionCookie = access.SessionCookie
	CSRFHeader    = "X-CSRF-Token"
)

// route is what the spec says of an operation: who may call it, and its name for the audit log.
type route struct {
	need   access.Need
	action string
}

// routesOf reads every operation's x-drover-role; an operation without one is an error, so
// that no endpoint is ever added without deciding who may call it.
func routesOf(doc *openapi3.T) (map[string]route, error) {
	out := map[string]route{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			raw, ok := op.Extensions["x-drover-role"].(string)
			if !ok {
				return nil, fmt.Errorf("%s %s: no x-drover-role: every operation must say who may call it", method, path)
			}
			need, err := access.ParseNeed(raw)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, path, err)
			}
			out[method+" "+ginPath(path)] = route{need: need, action: op.OperationID}
		}
	}
	return out, nil
}

// ginPath turns /a/{b}/c into Gin's /a/:b/c.
func ginPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			parts[i] = ":" + s[1:len(s)-1]
		}
	}
	return strings.Join(parts, "/")
}

func stateChanging(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// hostCheck refuses requests whose Host is not an allowed one (when a list is set), so that a
// web page cannot reach a Drover on loopback through a DNS name it rebinds.
func (h *Handler) hostCheck(c *gin.Context) {
	if len(h.allowedHosts) == 0 {
		c.Next()
		return
	}
	host := c.Request.Host
	if hn, _, err := net.SplitHostPort(host); err == nil {
		host = hn
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	if !h.allowedHosts[host] {
		abort(c, http.StatusForbidden, fmt.Sprintf("host %q is not one Drover serves; allowed hosts are set with --allowed-host", clip(c.Request.Host)), "Host")
		return
	}
	c.Next()
}

// guard authenticates the caller as the route requires (an operator's token or session, a
// migrator's signature), checks its role, keeps browsers from changing state across origins,
// and records every state-changing request in the audit log, allowed or refused.
func (h *Handler) guard(c *gin.Context) {
	rt, known := h.routes[c.Request.Method+" "+c.FullPath()]
	changing := stateChanging(c.Request.Method)
	if !known {
		c.Next() // the console's files, or NoRoute / NoMethod
		return
	}
	p := h.access.Anonymous()
	if changing {
		defer func() { h.audit(c, rt, p) }()
	}
	if changing && !h.browserSafe(c) {
		return
	}
	var who access.Principal
	var err error
	switch rt.need {
	case access.NeedMigrator:
		who, err = h.migrator(c)
	default:
		who, err = h.operator(c, changing, rt.need != access.NeedPublic)
		if err != nil && rt.need == access.NeedPublic && !changing {
			who, err = h.access.Anonymous(), nil // a stale token does not fail a health check
		}
		if err == nil && rt.need != access.NeedPublic && !who.Role.Covers(rt.need.Role()) {
			p, err = who, &access.DeniedError{Kind: access.ErrForbidden, Reason: roleReason(who, rt)}
		}
	}
	if err != nil {
		// For the audit log: the caller proven but refused, or an operator's token sent where
		// a migrator's signature is needed.
		if who.ID != "" {
			p = who
		} else if rt.need == access.NeedMigrator {
			if op, oerr := h.operator(c, false, true); oerr == nil {
				p = op
			}
		}
		h.deny(c, err)
		return
	}
	p = who
	c.Set(ctxPrincipal, p)
	c.Next()
}

func roleReason(p access.Principal, rt route) string {
	if p.Role == "" {
		return fmt.Sprintf("%s needs the %s role; %s has none", rt.action, rt.need, p.Actor())
	}
	return fmt.Sprintf("%s needs the %s role; %s is %s", rt.action, rt.need, p.Actor(), p.Role)
}

// browserSafe refuses what a web page of another origin could send: a state-changing
// request that is not JSON (HTML forms and "simple" requests cannot send it without CORS,
// which Drover never allows) or that says it comes from another origin.
func (h *Handler) browserSafe(c *gin.Context) bool {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/json" {
		abort(c, http.StatusUnsupportedMediaType, fmt.Sprintf("%s %s needs Content-Type: application/json (got %q)", c.Request.Method, clip(c.Request.URL.Path), clip(c.GetHeader("Content-Type"))), "Content-Type")
		return false
	}
	if origin := c.GetHeader("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || !strings.EqualFold(u.Host, c.Request.Host) {
			abort(c, http.StatusForbidden, fmt.Sprintf("cross-origin request from %q refused", clip(origin)), "Origin")
			return false
		}
	}
	return true
}

// operator finds the operator behind a bearer token or a session cookie; without either the
// caller is anonymous (an admin when authentication is off). With a session, a state-changing
// request must carry the session's CSRF token.
func (h *Handler) operator(c *gin.Context, changing, required bool) (access.Principal, error) {
	ctx := c.Request.Context()
	if authz := c.GetHeader("Authorization"); authz != "" {
		scheme, token, ok := strings.Cut(authz, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return access.Principal{}, &access.DeniedError{Kind: access.ErrUnauthenticated, Reason: "Authorization must be \"Bearer <token>\""}
		}
		return h.access.Authenticate(ctx, strings.TrimSpace(token))
	}
	if ck, err := c.Request.Cookie(SessionCookie); err == nil && ck.Value != "" {
		p, csrf, err := h.access.Session(ctx, ck.Value)
		if err != nil {
			if !required {
				return h.access.Anonymous(), nil
			}
			return access.Principal{}, err
		}
		if changing && (csrf == "" || subtle.ConstantTimeCompare([]byte(c.GetHeader(CSRFHeader)), []byte(csrf)) != 1) {
			return p, &access.DeniedError{Kind: access.ErrForbidden, Reason: "missing or wrong " + CSRFHeader + " header: a state-changing request of a session must carry its CSRF token"}
		}
		return p, nil
	}
	p := h.access.Anonymous()
	if required && p.Role == "" {
		return access.Principal{}, &access.DeniedError{Kind: access.ErrUnauthenticated, Reason: "authentication required: send Authorization: Bearer <token>, or log in to the console"}
	}
	return p, nil
}

// migrator verifies a migrator's request: which migration it is for (the announced id, the
// path's migration, or the run's), and the signature over the exact body.
func (h *Handler) migrator(c *gin.Context) (access.Principal, error) {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		if c.Param("migrationId") == "" && c.Param("runId") == "" {
			// Name the announced migration in the refusal's log line, if its head says.
			if id := topLevelID(body[:min(len(body), 4<<10)]); id != "" {
				c.Set(ctxMigration, id)
			}
		}
		tooLargeOrUnreadable(c, err)
		return access.Principal{}, errAnswered
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	req := access.MigratorRequest{Header: c.Request.Header, Body: body}
	switch {
	case c.Param("runId") != "":
		m, _, err := migrations.ParseRunID(c.Param("runId"))
		if err != nil {
			// Not a run of any migration: the service refuses it and says why.
			return h.access.Anonymous(), nil
		}
		req.MigrationID = m
	case c.Param("migrationId") != "":
		req.MigrationID = c.Param("migrationId")
	default:
		req.MigrationID, req.Claim = topLevelID(body), true
		if req.MigrationID == "" {
			// Not an announcement of any migration: the validator says what is wrong with it,
			// and the handler refuses whatever it lets through, as verified for no migration.
			return h.access.Anonymous(), nil
		}
		c.Set(ctxMigration, req.MigrationID)
	}
	p, err := h.access.VerifyMigrator(c.Request.Context(), req)
	if err == nil {
		c.Set(ctxVerifiedMigration, req.MigrationID)
	}
	return p, err
}

// errAnswered says the request has been answered already.
var errAnswered = errors.New("answered")

// deny answers a refused request.
func (h *Handler) deny(c *gin.Context, err error) {
	var d *access.DeniedError
	switch {
	case errors.As(err, &d) && errors.Is(err, access.ErrUnauthenticated):
		c.Header("WWW-Authenticate", `Bearer realm="drover"`)
		abort(c, http.StatusUnauthorized, d.Reason, "")
	case errors.As(err, &d):
		abort(c, http.StatusForbidden, d.Reason, "")
	case errors.Is(err, errAnswered):
	default:
		h.fail(c, fmt.Errorf("%w: %v", migrations.ErrUnavailable, err))
	}
}

// audit records a state-changing request once it has been answered.
func (h *Handler) audit(c *gin.Context, rt route, anon access.Principal) {
	p := anon
	if v, ok := c.Get(ctxPrincipal); ok {
		p = v.(access.Principal)
	}
	status := c.Writer.Status()
	outcome := "allowed"
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		outcome = "refused"
	case status >= 400:
		outcome = "failed"
	}
	e := access.AuditEntry{
		Actor: p.Actor(), ActorName: p.Name, Role: p.Role, Action: rt.action,
		Method: c.Request.Method, Path: clip(c.Request.URL.Path),
		Migration: clip(c.Param("migrationId")), Candidate: clip(c.Param("candidateId")), Run: clip(c.Param("runId")),
		Status: status, Outcome: outcome, Source: c.ClientIP(), Detail: clip(c.GetString(ctxDetail)),
	}
	if outcome != "allowed" {
		e.Reason = clip(c.GetString(ctxError))
	}
	if e.Migration == "" {
		e.Migration = clip(c.GetString(ctxMigration))
	}
	if e.Run != "" {
		if m, cand, err := migrations.ParseRunID(e.Run); err == nil {
			e.Migration, e.Candidate = m, cand
		}
	}
	// The request may have been cancelled by its client: the record is written regardless.
	h.access.Record(context.WithoutCancel(c.Request.Context()), e)
}

// principal is the caller the guard let through.
func principal(c *gin.Context) access.Principal {
	if v, ok := c.Get(ctxPrincipal); ok {
		return v.(access.Principal)
	}
	return access.Principal{Kind: access.ActorAnonymous, ID: "anonymous"}
}
