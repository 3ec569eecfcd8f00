// Command drover is the Drover server: `drover dev` runs everything in one process on embedded
// defaults; `drover serve` runs against an external Temporal cluster and Redis.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"github.com/gin-gonic/gin"

	"go.temporal.io/sdk/worker"

	"github.com/drover-dev/drover/console"
	"github.com/drover-dev/drover/internal/app"
	"github.com/drover-dev/drover/internal/migrations/migrator"
	"github.com/drover-dev/drover/internal/platform/oidc"
)

type common struct {
	LogLevel         string        `help:"Log level: debug, info, warn or error." default:"info" env:"DROVER_LOG_LEVEL" enum:"debug,info,warn,error"`
	LogFormat        string        `help:"Log format: text or json." default:"text" env:"DROVER_LOG_FORMAT" enum:"text,json"`
	Namespace        string        `help:"Temporal namespace." default:"default" env:"DROVER_TEMPORAL_NAMESPACE"`
	TaskQueue        string        `help:"Temporal task queue of the run workflows." default:"drover" env:"DROVER_TASK_QUEUE"`
	DispatchTimeout  time.Duration `help:"Timeout of one step dispatch to a migrator." default:"10s" env:"DROVER_DISPATCH_TIMEOUT"`
	DryRunTimeout    time.Duration `help:"Timeout of a migrator's dry run." default:"60s" env:"DROVER_DRY_RUN_TIMEOUT"`
	CancelWait       time.Duration `help:"How long a cancel request waits for the run's clean-up before answering 202." default:"15s" env:"DROVER_CANCEL_WAIT"`
	ShutdownTimeout  time.Duration `help:"How long to wait for requests in flight on SIGTERM." default:"20s" env:"DROVER_SHUTDOWN_TIMEOUT"`
	CallbackTimeout  time.Duration `help:"How long a step whose dispatch the migrator accepted may go without any callback before it needs an operator (attention silent); a step's own timeout takes precedence." default:"10m" env:"DROVER_CALLBACK_TIMEOUT"`
	DispatchRetryFor time.Duration `help:"How long one try of a step keeps dispatching to a migrator that is down before the step fails with the last error and waits for a retry." default:"1h" env:"DROVER_DISPATCH_RETRY_FOR"`
	HistoryRetention time.Duration `help:"How long the run history (every run and step event of every candidate) is kept." default:"2160h" env:"DROVER_HISTORY_RETENTION"`
	PublicURL        string        `help:"The console's public address (e.g. https://drover.example.com), for the links in notifications; drover dev on loopback uses its own." env:"DROVER_PUBLIC_URL"`
	WorkflowCache    int           `help:"How many open workflows the worker keeps in memory (0: the Temporal SDK's 10,000). Fewer use less memory; a workflow not cached replays its history when it next wakes." env:"DROVER_WORKFLOW_CACHE"`
	trustFlags
}

// trustFlags are who may do what, and where Drover may send requests.
type trustFlags struct {
	AdminToken     string        `help:"API token of the bootstrap admin (mint other tokens with POST /admin/tokens). Turns on operator authentication." env:"DROVER_ADMIN_TOKEN"`
	MigratorAllow  []string      `help:"Migrator addresses Drover may call although loopback, link-local or private: CIDRs (10.0.0.0/8), addresses, or host names (*.svc.cluster.local)." env:"DROVER_MIGRATOR_ALLOW" sep:","`
	AllowedHost    []string      `help:"Host header values Drover answers (stops DNS rebinding); default: any for serve, loopback names for dev." env:"DROVER_ALLOWED_HOSTS" sep:","`
	TrustedProxy   []string      `help:"Proxies (addresses or CIDRs) whose X-Forwarded-For names the client in the audit log." env:"DROVER_TRUSTED_PROXIES" sep:","`
	AuditRetention time.Duration `help:"How long the audit log keeps entries." default:"2160h" env:"DROVER_AUDIT_RETENTION"`
	oidcFlags
}

// oidcFlags configure the console's single sign-on.
type oidcFlags struct {
	OIDCIssuer       string        `name:"oidc-issuer" help:"OpenID Connect issuer URL; turns on single sign-on for the console (and operator authentication)." env:"DROVER_OIDC_ISSUER"`
	OIDCClientID     string        `name:"oidc-client-id" help:"OIDC client id." env:"DROVER_OIDC_CLIENT_ID"`
	OIDCClientSecret string        `name:"oidc-client-secret" help:"OIDC client secret." env:"DROVER_OIDC_CLIENT_SECRET"`
	OIDCRedirectURL  string        `name:"oidc-redirect-url" help:"Drover's callback as registered with the provider, e.g. https://drover.example.com/auth/callback." env:"DROVER_OIDC_REDIRECT_URL"`
	OIDCRoleClaim    string        `name:"oidc-role-claim" help:"ID token claim holding the person's groups." default:"groups" env:"DROVER_OIDC_ROLE_CLAIM"`
	OIDCRoles        []string      `name:"oidc-roles" help:"Claim values to roles, highest wins; * is everyone else: drover-admins=admin,platform=operator,*=viewer." env:"DROVER_OIDC_ROLES" sep:","`
	OIDCScopes       []string      `name:"oidc-scopes" help:"Scopes asked for besides openid." default:"profile,email,groups" env:"DROVER_OIDC_SCOPES" sep:","`
	SessionTTL       time.Duration `help:"How long a console session lasts." default:"12h" env:"DROVER_SESSION_TTL"`
}

