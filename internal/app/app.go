// Package app assembles Drover from its parts: the store, the Temporal client and worker, the
// service and the HTTP API. `drover serve` and `drover dev` (and the end-to-end tests) use it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/drover-dev/drover/internal/access"
	accessstore "github.com/drover-dev/drover/internal/access/store"
	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/migrations/execution"
	"github.com/drover-dev/drover/internal/migrations/handler"
	"github.com/drover-dev/drover/internal/migrations/migrator"
	migrationsstore "github.com/drover-dev/drover/internal/migrations/store"
	"github.com/drover-dev/drover/internal/platform/oidc"
	"github.com/drover-dev/drover/internal/platform/telemetry"
	ptemporal "github.com/drover-dev/drover/internal/platform/temporal"
	"github.com/drover-dev/drover/pkg/api"
)

// Config holds the settings common to every mode.
type Config struct {
	// Addr is the HTTP listen address; ":0" or "127.0.0.1:0" picks a free port.
	Addr string
	// Namespace and TaskQueue locate the run workflows in Temporal.
	Namespace string
	TaskQueue string
	// DispatchTimeout and DryRunTimeout bound calls to migrators.
	DispatchTimeout time.Duration
	DryRunTimeout   time.Duration
	// CancelWait bounds how long a cancel request waits for the run's clean-up.
	CancelWait time.Duration
	// CallbackTimeout is how long a step whose dispatch the migrator accepted may go without any
	// callback before it is silent (zero: the workflow's default, 10 minutes).
	CallbackTimeout time.Duration
	// DispatchRetryFor is how long one try of a step keeps dispatching to a migrator that does
	// not answer before the step fails (zero: the workflow's default, an hour).
	DispatchRetryFor time.Duration
	// ContinueAfter is the history length at which runs continue as new (zero: the workflow's
	// default); tests lower it to see continuations.
	ContinueAfter int
	// RolloutPoll is how often rollouts look at their runs (zero: the workflow's default, 5s).
	RolloutPoll time.Duration
	// Tracing is where spans go; nil: as the OTEL_* environment variables say (off without an
	// OTLP endpoint).
	Tracing *telemetry.Tracing
	// NoWorker disables the Temporal worker in this process (API only).
	NoWorker bool
	// WorkflowCache is --workflow-cache, validated here; the command applies it (the Temporal
	// SDK has one such cache per process, which must be sized before anything creates a worker,
	// the embedded Temporal server's own included).
	WorkflowCache int
	// HistoryRetention is how long the store keeps run history (default 90 days).
	HistoryRetention time.Duration
	// Feed carries live events between replicas; nil: one in memory (a single process).
	Feed migrations.ChangeFeed
	// PublicURL is the console's address for the links in notifications; empty: the API's own
	// URL when it listens on loopback (drover dev), no links otherwise.
	PublicURL string
	// NotifyRetry is how webhook deliveries are retried (zero: migrations.DefaultDeliveryRetry);
	// tests shorten it.
	NotifyRetry migrations.DeliveryRetry
	// Routes, when not nil, adds routes to the API (e.g. the console).
	Routes func(*gin.Engine)
	Logger *slog.Logger
	// Trust is who may do what, and where Drover may send requests.
	Trust Trust
}

// Trust holds the trust model's settings. Its zero value trusts nobody: operators must
// authenticate (and none can), migrators must sign, and no migrator on loopback or a private
// network can be reached.
type Trust struct {
	// Store keeps credentials and the audit log; nil is an in-memory store (tests).
	Store access.Store
	// NoAuth lets every operator request through as an anonymous admin.
	NoAuth bool
	// AdminToken is the bootstrap admin's API token.
	AdminToken string
	// UnsignedUnowned lets unsigned requests act for migrations no credential owns.
	UnsignedUnowned bool
	// AuditRetention is how long the audit log keeps entries (default 90 days).
	AuditRetention time.Duration
	// Guard says which migrator addresses Drover may call.
	Guard migrator.Guard
	// AllowedHosts, when set, are the only Host header values answered.
	AllowedHosts []string
	// TrustedProxies may set X-Forwarded-For.
	TrustedProxies []string
	// OIDC, when set, is the console's single sign-on.
	OIDC *oidc.Config
}

