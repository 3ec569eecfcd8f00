// Package oidc is the console's single sign-on: the authorization code flow with PKCE against
// an OpenID Connect provider, a role from a claim of the ID token (groups → role), and a
// session cookie for the person logged in.
package oidc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/gin-gonic/gin"
	"golang.org/x/oauth2"

	"github.com/drover-dev/drover/internal/access"
)

// Paths of the login flow.
const (
	LoginPath    = "/auth/login"
	CallbackPath = "/auth/callback"
	LogoutPath   = "/auth/logout"
	stateCookie  = "drover_login"
)

// Config is the provider and how its claims become a role.
type Config struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is Drover's callback as registered with the provider, e.g.
	// https://drover.example.com/auth/callback.
	RedirectURL string
	// Scopes beyond openid (default profile, email, groups).
	Scopes []string
	// RoleClaim names the ID token claim holding the person's groups (default "groups"); a
	// string or a list of strings.
	RoleClaim string
	// Roles maps a claim value to a role ("drover-admins" → admin); the highest role wins.
	// A "*" entry is the role of everyone else who logs in; without one they are refused.
	Roles map[string]access.Role
	// SessionTTL is how long a session lasts (default 12 hours).
	SessionTTL time.Duration
}

// Sessions is what the login needs of the trust model.
type Sessions interface {
	NewSession(ctx context.Context, subject, name string, role access.Role, ttl time.Duration) (string, access.Session, error)
	EndSession(ctx context.Context, cookie string) error
	Record(ctx context.Context, e access.AuditEntry)
}

// Login serves the login flow.
type Login struct {
	cfg      Config
	oauth    oauth2.Config
	verifier *gooidc.IDTokenVerifier
	sessions Sessions
	secure   bool
	log      *slog.Logger
}

// ParseRoles reads "value=role" pairs, e.g. "drover-admins=admin,platform=operator,*=viewer".
func ParseRoles(pairs []string) (map[string]access.Role, error) {
	out := map[string]access.Role{}
	for _, p := range pairs {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		value, role, ok := strings.Cut(p, "=")
		if !ok || value == "" {
			return nil, fmt.Errorf("OIDC role mapping %q: expected claim-value=role, e.g. drover-admins=admin", p)
		}
		r, err := access.ParseRole(strings.TrimSpace(role))
		if err != nil {
			return nil, fmt.Errorf("OIDC role mapping %q: %w", p, err)
		}
		out[strings.TrimSpace(value)] = r
	}
	if len(out) == 0 {
		return nil, errors.New("OIDC needs a role mapping (--oidc-roles), e.g. drover-admins=admin,platform=operator,*=viewer")
	}
	return out, nil
}

// New discovers the provider and returns the login flow.
func New(ctx context.Context, cfg Config, sessions Sessions, log *slog.Logger) (*Login, error) {
	switch {
	case cfg.Issuer == "" || cfg.ClientID == "" || cfg.RedirectURL == "":
		return nil, errors.New("OIDC needs an issuer, a client id and a redirect URL (--oidc-issuer, --oidc-client-id, --oidc-redirect-url)")
	case len(cfg.Roles) == 0:
		return nil, errors.New("OIDC needs a role mapping (--oidc-roles), e.g. drover-admins=admin,platform=operator,*=viewer")
	}
	redirect, err := url.Parse(cfg.RedirectURL)
	if err != nil || (redirect.Scheme != "https" && redirect.Scheme != "http") || redirect.Path != CallbackPath {
		return nil, fmt.Errorf("--oidc-redirect-url %q: expected an absolute URL ending in %s", cfg.RedirectURL, CallbackPath)
	}
	if cfg.RoleClaim == "" {
		cfg.RoleClaim = "groups"
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"profile", "email", "groups"}
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	provider, err := gooidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover the OIDC provider %s: %w", cfg.Issuer, err)
	}
	return &Login{
		cfg: cfg,
		oauth: oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: provider.Endpoint(),
			RedirectURL: cfg.RedirectURL, Scopes: append([]string{gooidc.ScopeOpenID}, cfg.Scopes...)},
		verifier: provider.Verifier(&gooidc.Config{ClientID: cfg.ClientID}),
		sessions: sessions,
		secure:   redirect.Scheme == "https",
		log:      log,
	}, nil
}

// flow is what the login keeps in a short-lived cookie between the redirect and the callback.
type flow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Return   string `json:"r"`
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Login sends the browser to the provider.
func (l *Login) Login(c *gin.Context) {
	f := flow{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), Return: localPath(c.Query("return"))}
	raw, _ := json.Marshal(f)
	http.SetCookie(c.Writer, &http.Cookie{Name: stateCookie, Value: base64.RawURLEncoding.EncodeToString(raw), Path: "/auth/",
		MaxAge: 600, HttpOnly: true, Secure: l.secure, SameSite: http.SameSiteLaxMode})
	c.Redirect(http.StatusFound, l.oauth.AuthCodeURL(f.State, gooidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)))
}

// localPath keeps a return address on this site (a path), so the login is no open redirect.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n") {
		return "/"
	}
	return p
}

