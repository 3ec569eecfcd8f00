package handler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/drover-dev/drover/internal/access"
	"github.com/drover-dev/drover/pkg/api"
)

// Admin is what the admin endpoints need of the trust model.
type Admin interface {
	MintToken(ctx context.Context, by access.Principal, name string, role access.Role, expiresIn time.Duration) (access.Token, string, error)
	ListTokens(ctx context.Context) ([]access.Token, error)
	RevokeToken(ctx context.Context, id string) error
	CreateMigrator(ctx context.Context, by access.Principal, name string, migrations []string, allowUnsigned bool) (access.Migrator, string, error)
	ListMigrators(ctx context.Context) ([]access.Migrator, error)
	RotateMigrator(ctx context.Context, id string, overlap time.Duration) (access.Migrator, string, error)
	RevokeMigrator(ctx context.Context, id string) error
}

func (h *Handler) whoAmI(c *gin.Context) {
	p, err := h.operator(c, false, false)
	if err != nil {
		p = h.access.Anonymous()
	}
	me := api.Me{Actor: p.Actor(), Kind: api.MeKind(p.Kind), Name: p.Name, Role: api.Role(p.Role), Via: p.Via,
		AuthRequired: h.access.AuthRequired(), LoginUrl: h.loginURL}
	if p.Via == "session" {
		if ck, err := c.Request.Cookie(SessionCookie); err == nil {
			if _, csrf, err := h.access.Session(c.Request.Context(), ck.Value); err == nil {
				me.CsrfToken = csrf
			}
		}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, me)
}

// parseDuration reads a duration such as 720h, 90m or 30d.
func parseDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err == nil && n >= 0 && n <= 3660 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	return 0, &access.InvalidError{Field: field, Message: fmt.Sprintf("%s %q is not a duration: write e.g. 720h, 90m or 30d", field, s)}
}

func (h *Handler) createToken(c *gin.Context) {
	var body api.CreateTokenRequest
	if !decode(c, &body, true) {
		return
	}
	ttl, err := parseDuration("expiresIn", body.ExpiresIn)
	if err == nil && body.ExpiresIn != "" && ttl <= 0 {
		err = &access.InvalidError{Field: "expiresIn", Message: "expiresIn must be positive; leave it out for a token that does not expire"}
	}
	if err != nil {
		h.adminFail(c, err)
		return
	}
	c.Set(ctxDetail, fmt.Sprintf("token %q, role %s", body.Name, body.Role))
	t, raw, err := h.access.MintToken(c.Request.Context(), principal(c), body.Name, access.Role(body.Role), ttl)
	if err != nil {
		h.adminFail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, api.CreatedToken{Id: t.ID, Name: t.Name, Role: api.Role(t.Role), CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy, ExpiresAt: t.ExpiresAt, Token: raw})
}

func (h *Handler) listTokens(c *gin.Context) {
	ts, err := h.access.ListTokens(c.Request.Context())
	if err != nil {
		h.adminFail(c, err)
		return
	}
	out := api.TokenList{Tokens: make([]api.Token, 0, len(ts))}
	for _, t := range ts {
		out.Tokens = append(out.Tokens, api.Token{Id: t.ID, Name: t.Name, Role: api.Role(t.Role), CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy, ExpiresAt: t.ExpiresAt})
	}
	c.JSON(http.StatusOK, out)
}

