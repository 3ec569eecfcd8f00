package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/access"
	"github.com/drover-dev/drover/internal/access/store"
	"github.com/drover-dev/drover/internal/access/store/storetest"
	"github.com/drover-dev/drover/internal/testsupport"
)

// openSQLite opens a SQLite store at path, closed when the test ends.
func openSQLite(t *testing.T, path string) *store.SQLiteStore {
	t.Helper()
	s, err := store.OpenSQLite(path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// redisStores returns an opener giving each store its own prefix on one Redis server.
func redisStores(t *testing.T) (*redis.Client, func(t *testing.T) *store.RedisStore) {
	rc := testsupport.RedisClient(t)
	var n atomic.Int64
	return rc, func(*testing.T) *store.RedisStore {
		return store.NewRedis(rc, fmt.Sprintf("test%d", n.Add(1)))
	}
}

func TestConformance(t *testing.T) {
	_, openRedis := redisStores(t)
	for _, tc := range []struct {
		name string
		open func(t *testing.T) access.Store
	}{
		{"SQLiteMemory", func(t *testing.T) access.Store { return openSQLite(t, ":memory:") }},
		{"SQLiteFile", func(t *testing.T) access.Store { return openSQLite(t, filepath.Join(t.TempDir(), "access.db")) }},
		{"Redis", func(t *testing.T) access.Store { return openRedis(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) { storetest.Run(t, tc.open) })
	}
}

func TestSQLiteMemoryStoresAreSeparate(t *testing.T) {
	ctx := context.Background()
	a, b := openSQLite(t, ":memory:"), openSQLite(t, ":memory:")
	require.NoError(t, a.PutMigrator(ctx, access.Migrator{ID: "m1"}))
	_, err := b.GetMigrator(ctx, "m1")
	require.ErrorIs(t, err, access.ErrNotFound)
}

func TestSQLiteFileKeepsRecordsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "access.db")
	s, err := store.OpenSQLite(path)
	require.NoError(t, err)
	require.NoError(t, s.CreateToken(ctx, access.Token{ID: "t1", Hash: "h1", Role: access.RoleAdmin, CreatedAt: time.Now()}))
	owner, err := s.ClaimMigration(ctx, "mig", "m1")
	require.NoError(t, err)
	require.Equal(t, "m1", owner)
	require.NoError(t, s.Close())
	require.Error(t, s.Ping(ctx), "a closed store does not answer")

	s = openSQLite(t, path)
	tok, err := s.TokenByHash(ctx, "h1")
	require.NoError(t, err)
	require.Equal(t, "t1", tok.ID)
	owner, err = s.MigrationOwner(ctx, "mig")
	require.NoError(t, err)
	require.Equal(t, "m1", owner)
}

func TestRedisKeysStayUnderThePrefix(t *testing.T) {
	ctx := context.Background()
	rc, _ := redisStores(t)
	for _, tc := range []struct{ prefix, keys string }{
		{"drover", "drover:access:"},
		{"drover:", "drover:access:"},
		{"", "access:"},
	} {
		t.Run(tc.prefix, func(t *testing.T) {
			require.NoError(t, rc.FlushDB(ctx).Err())
			s := store.NewRedis(rc, tc.prefix)
			require.NoError(t, s.CreateToken(ctx, access.Token{ID: "t1", Hash: "h1"}))
			require.NoError(t, s.PutMigrator(ctx, access.Migrator{ID: "m1"}))
			_, err := s.ClaimMigration(ctx, "mig", "m1")
			require.NoError(t, err)
			_, err = s.FirstSeen(ctx, "k", time.Hour)
			require.NoError(t, err)
			require.NoError(t, s.PutSession(ctx, access.Session{ID: "s1", ExpiresAt: time.Now().Add(time.Hour)}))
			require.NoError(t, s.AppendAudit(ctx, access.AuditEntry{ID: "e1", At: time.Now()}, time.Now().Add(-time.Hour)))
			keys, err := rc.Keys(ctx, "*").Result()
			require.NoError(t, err)
			require.NotEmpty(t, keys)
			for _, k := range keys {
				require.True(t, strings.HasPrefix(k, tc.keys), "key %q is outside %q", k, tc.keys)
			}
		})
	}
}

func TestRedisPrefixesAreSeparate(t *testing.T) {
	ctx := context.Background()
	_, open := redisStores(t)
	a, b := open(t), open(t)
	require.NoError(t, a.PutMigrator(ctx, access.Migrator{ID: "m1"}))
	_, err := b.GetMigrator(ctx, "m1")
	require.ErrorIs(t, err, access.ErrNotFound)
}

func auditEntry(i int) access.AuditEntry {
	return access.AuditEntry{ID: fmt.Sprintf("e%04d", i), At: time.Unix(1_700_000_000+int64(i), 0), Migration: fmt.Sprintf("m%d", i%2)}
}

func ids(es []access.AuditEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func TestRedisAuditCapDropsTheOldest(t *testing.T) {
	ctx := context.Background()
	_, open := redisStores(t)
	s := open(t)
	store.SetAuditBounds(s, 3, 1000)
	for _, i := range []int{4, 1, 5, 2, 3} {
		require.NoError(t, s.AppendAudit(ctx, auditEntry(i), time.Time{}))
	}
	es, err := s.QueryAudit(ctx, access.AuditFilter{})
	require.NoError(t, err)
	require.Equal(t, []string{"e0005", "e0004", "e0003"}, ids(es))
}

func TestRedisAuditQueryScansABoundedNumber(t *testing.T) {
	ctx := context.Background()
	_, open := redisStores(t)
	s := open(t)
	store.SetAuditBounds(s, 1000, 4)
	for i := range 10 {
		require.NoError(t, s.AppendAudit(ctx, auditEntry(i), time.Time{}))
	}
	for _, tc := range []struct {
		name string
		f    access.AuditFilter
		want []string
	}{
		{"only the newest scanned", access.AuditFilter{Migration: "m0"}, []string{"e0008", "e0006"}},
		{"paging reaches further", access.AuditFilter{Migration: "m0", Before: "e0006"}, []string{"e0004", "e0002"}},
		{"limit within the scan", access.AuditFilter{Limit: 2}, []string{"e0009", "e0008"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es, err := s.QueryAudit(ctx, tc.f)
			require.NoError(t, err)
			require.Equal(t, tc.want, ids(es))
		})
	}
}

func TestPingFailsWhenTheBackendIsGone(t *testing.T) {
	ctx := context.Background()
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { _ = rc.Close() })
	require.Error(t, store.NewRedis(rc, "x").Ping(ctx))

	s, err := store.OpenSQLite(":memory:")
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.Error(t, s.Ping(ctx))
}

// TestSQLiteAddsTheAuditDetailColumn: a database made before audit entries had a detail keeps
// its entries and takes new ones with it.
func TestSQLiteAddsTheAuditDetailColumn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.Exec(`CREATE TABLE access_audit (id TEXT PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL, actor_name TEXT NOT NULL,
		role TEXT NOT NULL, action TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, migration TEXT NOT NULL, candidate TEXT NOT NULL,
		run TEXT NOT NULL, status INTEGER NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT NULL, source TEXT NOT NULL);
		INSERT INTO access_audit VALUES ('e1', 1000000, 'anonymous', '', '', 'startRun', 'POST', '/p', 'm', 'c', '', 401, 'refused', 'r', '127.0.0.1')`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	s, err := store.OpenSQLite(path)
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	require.NoError(t, s.AppendAudit(ctx, access.AuditEntry{ID: "e2", At: time.Unix(2, 0), Actor: "anonymous", Action: "retryStep", Detail: "step open-pr"}, time.Time{}))
	got, err := s.QueryAudit(ctx, access.AuditFilter{Limit: 10})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "step open-pr", got[0].Detail)
	require.Equal(t, "startRun", got[1].Action)
	require.Empty(t, got[1].Detail)
}