// config returns the single sign-on settings, nil when it is not configured.
func (f oidcFlags) config() (*oidc.Config, error) {
	if f.OIDCIssuer == "" {
		return nil, nil
	}
	roles, err := oidc.ParseRoles(f.OIDCRoles)
	if err != nil {
		return nil, err
	}
	return &oidc.Config{Issuer: f.OIDCIssuer, ClientID: f.OIDCClientID, ClientSecret: f.OIDCClientSecret, RedirectURL: f.OIDCRedirectURL,
		Scopes: f.OIDCScopes, RoleClaim: f.OIDCRoleClaim, Roles: roles, SessionTTL: f.SessionTTL}, nil
}

// trust turns the flags into the app's settings.
func (f trustFlags) trust() (app.Trust, error) {
	g, err := migrator.ParseAllow(f.MigratorAllow)
	if err != nil {
		return app.Trust{}, err
	}
	sso, err := f.config()
	if err != nil {
		return app.Trust{}, err
	}
	return app.Trust{AdminToken: f.AdminToken, OIDC: sso, Guard: g, AllowedHosts: f.AllowedHost, TrustedProxies: f.TrustedProxy, AuditRetention: f.AuditRetention}, nil
}

type serveCmd struct {
	common
	Addr            string `help:"HTTP listen address." default:":8080" env:"DROVER_ADDR"`
	TemporalAddress string `help:"Temporal frontend host:port." default:"localhost:7233" env:"DROVER_TEMPORAL_ADDRESS"`
	RedisAddr       string `help:"Redis host:port." default:"localhost:6379" env:"DROVER_REDIS_ADDR"`
	RedisUsername   string `help:"Redis ACL user name." env:"DROVER_REDIS_USERNAME"`
	RedisPassword   string `help:"Redis password." env:"DROVER_REDIS_PASSWORD"`
	RedisDB         int    `help:"Redis database number." default:"0" env:"DROVER_REDIS_DB"`
	RedisPrefix     string `help:"Prefix of every Redis key Drover writes." default:"drover" env:"DROVER_REDIS_PREFIX"`
	NoWorker        bool   `help:"Serve the API only; run no Temporal worker in this process." env:"DROVER_NO_WORKER"`
	InsecureNoAuth  bool   `help:"Run without operator authentication: anyone who reaches Drover is an admin. For trying Drover out only." env:"DROVER_INSECURE_NO_AUTH"`
}

type cli struct {
	Serve    serveCmd `cmd:"" help:"Run against an external Temporal cluster and Redis (production)."`
	embedded `embed:""`
}

func main() {
	var c cli
	kctx := kong.Parse(&c,
		kong.Name("drover"),
		kong.Description("Drover: a control plane for large-scale migrations."),
		kong.UsageOnError(),
	)
	if err := kctx.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "drover:", err)
		os.Exit(1)
	}
}

func (cmd *serveCmd) Run() error {
	log := cmd.logger()
	if err := cmd.config(cmd.Addr, log).Validate(); err != nil {
		return err
	}
	cmd.sizeWorkflowCache()
	trust, err := cmd.trust()
	if err != nil {
		return err
	}
	switch {
	case cmd.AdminToken == "" && trust.OIDC == nil && !cmd.InsecureNoAuth:
		return errors.New("drover serve needs operator authentication: set --admin-token (DROVER_ADMIN_TOKEN) or --oidc-issuer, or pass --insecure-no-auth to let anyone who reaches it act as an admin")
	case cmd.AdminToken == "" && trust.OIDC == nil:
		trust.NoAuth = true
		log.Warn("operator authentication is OFF (--insecure-no-auth): anyone who reaches Drover is an admin")
	}
	cfg := app.ServeConfig{
		Config:          cmd.config(cmd.Addr, log),
		TemporalAddress: cmd.TemporalAddress,
		RedisAddr:       cmd.RedisAddr,
		RedisUsername:   cmd.RedisUsername,
		RedisPassword:   cmd.RedisPassword,
		RedisDB:         cmd.RedisDB,
		RedisPrefix:     cmd.RedisPrefix,
	}
	cfg.NoWorker = cmd.NoWorker
	cfg.Trust = trust
	return run(log, cmd.ShutdownTimeout, func(ctx context.Context) (*app.Running, error) { return app.StartServe(ctx, cfg) })
}

// run starts Drover and stops it gracefully on SIGINT or SIGTERM.
func run(log *slog.Logger, shutdown time.Duration, start func(context.Context) (*app.Running, error)) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	r, err := start(startCtx)
	cancel()
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-r.Done():
		if err != nil {
			log.Error("HTTP server failed", "error", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdown)
	defer cancel()
	return r.Stop(sctx)
}

func (c common) config(addr string, log *slog.Logger) app.Config {
	return app.Config{
		Addr:             addr,
		Namespace:        c.Namespace,
		TaskQueue:        c.TaskQueue,
		DispatchTimeout:  c.DispatchTimeout,
		DryRunTimeout:    c.DryRunTimeout,
		CancelWait:       c.CancelWait,
		CallbackTimeout:  c.CallbackTimeout,
		DispatchRetryFor: c.DispatchRetryFor,
		WorkflowCache:    c.WorkflowCache,
		HistoryRetention: c.HistoryRetention,
		PublicURL:        c.PublicURL,
		Routes:           console.Mount,
		Logger:           log,
	}
}

// sizeWorkflowCache applies --workflow-cache: the Temporal SDK keeps one cache of open workflows
// per process, sized before the first worker exists.
func (c common) sizeWorkflowCache() {
	if c.WorkflowCache > 0 {
		worker.SetStickyWorkflowCacheSize(c.WorkflowCache)
	}
}

func (c common) logger() *slog.Logger {
	gin.SetMode(gin.ReleaseMode)
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(c.LogLevel)))
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
