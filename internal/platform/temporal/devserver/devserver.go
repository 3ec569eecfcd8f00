// Package devserver runs an embedded Temporal server persisted to a SQLite file, for
// `drover dev` and for tests. It uses only the server's public packages: a hand-built config,
// the sqlite persistence plugin, static hosts instead of membership, and one history shard.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	tlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

// Config says where the server keeps its data and where it listens.
type Config struct {
	// DatabasePath is the SQLite file; created with the schema when absent.
	DatabasePath string
	// FrontendPort is the gRPC port clients dial on 127.0.0.1; 0 picks a free one.
	FrontendPort int
	// Namespace is created at start when missing.
	Namespace string
	// Logger receives the server's warnings and errors.
	Logger *slog.Logger
}

// Server is a running embedded Temporal server.
type Server struct {
	srv      temporal.Server
	hostPort string
}

const clusterName = "active"

// Start sets up the schema when needed and starts the server.
func Start(cfg Config) (*Server, error) {
	if cfg.DatabasePath == "" {
		return nil, errors.New("embedded Temporal needs a database path")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ports, err := freePorts(cfg.FrontendPort, 4)
	if err != nil {
		return nil, err
	}
	sqlCfg := &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		ConnectAttributes: map[string]string{},
		DatabaseName:      cfg.DatabasePath,
	}
	// WAL with synchronous=normal is about 2.5 times faster than SQLite's defaults for
	// Temporal's write pattern and still survives a crash of the process.
	sqlCfg.ConnectAttributes["mode"] = "rwc"
	sqlCfg.ConnectAttributes["journal_mode"] = "wal"
	sqlCfg.ConnectAttributes["synchronous"] = "normal"
	sqlCfg.ConnectAttributes["busy_timeout"] = "10000"
	if err := os.MkdirAll(filepath.Dir(cfg.DatabasePath), 0o755); err != nil {
		return nil, fmt.Errorf("create Temporal data directory: %w", err)
	}
	if _, err := os.Stat(cfg.DatabasePath); errors.Is(err, os.ErrNotExist) {
		if err := sqliteschema.SetupSchema(sqlCfg); err != nil {
			return nil, fmt.Errorf("set up Temporal schema in %s: %w", cfg.DatabasePath, err)
		}
	}
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, cfg.Namespace, false, nil)
	if err != nil {
		return nil, fmt.Errorf("namespace config: %w", err)
	}
	if err := sqliteschema.CreateNamespaces(sqlCfg, ns); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", cfg.Namespace, err)
	}

	hostPort := func(p int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)) }
	services := []primitives.ServiceName{primitives.FrontendService, primitives.HistoryService, primitives.MatchingService, primitives.WorkerService}
	hosts := make(map[primitives.ServiceName]static.Hosts, len(services))
	svcCfg := make(map[string]config.Service, len(services))
	names := make([]string, 0, len(services))
	for i, name := range services {
		hosts[name] = static.SingleLocalHost(hostPort(ports[i]))
		svcCfg[string(name)] = config.Service{RPC: config.RPC{GRPCPort: ports[i], BindOnIP: "127.0.0.1"}}
		names = append(names, string(name))
	}
	frontend := hostPort(ports[0])
	serverCfg := &config.Config{
		Global: config.Global{Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: "127.0.0.1"}},
		Persistence: config.Persistence{
			DefaultStore:     sqliteplugin.PluginName,
			VisibilityStore:  sqliteplugin.PluginName,
			NumHistoryShards: 1,
			DataStores:       map[string]config.DataStore{sqliteplugin.PluginName: {SQL: sqlCfg}},
		},
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace:    false,
			FailoverVersionIncrement: 10,
			MasterClusterName:        clusterName,
			CurrentClusterName:       clusterName,
			ClusterInformation: map[string]cluster.ClusterInformation{
				clusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontend},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services:            svcCfg,
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
			History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
			Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
		}},
		PublicClient: config.PublicClient{HostPort: frontend},
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(serverCfg),
		temporal.ForServices(names),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(newLogger(cfg.Logger)),
	)
	if err != nil {
		return nil, fmt.Errorf("create Temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start Temporal server: %w", err)
	}
	return &Server{srv: srv, hostPort: frontend}, nil
}

// HostPort is the frontend address for SDK clients.
func (s *Server) HostPort() string { return s.hostPort }

// Stop stops the server.
func (s *Server) Stop() error { return s.srv.Stop() }

// freePorts returns n loopback ports; the first is want when want is not 0.
func freePorts(want, n int) ([]int, error) {
	ports := make([]int, 0, n)
	if want != 0 {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(want)))
		if err != nil {
			return nil, fmt.Errorf("temporal port %d is not free: %w", want, err)
		}
		_ = l.Close()
		ports = append(ports, want)
	}
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// slogLogger adapts slog to Temporal's logger, keeping warnings and errors only: the server's
// info logs are noise for Drover's users.
type slogLogger struct{ l *slog.Logger }

func newLogger(l *slog.Logger) tlog.Logger { return slogLogger{l: l.With("component", "temporal")} }

func (s slogLogger) attrs(tags []tag.Tag) []any {
	out := make([]any, 0, 2*len(tags))
	for _, t := range tags {
		out = append(out, t.Key(), t.Value())
	}
	return out
}

func (s slogLogger) Debug(string, ...tag.Tag) {}
func (s slogLogger) Info(string, ...tag.Tag)  {}
func (s slogLogger) Warn(msg string, tags ...tag.Tag) {
	s.l.Log(context.Background(), slog.LevelDebug, msg, s.attrs(tags)...)
}
func (s slogLogger) Error(msg string, tags ...tag.Tag) {
	s.l.Warn(msg, s.attrs(tags)...)
}
func (s slogLogger) DPanic(msg string, tags ...tag.Tag) { s.l.Error(msg, s.attrs(tags)...) }
func (s slogLogger) Panic(msg string, tags ...tag.Tag) {
	s.l.Error(msg, s.attrs(tags)...)
	panic(msg)
}
func (s slogLogger) Fatal(msg string, tags ...tag.Tag) {
	s.l.Error(msg, s.attrs(tags)...)
	os.Exit(1)
}
