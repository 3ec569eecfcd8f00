package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/migrations/store"
	"github.com/drover-dev/drover/internal/migrations/store/storetest"
	"github.com/drover-dev/drover/internal/testsupport"
)

// redisStores returns a NewStore giving each caller its own key prefix on one shared server.
func redisStores(tb testing.TB) storetest.NewStore {
	addr := testsupport.Redis(tb)
	var n atomic.Int64
	return func(tb testing.TB) migrations.MigrationStore {
		s := store.NewRedisStore(redis.NewClient(&redis.Options{Addr: addr}), fmt.Sprintf("test%d", n.Add(1)))
		tb.Cleanup(func() { _ = s.Close() })
		return s
	}
}

func newSQLite(tb testing.TB) migrations.MigrationStore {
	s, err := store.OpenSQLite(filepath.Join(tb.TempDir(), "drover.db"))
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, s.Close()) })
	return s
}

func TestRedisStoreConformance(t *testing.T) {
	storetest.RunConformance(t, redisStores(t))
}

func TestSQLiteStoreConformance(t *testing.T) {
	storetest.RunConformance(t, newSQLite)
}

func BenchmarkRedisStore(b *testing.B) {
	storetest.RunBenchmarks(b, redisStores(b))
}

func BenchmarkSQLiteStore(b *testing.B) {
	storetest.RunBenchmarks(b, newSQLite)
}

func TestStoresAreUnavailableWhenTheBackendIsGone(t *testing.T) {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	rs := store.NewRedisStore(client, "x")
	t.Cleanup(func() { _ = rs.Close() })
	require.ErrorIs(t, rs.Ping(ctx), migrations.ErrUnavailable)
	_, err := rs.GetMigration(ctx, "m")
	require.ErrorIs(t, err, migrations.ErrUnavailable)
	require.NotErrorIs(t, err, migrations.ErrMigrationNotFound)

	ss, err := store.OpenSQLite(filepath.Join(t.TempDir(), "drover.db"))
	require.NoError(t, err)
	require.NoError(t, ss.Close())
	_, err = ss.ListCandidates(ctx, "m")
	require.ErrorIs(t, err, migrations.ErrUnavailable)
}