// Callback takes the provider's answer: checks the state, exchanges the code (with the PKCE
// verifier), verifies the ID token and its nonce, maps the claim to a role and starts a session.
func (l *Login) Callback(c *gin.Context) {
	ctx := c.Request.Context()
	f, err := l.readFlow(c)
	if err != nil {
		l.refuse(c, http.StatusBadRequest, "", err.Error())
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: stateCookie, Value: "", Path: "/auth/", MaxAge: -1, HttpOnly: true, Secure: l.secure})
	if e := c.Query("error"); e != "" {
		l.refuse(c, http.StatusUnauthorized, "", fmt.Sprintf("the identity provider refused the login: %s %s", clip(e), clip(c.Query("error_description"))))
		return
	}
	if c.Query("state") == "" || c.Query("state") != f.State {
		l.refuse(c, http.StatusBadRequest, "", "the login's state does not match: start again from the console")
		return
	}
	tok, err := l.oauth.Exchange(ctx, c.Query("code"), oauth2.VerifierOption(f.Verifier))
	if err != nil {
		l.refuse(c, http.StatusUnauthorized, "", "the identity provider did not accept the login code: "+clip(err.Error()))
		return
	}
	rawID, ok := tok.Extra("id_token").(string)
	if !ok {
		l.refuse(c, http.StatusUnauthorized, "", "the identity provider sent no ID token")
		return
	}
	id, err := l.verifier.Verify(ctx, rawID)
	if err != nil {
		l.refuse(c, http.StatusUnauthorized, "", "the ID token does not verify: "+clip(err.Error()))
		return
	}
	if id.Nonce != f.Nonce {
		l.refuse(c, http.StatusUnauthorized, "", "the ID token's nonce does not match this login")
		return
	}
	var claims map[string]any
	if err := id.Claims(&claims); err != nil {
		l.refuse(c, http.StatusUnauthorized, "", "the ID token's claims cannot be read: "+clip(err.Error()))
		return
	}
	name := firstString(claims, "email", "preferred_username", "name")
	if name == "" {
		name = id.Subject
	}
	role := l.role(claims[l.cfg.RoleClaim])
	if role == "" {
		l.refuse(c, http.StatusForbidden, name, fmt.Sprintf("%s logged in, but no value of the %q claim maps to a Drover role", name, l.cfg.RoleClaim))
		return
	}
	cookie, sess, err := l.sessions.NewSession(ctx, id.Subject, name, role, l.cfg.SessionTTL)
	if err != nil {
		l.refuse(c, http.StatusServiceUnavailable, name, "could not start the session: "+err.Error())
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: access.SessionCookie, Value: cookie, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, Secure: l.secure, SameSite: http.SameSiteLaxMode})
	l.sessions.Record(ctx, access.AuditEntry{Actor: "operator:oidc:" + id.Subject, ActorName: name, Role: role, Action: "login",
		Method: c.Request.Method, Path: CallbackPath, Status: http.StatusFound, Outcome: "allowed", Source: c.ClientIP()})
	c.Redirect(http.StatusFound, f.Return)
}

func (l *Login) readFlow(c *gin.Context) (flow, error) {
	ck, err := c.Request.Cookie(stateCookie)
	if err != nil {
		return flow{}, errors.New("no login in progress in this browser (or it took more than 10 minutes): start again from the console")
	}
	raw, err := base64.RawURLEncoding.DecodeString(ck.Value)
	var f flow
	if err != nil || json.Unmarshal(raw, &f) != nil || f.State == "" || f.Verifier == "" {
		return flow{}, errors.New("the login cookie is damaged: start again from the console")
	}
	f.Return = localPath(f.Return)
	return f, nil
}

// role is the highest role any claim value maps to, else the "*" role, else none.
func (l *Login) role(claim any) access.Role {
	var values []string
	switch v := claim.(type) {
	case string:
		values = []string{v}
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				values = append(values, s)
			}
		}
	}
	var best access.Role
	for _, v := range values {
		if r, ok := l.cfg.Roles[v]; ok && (best == "" || r.Covers(best)) {
			best = r
		}
	}
	if best == "" {
		best = l.cfg.Roles["*"]
	}
	return best
}

func firstString(claims map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := claims[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// Logout ends the session.
func (l *Login) Logout(c *gin.Context) {
	if ck, err := c.Request.Cookie(access.SessionCookie); err == nil && ck.Value != "" {
		if err := l.sessions.EndSession(c.Request.Context(), ck.Value); err != nil {
			l.log.WarnContext(c.Request.Context(), "could not end a session", "error", err)
		}
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: access.SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: l.secure, SameSite: http.SameSiteLaxMode})
	c.Status(http.StatusNoContent)
}

// refuse answers a failed login in words for the person, and records it.
func (l *Login) refuse(c *gin.Context, code int, name, reason string) {
	l.log.WarnContext(c.Request.Context(), "a console login failed", "reason", reason, "remote", c.ClientIP())
	l.sessions.Record(c.Request.Context(), access.AuditEntry{Actor: "anonymous", ActorName: name, Action: "login", Method: c.Request.Method,
		Path: CallbackPath, Status: code, Outcome: "refused", Reason: reason, Source: c.ClientIP()})
	c.JSON(code, gin.H{"error": reason})
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
