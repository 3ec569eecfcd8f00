//go:build !serveonly

package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/drover-dev/drover/internal/app"
	"github.com/drover-dev/drover/internal/app/dev"
	"github.com/drover-dev/drover/internal/bench"
)

// embedded holds the commands that link the Temporal server; a build with -tags serveonly
// leaves them out, for a smaller production binary that uses less memory.
type embedded struct {
	Dev   devCmd   `cmd:"" help:"Run everything in one process: embedded Temporal and store under --data-dir."`
	Bench benchCmd `cmd:"" help:"Measure run throughput against raw Temporal, read latency at scale and memory; prints a table."`
}

type devCmd struct {
	common
	Addr         string `help:"HTTP listen address." default:"127.0.0.1:8080" env:"DROVER_ADDR"`
	DataDir      string `help:"Directory for the embedded Temporal server's and the store's databases." default:".drover" env:"DROVER_DATA_DIR" type:"path"`
	TemporalPort int    `help:"Port of the embedded Temporal frontend (0 picks a free one)." default:"7233" env:"DROVER_TEMPORAL_PORT"`
	NoDemo       bool   `help:"Do not run the demo migrator (a workspace of demo git repositories under --data-dir/demo)." env:"DROVER_NO_DEMO"`
}

type benchCmd struct {
	Candidates           int           `help:"Runs started at once in the throughput phase." default:"1000"`
	Steps                int           `help:"Steps per run." default:"3"`
	StartConcurrency     int           `help:"Start requests in flight at once." default:"64"`
	Redis                string        `help:"Redis host:port; when set the Redis store is measured too, and drover serve's memory." env:"DROVER_BENCH_REDIS"`
	ReadCandidates       int           `help:"Candidates of the big migration in the read phase." default:"10000"`
	ReadRunning          int           `help:"Of those, candidates with a run and step history." default:"1000"`
	ReadMigrations       int           `help:"Migrations in all in the read phase." default:"100"`
	ReadBig              int           `help:"Of those, how many have --read-candidates candidates (the first also has the runs)." default:"1"`
	ReadClients          int           `help:"Concurrent clients per read endpoint." default:"8"`
	ReadDuration         time.Duration `help:"Load time per read endpoint." default:"10s"`
	RolloutMaxConcurrent int           `help:"The rollout phase's maxConcurrent (the throughput phase's runs, started by one rollout)." default:"100"`
	RolloutPoll          time.Duration `help:"How often the rollout phase's rollout looks at its runs (0: the default, 5s)."`
	SkipRollout          bool          `help:"Skip the rollout phase."`
	SkipThroughput       bool          `help:"Skip the throughput phases (and the rollout phase)."`
	SkipReads            bool          `help:"Skip the read and memory phases."`
	SkipCallbacks        bool          `help:"Skip the callbacks phase (list candidates of the throughput phase's number of open runs while callbacks arrive)."`
	CallbackRate         int           `help:"Callbacks a second in the callbacks phase." default:"100"`
	SkipLimits           bool          `help:"Skip the request-limits phase (large and hostile requests, each to a fresh drover dev)."`
	SkipBaseline         bool          `help:"Run Drover's throughput phase without the raw-Temporal baseline (e.g. to profile Drover alone)."`
	ServeBinary          string        `help:"The drover binary whose serve command the memory phase measures (default: this one; a -tags serveonly build is the production binary)." type:"path"`
	JSON                 bool          `help:"Print machine-readable results." name:"json"`
	CPUProfile           string        `name:"cpuprofile" help:"Write a CPU profile of the whole run (Drover, Temporal and the load) to this file, for go tool pprof." type:"path"`
	Verbose              bool          `help:"Log progress to stderr." short:"v"`
}

func (cmd *devCmd) Run() error {
	log := cmd.logger()
	trust, err := cmd.trust()
	if err != nil {
		return err
	}
	trust, err = devTrust(trust, cmd.Addr)
	if err != nil {
		return err
	}
	cfg := dev.Config{Config: cmd.config(cmd.Addr, log), DataDir: cmd.DataDir, TemporalPort: cmd.TemporalPort, Demo: !cmd.NoDemo}
	if err := cfg.Validate(); err != nil {
		return err // before the embedded Temporal starts
	}
	cmd.sizeWorkflowCache() // before the embedded Temporal's own workers create the cache
	cfg.Trust = trust
	return run(log, cmd.ShutdownTimeout, func(ctx context.Context) (*app.Running, error) { return dev.Start(ctx, cfg) })
}

func (cmd *benchCmd) Run() error {
	gin.SetMode(gin.ReleaseMode)
	level := slog.LevelWarn
	if cmd.Verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	self := cmd.ServeBinary
	if self == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the drover binary: %w", err)
		}
		self = exe
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cmd.CPUProfile != "" {
		f, err := os.Create(cmd.CPUProfile)
		if err != nil {
			return fmt.Errorf("create CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("start CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	res, err := bench.Run(ctx, bench.Config{
		Candidates: cmd.Candidates, Steps: cmd.Steps, StartConcurrency: cmd.StartConcurrency, RedisAddr: cmd.Redis,
		ReadCandidates: cmd.ReadCandidates, ReadRunning: cmd.ReadRunning, ReadMigrations: cmd.ReadMigrations, ReadBig: cmd.ReadBig,
		ReadClients: cmd.ReadClients, ReadDuration: cmd.ReadDuration, SkipThroughput: cmd.SkipThroughput, SkipBaseline: cmd.SkipBaseline,
		SkipReads: cmd.SkipReads, SkipLimits: cmd.SkipLimits, SkipCallbacks: cmd.SkipCallbacks, CallbackRate: cmd.CallbackRate, ServeBinary: self, Logger: log,
		RolloutConcurrent: cmd.RolloutMaxConcurrent, RolloutPoll: cmd.RolloutPoll, SkipRollout: cmd.SkipRollout,
	})
	if err != nil {
		return err
	}
	if cmd.JSON {
		return res.JSON(os.Stdout)
	}
	res.Print(os.Stdout)
	return nil
}

// devTrust is `drover dev`'s trust: migrators on loopback are reached; without an admin token
// or single sign-on there is no login and unsigned migrators may announce, which is safe only on loopback; and
// only loopback host names are answered unless --allowed-host says otherwise.
func devTrust(t app.Trust, addr string) (app.Trust, error) {
	t.Guard.AllowLoopback = true
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return t, fmt.Errorf("--addr %q: %w", addr, err)
	}
	if t.AdminToken == "" && t.OIDC == nil {
		if ip, err := netip.ParseAddr(host); host != "localhost" && (err != nil || !ip.IsLoopback()) {
			return t, fmt.Errorf("drover dev without --admin-token or --oidc-issuer has no login, so it listens on loopback only (127.0.0.1, ::1 or localhost), not %q: set one to listen there", addr)
		}
		t.NoAuth, t.UnsignedUnowned = true, true
	}
	if len(t.AllowedHosts) == 0 {
		t.AllowedHosts = []string{"localhost", "127.0.0.1", "::1"}
		if host != "" && !slices.Contains(t.AllowedHosts, host) {
			t.AllowedHosts = append(t.AllowedHosts, host)
		}
	}
	return t, nil
}
