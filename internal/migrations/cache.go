package migrations

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/drover-dev/drover/pkg/api"
)

// readCache keeps the encoded answers of the heaviest reads (a migration's candidates, a
// migration, the list of migrations), keyed by the store's change counters. Consoles polling a
// 10,000-candidate migration then cost one counter read instead of decoding and re-encoding
// every candidate; concurrent misses for the same answer share one build.
type readCache struct {
	mu      sync.Mutex
	entries map[string]cacheEntry
	builds  singleflight.Group
}

// buildTimeout bounds one shared build of a cached answer.
const buildTimeout = 30 * time.Second

type cacheEntry struct {
	key  string
	body []byte
}

func newReadCache() *readCache { return &readCache{entries: map[string]cacheEntry{}} }

// get returns the cached body of name when it was built for key, or builds, caches and returns it.
// The build is shared by concurrent callers, so it does not end when the first caller goes away.
func (c *readCache) get(ctx context.Context, name, key string, build func(context.Context) ([]byte, error)) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), buildTimeout)
	defer cancel()
	c.mu.Lock()
	e, ok := c.entries[name]
	c.mu.Unlock()
	if ok && e.key == key {
		return e.body, nil
	}
	v, err, _ := c.builds.Do(name+"\x00"+key, func() (any, error) {
		body, err := build(ctx)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.entries[name] = cacheEntry{key: key, body: body}
		c.mu.Unlock()
		return body, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

// ListCandidatesJSON is ListCandidates encoded as the API answers it, served from the read
// cache while the migration has not changed.
func (s *Service) ListCandidatesJSON(ctx context.Context, migrationID string) ([]byte, error) {
	v, err := s.version(ctx, migrationID)
	if err != nil {
		return nil, err
	}
	return s.cache.get(ctx, "candidates/"+migrationID, strconv.FormatInt(v, 10), func(ctx context.Context) ([]byte, error) {
		cs, err := s.store.ListCandidates(ctx, migrationID)
		if err != nil {
			return nil, storeErr(fmt.Errorf("list candidates of %s: %w", migrationID, err))
		}
		if cs == nil {
			cs = []api.Candidate{}
		}
		return json.Marshal(cs)
	})
}

// GetMigrationJSON is GetMigration encoded as the API answers it, served from the read cache
// while the migration has not changed.
func (s *Service) GetMigrationJSON(ctx context.Context, id string) ([]byte, error) {
	v, err := s.version(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.cache.get(ctx, "migration/"+id, strconv.FormatInt(v, 10), func(ctx context.Context) ([]byte, error) {
		m, err := s.GetMigration(ctx, id)
		if err != nil {
			return nil, err
		}
		if m.Candidates == nil {
			m.Candidates = []api.Candidate{}
		}
		return json.Marshal(m)
	})
}

// ListMigrationsJSON is ListMigrations encoded as the API answers it, served from the read
// cache while no migration has changed.
func (s *Service) ListMigrationsJSON(ctx context.Context) ([]byte, error) {
	vs, err := s.store.MigrationVersions(ctx)
	if err != nil {
		return nil, storeErr(fmt.Errorf("list migrations: %w", err))
	}
	var key strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&key, "%s:%d,", v.ID, v.Version)
	}
	return s.cache.get(ctx, "migrations", key.String(), func(ctx context.Context) ([]byte, error) {
		ms, err := s.ListMigrations(ctx)
		if err != nil {
			return nil, err
		}
		if ms == nil {
			ms = []api.Migration{}
		}
		return json.Marshal(api.MigrationList{Migrations: ms})
	})
}

func (s *Service) version(ctx context.Context, migrationID string) (int64, error) {
	if err := ValidateMigrationID("migrationId", migrationID); err != nil {
		return 0, err
	}
	v, err := s.store.MigrationVersion(ctx, migrationID)
	if err != nil {
		return 0, s.notFoundOrUnavailable(fmt.Errorf("version of migration %s: %w", migrationID, err), migrationID, "")
	}
	return v, nil
}
