package app

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	accessstore "github.com/drover-dev/drover/internal/access/store"
	"github.com/drover-dev/drover/internal/migrations/store"
)

// ServeConfig is `drover serve`: external Temporal and Redis, no local state.
type ServeConfig struct {
	Config
	TemporalAddress string
	RedisAddr       string
	RedisUsername   string
	RedisPassword   string
	RedisDB         int
	RedisPrefix     string
}

// StartServe connects to Redis and Temporal, then starts Drover.
func StartServe(ctx context.Context, cfg ServeConfig) (*Running, error) {
	cfg.Defaults()
	rc := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr, Username: cfg.RedisUsername, Password: cfg.RedisPassword, DB: cfg.RedisDB})
	if err := rc.Ping(ctx).Err(); err != nil {
		_ = rc.Close()
		return nil, fmt.Errorf("connect to Redis at %s: %w", cfg.RedisAddr, err)
	}
	prefix := cfg.RedisPrefix
	if prefix == "" {
		prefix = "drover"
	}
	st := store.NewRedisStore(rc, prefix)
	if cfg.Feed == nil {
		cfg.Feed = store.NewRedisFeed(rc, prefix, store.RedisFeedKeep)
	}
	if cfg.Trust.Store == nil {
		cfg.Trust.Store = accessstore.NewRedis(rc, prefix)
	}
	c, err := DialTemporal(ctx, cfg.TemporalAddress, cfg.Namespace, cfg.Logger)
	if err != nil {
		_ = rc.Close()
		return nil, err
	}
	return Start(cfg.Config, st, c, rc.Close, func() error { c.Close(); return nil })
}
