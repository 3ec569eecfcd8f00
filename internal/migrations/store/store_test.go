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
	"github.com/drover-dev/drover/pkg/api"
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

func TestMemoryFeedConformance(t *testing.T) {
	storetest.RunFeedConformance(t, func(_ testing.TB, keep int) migrations.ChangeFeed { return store.NewMemoryFeed(keep) })
}

func TestRedisFeedConformance(t *testing.T) {
	addr := testsupport.Redis(t)
	var n atomic.Int64
	storetest.RunFeedConformance(t, func(tb testing.TB, keep int) migrations.ChangeFeed {
		c := redis.NewClient(&redis.Options{Addr: addr})
		tb.Cleanup(func() { _ = c.Close() })
		return store.NewRedisFeed(c, fmt.Sprintf("feed%d", n.Add(1)), int64(keep))
	})
}

func TestMemoryFeedIdsOfAnotherProcessAreAGap(t *testing.T) {
	ctx := context.Background()
	old := store.NewMemoryFeed(10)
	id, err := old.Publish(ctx, api.LiveEvent{Kind: api.LiveEventKindCandidates, MigrationId: "m"})
	require.NoError(t, err)
	restarted := store.NewMemoryFeed(10)
	for _, from := range []string{id, "0-0", "99999999999999-1"} {
		_, err = restarted.Read(ctx, from, 10, 0)
		require.ErrorIs(t, err, migrations.ErrLiveGap, "from %s", from)
	}
}
