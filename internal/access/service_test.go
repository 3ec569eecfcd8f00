package access_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/access"
	accessstore "github.com/drover-dev/drover/internal/access/store"
	"github.com/drover-dev/drover/pkg/migrator/signature"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newService(t *testing.T, cfg access.Config) (*access.Service, *clock) {
	t.Helper()
	st, err := accessstore.OpenSQLite(":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	c := &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	cfg.Now = c.now
	return access.NewService(st, cfg, nil), c
}

func TestTokenExpires(t *testing.T) {
	ctx := context.Background()
	s, c := newService(t, access.Config{RequireAuth: true})
	_, raw, err := s.MintToken(ctx, access.Principal{Kind: access.ActorOperator, ID: "bootstrap-admin"}, "ci", access.RoleOperator, time.Hour)
	require.NoError(t, err)
	p, err := s.Authenticate(ctx, raw)
	require.NoError(t, err)
	require.Equal(t, access.RoleOperator, p.Role)
	c.t = c.t.Add(time.Hour)
	_, err = s.Authenticate(ctx, raw)
	require.ErrorIs(t, err, access.ErrUnauthenticated)
	require.ErrorContains(t, err, "expired")
}

func TestRolesCover(t *testing.T) {
	for _, tc := range []struct {
		r    access.Role
		need access.Role
		ok   bool
	}{
		{access.RoleViewer, access.RoleViewer, true}, {access.RoleViewer, access.RoleOperator, false},
		{access.RoleOperator, access.RoleViewer, true}, {access.RoleOperator, access.RoleAdmin, false},
		{access.RoleAdmin, access.RoleOperator, true}, {"", access.RoleViewer, false}, {"root", access.RoleViewer, false},
	} {
		require.Equal(t, tc.ok, tc.r.Covers(tc.need), "%s covers %s", tc.r, tc.need)
	}
}

func TestPatterns(t *testing.T) {
	m := access.Migrator{Migrations: []string{"team-a-*", "payments"}}
	for id, want := range map[string]bool{"team-a-x": true, "team-a-": true, "team-b-x": false, "payments": true, "payments-2": false, "team-a": false} {
		require.Equal(t, want, m.Allows(id), id)
	}
	for _, p := range []string{"", "a*b", "**", "*x*"} {
		require.Error(t, access.ValidPattern(p), p)
	}
	require.NoError(t, access.ValidPattern("*"))
}

// TestRotatedSecretExpiresAfterTheOverlap, and a stale message is refused whoever signed it.
func TestRotatedSecretExpiresAfterTheOverlap(t *testing.T) {
	ctx := context.Background()
	s, c := newService(t, access.Config{RequireAuth: true})
	m, old, err := s.CreateMigrator(ctx, access.Principal{}, "a", []string{"m1"}, false)
	require.NoError(t, err)
	_, fresh, err := s.RotateMigrator(ctx, m.ID, time.Hour)
	require.NoError(t, err)
	send := func(secret, id string, at time.Time) error {
		key, _ := signature.ParseSecret(secret)
		h := http.Header{}
		body := []byte(`{"candidates":[]}`)
		signature.SignHeaders(h, [][]byte{key}, id, at, body)
		_, err := s.VerifyMigrator(ctx, access.MigratorRequest{MigrationID: "m1", Header: h, Body: body})
		return err
	}
	require.NoError(t, send(old, "msg_1", c.t))
	require.NoError(t, send(fresh, "msg_2", c.t))
	c.t = c.t.Add(time.Hour)
	require.ErrorIs(t, send(old, "msg_3", c.t), access.ErrUnauthenticated)
	require.NoError(t, send(fresh, "msg_4", c.t))
	err = send(fresh, "msg_5", c.t.Add(-6*time.Minute))
	var d *access.DeniedError
	require.True(t, errors.As(err, &d), "%v", err)
	require.Contains(t, d.Reason, "5 minutes")
}
