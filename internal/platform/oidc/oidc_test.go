package oidc_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/access"
	accessstore "github.com/drover-dev/drover/internal/access/store"
	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/migrations/handler"
	"github.com/drover-dev/drover/internal/migrations/migrator"
	"github.com/drover-dev/drover/internal/migrations/store"
	"github.com/drover-dev/drover/internal/platform/oidc"
	"github.com/drover-dev/drover/pkg/api"
)

// env is a Drover API with single sign-on against a real (mock) OIDC provider.
type env struct {
	provider *mockoidc.MockOIDC
	base     string
	acc      *access.Service
}

func newEnv(t *testing.T, roles map[string]access.Role) *env {
	t.Helper()
	m, err := mockoidc.Run()
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Shutdown() })
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "drover.db")) // the migrations store has no in-memory mode
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	as, err := accessstore.OpenSQLite(":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { _ = as.Close() })
	acc := access.NewService(as, access.Config{RequireAuth: true}, nil)
	svc := migrations.NewService(st, nil, migrator.NewClient(nil, 0, 0), nil, nil)
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	cfg := m.Config()
	login, err := oidc.New(context.Background(), oidc.Config{Issuer: cfg.Issuer, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		RedirectURL: base + oidc.CallbackPath, Roles: roles}, acc, nil)
	require.NoError(t, err)
	h, err := handler.New(handler.Config{Service: svc, Access: acc, SSO: login})
	require.NoError(t, err)
	srv.Config.Handler = h
	srv.Start()
	t.Cleanup(srv.Close)
	return &env{provider: m, base: base, acc: acc}
}

// browser is a client with cookies that follows redirects, as a browser would.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

func me(t *testing.T, c *http.Client, base string) api.Me {
	t.Helper()
	resp, err := c.Get(base + "/auth/me")
	require.NoError(t, err)
	defer resp.Body.Close()
	var out api.Me
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

func post(t *testing.T, c *http.Client, url, csrf string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"name":"x","migrations":["x"]}`))
	req.Header.Set("Content-Type", "application/json")
	if csrf != "" {
		req.Header.Set(handler.CSRFHeader, csrf)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestLogin walks the authorization code flow with PKCE through the provider and back: the
// person gets the highest role their groups map to, a session cookie, and a CSRF token that
// every state change of the session must carry; logout ends the session.
func TestLogin(t *testing.T) {
	e := newEnv(t, map[string]access.Role{"engineering": access.RoleOperator, "admins": access.RoleAdmin})
	e.provider.QueueUser(&mockoidc.MockUser{Subject: "u-1", Email: "ada@example.com", Groups: []string{"engineering", "admins"}})
	b := browser(t)
	require.Equal(t, api.MeKindAnonymous, me(t, b, e.base).Kind)
	resp, err := b.Get(e.base + "/auth/login?return=/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode) // after the redirects
	require.Equal(t, "/healthz", resp.Request.URL.Path, "back where the login started")
	got := me(t, b, e.base)
	require.Equal(t, "operator:oidc:u-1", got.Actor)
	require.Equal(t, "ada@example.com", got.Name)
	require.Equal(t, api.Role("admin"), got.Role)
	require.Equal(t, "session", got.Via)
	require.NotEmpty(t, got.CsrfToken)

	u, _ := url.Parse(e.base)
	var session *http.Cookie
	for _, ck := range b.Jar.Cookies(u) {
		if ck.Name == access.SessionCookie {
			session = ck
		}
	}
	require.NotNil(t, session)

	code, msg := post(t, b, e.base+"/admin/migrators", "")
	require.Equal(t, http.StatusForbidden, code, msg)
	require.Contains(t, msg, "CSRF")
	code, msg = post(t, b, e.base+"/admin/migrators", "wrong")
	require.Equal(t, http.StatusForbidden, code, msg)
	code, msg = post(t, b, e.base+"/admin/migrators", got.CsrfToken)
	require.Equal(t, http.StatusCreated, code, msg)

	req, _ := http.NewRequest(http.MethodPost, e.base+"/auth/logout", nil)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(handler.CSRFHeader, got.CsrfToken) // a cross-site page cannot log the person out either
	resp, err = b.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Equal(t, api.MeKindAnonymous, me(t, b, e.base).Kind)
	// The old cookie, replayed, is dead.
	r2, _ := http.NewRequest(http.MethodGet, e.base+"/migrations", nil)
	r2.AddCookie(session)
	resp, err = http.DefaultClient.Do(r2)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	entries, err := e.acc.Audit(context.Background(), access.AuditFilter{Actor: "operator:oidc:u-1"})
	require.NoError(t, err)
	actions := []string{}
	for _, en := range entries {
		actions = append(actions, en.Action+":"+en.Outcome)
	}
	require.Contains(t, actions, "login:allowed")
	require.Contains(t, actions, "createMigratorCredential:allowed")
	require.Contains(t, actions, "createMigratorCredential:refused")
}

func TestLoginRefusals(t *testing.T) {
	e := newEnv(t, map[string]access.Role{"drover": access.RoleViewer})
	t.Run("no group maps to a role", func(t *testing.T) {
		e.provider.QueueUser(&mockoidc.MockUser{Subject: "u-2", Email: "eve@example.com", Groups: []string{"sales"}})
		b := browser(t)
		resp, err := b.Get(e.base + "/auth/login")
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s", body)
		require.Contains(t, string(body), "no value of the \\\"groups\\\" claim maps to a Drover role")
		require.Equal(t, api.MeKindAnonymous, me(t, b, e.base).Kind)
	})
	t.Run("a callback without a login started here", func(t *testing.T) {
		resp, err := browser(t).Get(e.base + "/auth/callback?code=x&state=y")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	})
	t.Run("a forged state", func(t *testing.T) {
		b := browser(t)
		b.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if req.URL.Path == oidc.CallbackPath {
				return http.ErrUseLastResponse
			}
			return nil
		}
		resp, err := b.Get(e.base + "/auth/login")
		require.NoError(t, err)
		resp.Body.Close()
		cb, err := url.Parse(resp.Header.Get("Location"))
		require.NoError(t, err)
		q := cb.Query()
		q.Set("state", "forged")
		cb.RawQuery = q.Encode()
		resp, err = b.Get(cb.String())
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Equal(t, api.MeKindAnonymous, me(t, b, e.base).Kind)
	})
	t.Run("the return address stays on this site", func(t *testing.T) {
		e.provider.QueueUser(&mockoidc.MockUser{Subject: "u-3", Groups: []string{"drover"}})
		b := browser(t)
		resp, err := b.Get(e.base + "/auth/login?return=//evil.example/x")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, strings.TrimPrefix(e.base, "http://"), resp.Request.URL.Host)
		require.Equal(t, "/", resp.Request.URL.Path)
	})
}

func TestParseRoles(t *testing.T) {
	r, err := oidc.ParseRoles([]string{"drover-admins=admin", " platform = operator", "*=viewer"})
	require.NoError(t, err)
	require.Equal(t, map[string]access.Role{"drover-admins": access.RoleAdmin, "platform": access.RoleOperator, "*": access.RoleViewer}, r)
	for _, bad := range [][]string{{"x"}, {"=admin"}, {"x=root"}, {}} {
		_, err := oidc.ParseRoles(bad)
		require.Error(t, err, "%v", bad)
	}
}