// LoopbackTrust is `drover dev` without login, and the tests': everyone is an admin,
// unsigned migrators may announce what no credential owns, and loopback migrators are reached.
func LoopbackTrust() Trust {
	return Trust{NoAuth: true, UnsignedUnowned: true, Guard: migrator.Guard{AllowLoopback: true}}
}

// Defaults fills in the unset settings.
func (c *Config) Defaults() {
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	if c.TaskQueue == "" {
		c.TaskQueue = "drover"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Running is a started Drover: its API listens and its worker polls.
type Running struct {
	// URL is the API's base URL, e.g. http://127.0.0.1:8080.
	URL     string
	Service *migrations.Service
	Access  *access.Service
	Client  client.Client

	http       *http.Server
	worker     worker.Worker
	stopLive   func() // ends the live streams, so that shutdown need not wait for them
	log        *slog.Logger
	served     chan error
	closers    []func() error
	beforeStop []func() error
}

// Validate checks the settings a flag gives, naming the flag.
func (c Config) Validate() error {
	if d := c.CallbackTimeout; d != 0 && (d < migrations.MinStepTimeout || d > migrations.MaxStepTimeout) {
		return fmt.Errorf("--callback-timeout %s is outside %s to %s", d, migrations.MinStepTimeout, migrations.MaxStepTimeout)
	}
	if d := c.DispatchRetryFor; d != 0 && (d < time.Second || d > 7*24*time.Hour) {
		return fmt.Errorf("--dispatch-retry-for %s is outside 1s to 168h", d)
	}
	if n := c.WorkflowCache; n < 0 || n > 1_000_000 {
		return fmt.Errorf("--workflow-cache %d is outside 0 to 1000000 (0: the SDK's default)", n)
	}
	if d := c.HistoryRetention; d < 0 || (d > 0 && d < time.Hour) {
		return fmt.Errorf("--history-retention %s is shorter than 1h", d)
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--public-url %q is not an http(s) URL such as https://drover.example.com", c.PublicURL)
		}
	}
	return nil
}

// Start wires the service to store and to the Temporal client c, starts the worker (unless
// disabled) and serves the API. Stop shuts it all down, closers last, in reverse order.
func Start(cfg Config, store migrations.MigrationStore, c client.Client, closers ...func() error) (*Running, error) {
	cfg.Defaults()
	log := cfg.Logger
	t := cfg.Trust
	if err := cfg.Validate(); err != nil {
		return nil, errors.Join(err, closeAll(closers))
	}
	webhooks, _ := store.(migrations.WebhookStore) // before the decorators, which hide it
	if h, ok := store.(interface{ SetHistoryRetention(time.Duration) }); ok {
		h.SetHistoryRetention(cfg.HistoryRetention)
	}
	if t.Store == nil {
		mem, err := accessstore.OpenSQLite(":memory:")
		if err != nil {
			return nil, errors.Join(fmt.Errorf("open in-memory access store: %w", err), closeAll(closers))
		}
		t.Store = mem
		closers = append([]func() error{mem.Close}, closers...)
	}
	acc := access.NewService(t.Store, access.Config{RequireAuth: !t.NoAuth, AdminToken: t.AdminToken,
		UnsignedUnowned: t.UnsignedUnowned, AuditRetention: t.AuditRetention}, log)
	var sso handler.SSO
	if t.OIDC != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		login, err := oidc.New(ctx, *t.OIDC, acc, log)
		cancel()
		if err != nil {
			return nil, errors.Join(err, closeAll(closers))
		}
		sso = login
	}
	tracing := cfg.Tracing
	if tracing == nil {
		tr, err := telemetry.TracingFromEnv(context.Background())
		if err != nil {
			return nil, errors.Join(err, closeAll(closers))
		}
		tracing = tr
		closers = append(closers, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return tracing.Shutdown(ctx)
		})
	}
	metrics := telemetry.New()
	store = metrics.Store(store)
	feed := cfg.Feed
	if feed == nil {
		feed = migrationsstore.NewMemoryFeed(10_000)
	}
	store = migrations.Publishing(store, metrics.Feed(feed), nil, log)
	hub := migrations.NewHub(feed, store, log)
	liveCtx, stopLive := context.WithCancel(context.Background())
	liveDone := make(chan struct{})
	go func() { hub.Run(liveCtx); close(liveDone) }()
	closers = append(closers, func() error { stopLive(); <-liveDone; return nil }) // before the store's client closes
	// The worker and the engine use a client of their own on c's connection, which reports the
	// SDK's metrics.
	tc, err := client.NewClientFromExisting(c, client.Options{Namespace: cfg.Namespace, Logger: sdkLogger(log), MetricsHandler: metrics.Temporal(),
		ContextPropagators: []workflow.ContextPropagator{tracing.Propagator()}})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("temporal client with metrics: %w", err), closeAll(closers))
	}
	closers = append(closers, func() error { tc.Close(); return nil }) // closed before c
	c = tc
	mc := migrator.NewClientWith(migrator.Options{DispatchTimeout: cfg.DispatchTimeout, DryRunTimeout: cfg.DryRunTimeout, Guard: t.Guard, Signer: acc,
		WrapTransport: tracing.Transport})
	engine := ptemporal.NewEngine(c, ptemporal.EngineConfig{Namespace: cfg.Namespace, TaskQueue: cfg.TaskQueue, Workflow: execution.WorkflowName,
		CancelWait: cfg.CancelWait, CallbackTimeout: cfg.CallbackTimeout, DispatchRetryFor: cfg.DispatchRetryFor, ContinueAfter: cfg.ContinueAfter,
		RolloutWorkflow: execution.RolloutWorkflowName, RolloutPoll: cfg.RolloutPoll,
		NotifyWorkflow: execution.NotifyWorkflowName, NotifyRetry: cfg.NotifyRetry})
	// The API listens before anything runs, so that notifications can link to it in drover dev.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("listen on %s: %w", cfg.Addr, err), closeAll(closers))
	}
	closers = append(closers, func() error { _ = ln.Close(); return nil }) // closed already once served
	publicURL := cfg.PublicURL
	if a, ok := ln.Addr().(*net.TCPAddr); ok && publicURL == "" && a.IP.IsLoopback() {
		publicURL = "http://" + ln.Addr().String()
	}
	var notes *migrations.Notifications
	if webhooks != nil {
		notes = migrations.NewNotifications(migrations.NotificationsConfig{Webhooks: webhooks, Migrations: store, Queue: engine,
			Sender: mc, PublicURL: publicURL, Log: log})
		store = migrations.Notifying(store, notes)
	}
	svc := migrations.NewService(store, metrics.Engine(engine), mc, nil, log)
	if err := metrics.Register(telemetry.State(svc.Gauges)); err != nil {
		return nil, errors.Join(err, closeAll(closers))
	}

	r := &Running{Service: svc, Access: acc, Client: c, log: log, served: make(chan error, 1), closers: closers, stopLive: stopLive}
	if !cfg.NoWorker {
		r.worker = worker.New(c, cfg.TaskQueue, worker.Options{Interceptors: []interceptor.WorkerInterceptor{tracing.WorkerInterceptor()}})
		execution.Register(r.worker, execution.NewActivities(store, metrics.Notifier(mc)))
		execution.RegisterRollouts(r.worker, execution.NewRolloutActivities(rolloutPorts{svc: svc, store: store}))
		if notes != nil {
			execution.RegisterNotify(r.worker, execution.NewNotifyActivities(metrics.Deliverer(notes)))
		}
		if err := r.worker.Start(); err != nil {
			r.closeAll()
			return nil, fmt.Errorf("start Temporal worker on task queue %s: %w", cfg.TaskQueue, err)
		}
	}
	hc := handler.Config{Service: svc, Access: acc, Log: log, Routes: cfg.Routes,
		AllowedHosts: t.AllowedHosts, TrustedProxies: t.TrustedProxies, SSO: sso, Metrics: metrics.Handler(), Observe: metrics.ObserveHTTP, Tracing: tracing.Middleware, Live: hub, Streams: metrics.ObserveStream}
	if notes != nil {
		hc.Webhooks = notes
	}
	h, err := handler.New(hc)
	if err != nil {
		r.stopWorker()
		r.closeAll()
		return nil, err
	}
	r.URL = "http://" + ln.Addr().String()
	// A slow client cannot hold a connection and its buffer for ever.
	r.http = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}
	go func() {
		err := r.http.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		r.served <- err
	}()
	log.Info("drover is serving", "url", r.URL, "taskQueue", cfg.TaskQueue, "namespace", cfg.Namespace, "worker", !cfg.NoWorker,
		"operatorAuth", !t.NoAuth, "sso", t.OIDC != nil, "unsignedMigrators", t.UnsignedUnowned)
	return r, nil
}

