// Package dev wires `drover dev`: the embedded Temporal server and the embedded store under
// one data directory, with Drover on top.
package dev

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/drover-dev/drover/examples/gobump"
	accessstore "github.com/drover-dev/drover/internal/access/store"
	"github.com/drover-dev/drover/internal/app"
	"github.com/drover-dev/drover/internal/migrations/store"
	"github.com/drover-dev/drover/internal/platform/temporal/devserver"
	"github.com/drover-dev/drover/pkg/migrator/signature"
)

// DemoMigratorID is the demo migrator's credential.
const DemoMigratorID = "demo-gobump"

// Config is `drover dev`: everything in one process, state under DataDir.
type Config struct {
	app.Config
	// DataDir holds temporal.db (the embedded Temporal server) and drover.db (the store).
	DataDir string
	// TemporalPort is the embedded Temporal frontend's port; 0 picks a free one.
	TemporalPort int
	// Demo runs the example migrator (examples/gobump) in process over a workspace of demo git
	// repositories under DataDir/demo, so a live migration is there from the first start.
	Demo bool
}

// Start starts the embedded Temporal server and store, then Drover on top of them.
func Start(ctx context.Context, cfg Config) (*app.Running, error) {
	cfg.Config.Defaults()
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data directory %q: %w", cfg.DataDir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	ts, err := devserver.Start(devserver.Config{
		DatabasePath: filepath.Join(dir, "temporal.db"),
		FrontendPort: cfg.TemporalPort,
		Namespace:    cfg.Namespace,
		Logger:       cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	st, err := store.OpenSQLite(filepath.Join(dir, "drover.db"))
	if err != nil {
		_ = ts.Stop()
		return nil, fmt.Errorf("open embedded store: %w", err)
	}
	c, err := app.DialTemporal(ctx, ts.HostPort(), cfg.Namespace, cfg.Logger)
	if err != nil {
		_ = st.Close()
		_ = ts.Stop()
		return nil, err
	}
	cfg.Logger.Info("embedded Temporal is up", "hostPort", ts.HostPort(), "dataDir", dir)
	closers := []func() error{ts.Stop, st.Close}
	if cfg.Trust.Store == nil {
		as, err := accessstore.OpenSQLite(filepath.Join(dir, "access.db"))
		if err != nil {
			c.Close()
			return nil, errors.Join(fmt.Errorf("open embedded access store: %w", err), st.Close(), ts.Stop())
		}
		cfg.Trust.Store = as
		closers = append(closers, as.Close)
	}
	r, err := app.Start(cfg.Config, st, c, append(closers, func() error { c.Close(); return nil })...)
	if err != nil || !cfg.Demo {
		return r, err
	}
	if err := startDemo(ctx, r, filepath.Join(dir, "demo"), cfg.Logger); err != nil {
		// Drover itself works without the demo; say why it is missing and carry on.
		cfg.Logger.Warn("the demo migrator is not running (start with --no-demo to silence this)", "error", err)
	}
	return r, nil
}

// startDemo creates the demo workspace if needed and serves the example migrator on loopback;
// it announces itself in the background and stops with Drover.
func startDemo(ctx context.Context, r *app.Running, workspace string, log *slog.Logger) error {
	if err := gobump.CreateDemoWorkspace(ctx, workspace); err != nil {
		return err
	}
	// The demo migrator gets its own credential, a new secret at every start, and signs.
	secret, err := signature.NewSecret()
	if err != nil {
		return err
	}
	if _, err := r.Access.EnsureMigrator(ctx, DemoMigratorID, "demo migrator (examples/gobump)", []string{gobump.MigrationID}, false, secret); err != nil {
		return fmt.Errorf("create the demo migrator's credential: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	b, err := gobump.New(gobump.Options{Workspace: workspace, Drover: r.URL, URL: "http://" + ln.Addr().String(), Secret: secret, Logger: log.With("component", "demo-migrator")})
	if err != nil {
		_ = ln.Close()
		return err
	}
	srv := &http.Server{Handler: b.Migrator().Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	demoCtx, cancel := context.WithCancel(context.Background())
	go func() {
		if err := b.Start(demoCtx); err != nil && demoCtx.Err() == nil {
			log.Warn("demo migrator could not announce itself", "error", err)
		}
	}()
	r.OnStop(func() error {
		cancel()
		sctx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		_ = b.Migrator().Shutdown(sctx)
		return srv.Shutdown(sctx)
	})
	log.Info("demo migrator is serving", "workspace", workspace, "migration", gobump.MigrationID)
	return nil
}
