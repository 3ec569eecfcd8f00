// Package e2e tests Drover end to end: a real Temporal server in process (the embedded one
// `drover dev` uses), real Redis and SQLite stores, the real HTTP API and an httptest migrator.
// It is the one test package that links the Temporal server.
package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/drover-dev/drover/internal/app"
	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/migrations/store"
	"github.com/drover-dev/drover/internal/platform/temporal/devserver"
	"github.com/drover-dev/drover/internal/testsupport"
)

// temporalHostPort is the shared embedded Temporal server of this package's tests.
var temporalHostPort string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "drover-e2e-temporal-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	srv, err := devserver.Start(devserver.Config{DatabasePath: filepath.Join(dir, "temporal.db")})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start embedded Temporal:", err)
		return 1
	}
	defer func() { _ = srv.Stop() }()
	temporalHostPort = srv.HostPort()
	return m.Run()
}

// storeKinds are the stores every flow runs against.
var storeKinds = []string{"redis", "sqlite"}

func newStore(t *testing.T, kind string) migrations.MigrationStore {
	t.Helper()
	switch kind {
	case "redis":
		rc := redis.NewClient(&redis.Options{Addr: testsupport.Redis(t)})
		t.Cleanup(func() { _ = rc.Close() })
		return store.NewRedisStore(rc, "drover")
	case "sqlite":
		st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "drover.db"))
		if err != nil {
			t.Fatalf("open sqlite store: %v", err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	t.Fatalf("unknown store %q", kind)
	return nil
}

var nonQueueChars = regexp.MustCompile(`[^A-Za-z0-9-]+`)

// startDrover serves the API on a free port with a worker on a task queue of this test's own.
func startDrover(t *testing.T, st migrations.MigrationStore, mutate ...func(*app.Config)) (*app.Running, *testsupport.API) {
	t.Helper()
	return startDroverOn(t, st, "tq-"+nonQueueChars.ReplaceAllString(t.Name(), "-"), mutate...)
}

func startDroverOn(t *testing.T, st migrations.MigrationStore, taskQueue string, mutate ...func(*app.Config)) (*app.Running, *testsupport.API) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := app.DialTemporal(ctx, temporalHostPort, "default", log)
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.Config{Addr: "127.0.0.1:0", TaskQueue: taskQueue, Logger: log, CancelWait: 10 * time.Second, Trust: app.LoopbackTrust()}
	for _, f := range mutate {
		f(&cfg)
	}
	r, err := app.Start(cfg, st, c, func() error { c.Close(); return nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Stop(ctx)
	})
	return r, testsupport.NewAPI(r.URL)
}