// OnStop registers f to run first when Drover stops, while the API still serves (e.g. to let
// an in-process migrator deliver its last callbacks).
func (r *Running) OnStop(f func() error) { r.beforeStop = append(r.beforeStop, f) }

// Done reports the HTTP server's end (an error when it failed rather than stopped).
func (r *Running) Done() <-chan error { return r.served }

// Stop stops accepting requests, lets those in flight finish (until ctx ends), stops the
// worker and closes the dependencies.
func (r *Running) Stop(ctx context.Context) error {
	var errs []error
	for _, f := range r.beforeStop {
		errs = append(errs, f())
	}
	r.stopLive()
	err := errors.Join(append(errs, r.http.Shutdown(ctx))...)
	r.stopWorker()
	if cerr := r.closeAll(); err == nil {
		err = cerr
	}
	r.log.Info("drover stopped")
	return err
}

func (r *Running) stopWorker() {
	if r.worker != nil {
		r.worker.Stop()
	}
}

func (r *Running) closeAll() error {
	err := closeAll(r.closers)
	r.closers = nil
	return err
}

func closeAll(closers []func() error) error {
	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		if err := closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// DialTemporal connects to a Temporal frontend; the SDK's own logs go to log at warn level.
func DialTemporal(ctx context.Context, hostPort, namespace string, log *slog.Logger) (client.Client, error) {
	c, err := client.DialContext(ctx, client.Options{HostPort: hostPort, Namespace: namespace, Logger: sdkLogger(log)})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (namespace %s): %w", hostPort, namespace, err)
	}
	return c, nil
}