func (h *Handler) revokeToken(c *gin.Context) {
	if err := h.access.RevokeToken(c.Request.Context(), c.Param("tokenId")); err != nil {
		h.adminFail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func credential(m access.Migrator, now time.Time) api.MigratorCredential {
	out := api.MigratorCredential{Id: m.ID, Name: m.Name, Migrations: m.Migrations, AllowUnsigned: m.AllowUnsigned,
		CreatedAt: m.CreatedAt, CreatedBy: m.CreatedBy, RevokedAt: m.RevokedAt, Secrets: []api.SecretInfo{}}
	if out.Migrations == nil {
		out.Migrations = []string{}
	}
	for _, s := range m.Secrets {
		if s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt) {
			out.Secrets = append(out.Secrets, api.SecretInfo{CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt})
		}
	}
	return out
}

func withSecret(m api.MigratorCredential, secret string) api.CreatedMigratorCredential {
	return api.CreatedMigratorCredential{Id: m.Id, Name: m.Name, Migrations: m.Migrations, AllowUnsigned: m.AllowUnsigned,
		CreatedAt: m.CreatedAt, CreatedBy: m.CreatedBy, RevokedAt: m.RevokedAt, Secrets: m.Secrets, Secret: secret}
}

func (h *Handler) createMigrator(c *gin.Context) {
	var body api.CreateMigratorRequest
	if !decode(c, &body, true) {
		return
	}
	c.Set(ctxDetail, fmt.Sprintf("migrator %q for %s", body.Name, strings.Join(body.Migrations, ", ")))
	m, secret, err := h.access.CreateMigrator(c.Request.Context(), principal(c), body.Name, body.Migrations, body.AllowUnsigned)
	if err != nil {
		h.adminFail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, withSecret(credential(m, time.Now()), secret))
}

func (h *Handler) listMigrators(c *gin.Context) {
	ms, err := h.access.ListMigrators(c.Request.Context())
	if err != nil {
		h.adminFail(c, err)
		return
	}
	out := api.MigratorCredentialList{Migrators: make([]api.MigratorCredential, 0, len(ms))}
	now := time.Now()
	for _, m := range ms {
		out.Migrators = append(out.Migrators, credential(m, now))
	}
	c.JSON(http.StatusOK, out)
}

func (h *Handler) rotateMigrator(c *gin.Context) {
	var body api.RotateMigratorRequest
	if !decode(c, &body, false) {
		return
	}
	overlap := access.DefaultRotateOverlap
	if body.Overlap != "" {
		d, err := parseDuration("overlap", body.Overlap)
		if err != nil {
			h.adminFail(c, err)
			return
		}
		overlap = d
	}
	m, secret, err := h.access.RotateMigrator(c.Request.Context(), c.Param("migratorId"), overlap)
	if err != nil {
		h.adminFail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, withSecret(credential(m, time.Now()), secret))
}

func (h *Handler) revokeMigrator(c *gin.Context) {
	if err := h.access.RevokeMigrator(c.Request.Context(), c.Param("migratorId")); err != nil {
		h.adminFail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *Handler) listAudit(c *gin.Context) {
	var p api.ListAuditParams
	if err := c.ShouldBindQuery(&p); err != nil { // the validator has checked types and ranges
		abort(c, http.StatusBadRequest, "query: "+err.Error(), "")
		return
	}
	if p.Limit == 0 {
		p.Limit = 100
	}
	es, err := h.access.Audit(c.Request.Context(), access.AuditFilter{Migration: p.Migration, Candidate: p.Candidate, Actor: p.Actor, Since: p.Since, Before: p.Before, Limit: p.Limit + 1})
	if err != nil {
		h.adminFail(c, err)
		return
	}
	out := api.AuditPage{Entries: make([]api.AuditEntry, 0, min(len(es), p.Limit))}
	for i, e := range es {
		if i == p.Limit {
			out.Next = out.Entries[len(out.Entries)-1].Id
			break
		}
		out.Entries = append(out.Entries, api.AuditEntry{Id: e.ID, At: e.At, Actor: e.Actor, ActorName: e.ActorName, Role: api.Role(e.Role),
			Action: e.Action, Method: e.Method, Path: e.Path, Migration: e.Migration, Candidate: e.Candidate, Run: e.Run,
			Status: e.Status, Outcome: api.AuditEntryOutcome(e.Outcome), Reason: e.Reason, Source: e.Source, Detail: e.Detail})
	}
	c.JSON(http.StatusOK, out)
}

// adminFail maps the trust model's errors to status codes.
func (h *Handler) adminFail(c *gin.Context, err error) {
	var inv *access.InvalidError
	switch {
	case errors.As(err, &inv):
		abort(c, http.StatusBadRequest, inv.Message, inv.Field)
	case errors.Is(err, access.ErrNotFound):
		abort(c, http.StatusNotFound, err.Error(), "")
	default:
		h.deny(c, err)
	}
}

func (h *Handler) completeStep(c *gin.Context) {
	var body api.CompleteStepRequest
	if !decode(c, &body, true) {
		return
	}
	p := principal(c)
	c.Set(ctxDetail, strings.TrimSuffix(string(body.Status)+": "+body.Note, ": "))
	err := h.svc.CompleteStep(c.Request.Context(), c.Param("migrationId"), c.Param("candidateId"), c.Param("stepName"), api.StepEventStatus(body.Status), body.Note, body.DispatchId, p.Actor())
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, api.StatusResponse{Status: "ACCEPTED"})
}
