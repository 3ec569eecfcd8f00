// Package dev wires `drover dev`: the embedded Temporal server and the embedded store under
// one data directory, with Drover on top.
package dev

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/drover-dev/drover/internal/app"
	"github.com/drover-dev/drover/internal/migrations/store"
	"github.com/drover-dev/drover/internal/platform/temporal/devserver"
)

// Config is `drover dev`: everything in one process, state under DataDir.
type Config struct {
	app.Config
	// DataDir holds temporal.db (the embedded Temporal server) and drover.db (the store).
	DataDir string
	// TemporalPort is the embedded Temporal frontend's port; 0 picks a free one.
	TemporalPort int
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
	return app.Start(cfg.Config, st, c, ts.Stop, st.Close, func() error { c.Close(); return nil })
}