// sdkLogger is the Temporal SDK's logger: log, from warn up.
func sdkLogger(log *slog.Logger) sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(levelFilter{Handler: log.Handler(), min: slog.LevelWarn}).With("component", "temporal-sdk"))
}

// levelFilter drops records below min.
type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f levelFilter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelFilter{Handler: f.Handler.WithAttrs(attrs), min: f.min}
}

func (f levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{Handler: f.Handler.WithGroup(name), min: f.min}
}

// rolloutPorts are what a rollout acts through: the service's use cases, so that a rollout
// starts and cancels runs exactly as an operator does, and the store for its read model.
type rolloutPorts struct {
	svc   *migrations.Service
	store migrations.MigrationStore
}

func (p rolloutPorts) Start(ctx context.Context, migrationID, candidateID string, inputs map[string]string) (string, error) {
	return p.svc.Start(ctx, migrationID, candidateID, inputs)
}

func (p rolloutPorts) Cancel(ctx context.Context, migrationID, candidateID string) (bool, error) {
	return p.svc.Cancel(ctx, migrationID, candidateID)
}

func (p rolloutPorts) ListCandidates(ctx context.Context, migrationID string) ([]api.Candidate, error) {
	return p.svc.ListCandidates(ctx, migrationID) // cached: a rollout polls it every few seconds
}

func (p rolloutPorts) PutRollout(ctx context.Context, r api.Rollout) error {
	return p.store.PutRollout(ctx, r)
}
