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
type readCache[T any] struct {
	mu      sync.Mutex
	entries map[string]cacheEntry[T]
	builds  singleflight.Group
}

// buildTimeout bounds one shared build of a cached answer.
const buildTimeout = 30 * time.Second

type cacheEntry[T any] struct {
	key  string
	body T
}

func newReadCache[T any]() *readCache[T] { return &readCache[T]{entries: map[string]cacheEntry[T]{}} }

// get returns the cached body of name when it was built for key, or builds, caches and returns it.
// The build is shared by concurrent callers, so it does not end when the first caller goes away.
func (c *readCache[T]) get(ctx context.Context, name, key string, build func(context.Context) (T, error)) (T, error) {
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
		c.entries[name] = cacheEntry[T]{key: key, body: body}
		c.mu.Unlock()
		return body, nil
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return v.(T), nil
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
func (s *Service) GetMigrationJSON(ctx context.Context, id string, withCandidates bool) ([]byte, error) {
	v, err := s.version(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.cache.get(ctx, "migration/"+id+lean(withCandidates), strconv.FormatInt(v, 10), func(ctx context.Context) ([]byte, error) {
		m, err := s.migration(ctx, id)
		if err != nil {
			return nil, err
		}
		// Without candidates: an empty list, counts (attention included) say how many.
		if m.Candidates, m.Counts.Attention, err = s.candidatesOrCount(ctx, id, withCandidates); err != nil {
			return nil, err
		}
		return json.Marshal(m)
	})
}

// candidatesOrCount returns a migration's candidates and how many need attention, or with
// withCandidates false no candidates and the count from the store alone: the answers without
// candidates then never read (nor keep in the list cache) every candidate.
func (s *Service) candidatesOrCount(ctx context.Context, id string, withCandidates bool) ([]api.Candidate, int, error) {
	if !withCandidates {
		n, err := s.store.CountAttention(ctx, id)
		if err != nil {
			return nil, 0, s.notFoundOrUnavailable(fmt.Errorf("migration %s: %w", id, err), id, "")
		}
		return []api.Candidate{}, n, nil
	}
	cs, err := s.candidateList(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	if cs == nil {
		cs = []api.Candidate{}
	}
	return cs, countAttention(cs), nil
}

// lean names the cache entry of an answer without candidates.
func lean(withCandidates bool) string {
	if withCandidates {
		return ""
	}
	return "/lean"
}

// ListMigrationsJSON is ListMigrations encoded as the API answers it (without each migration's
// candidates unless withCandidates), served from the read cache while no migration has changed.
func (s *Service) ListMigrationsJSON(ctx context.Context, withCandidates bool) ([]byte, error) {
	vs, err := s.store.MigrationVersions(ctx)
	if err != nil {
		return nil, storeErr(fmt.Errorf("list migrations: %w", err))
	}
	var key strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&key, "%s:%d,", v.ID, v.Version)
	}
	return s.cache.get(ctx, "migrations"+lean(withCandidates), key.String(), func(ctx context.Context) ([]byte, error) {
		ms, err := s.store.ListMigrations(ctx, false)
		if err != nil {
			return nil, storeErr(fmt.Errorf("list migrations: %w", err))
		}
		for i := range ms {
			if ms[i].Candidates, ms[i].Counts.Attention, err = s.candidatesOrCount(ctx, ms[i].Id, withCandidates); err != nil {
				return nil, err
			}
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

// CandidateFilter selects a page of a migration's candidates; the zero value selects them all.
type CandidateFilter struct {
	Status    api.CandidateStatus
	Attention *bool // nil: either; true: only candidates that NeedsAttention; false: only the others
	Query     string
	Offset    int
	Limit     int // 0: no limit
}

// Empty reports whether the filter selects every candidate.
func (f CandidateFilter) Empty() bool { return f == CandidateFilter{} }

// match reports whether c passes the filter's conditions (not its page); q is the lowered query.
func (f CandidateFilter) match(c api.Candidate, q string) bool {
	switch {
	case f.Status != "" && c.Status != f.Status:
		return false
	case f.Attention != nil && NeedsAttention(c) != *f.Attention:
		return false
	case q != "" && !matches(c, q):
		return false
	}
	return true
}

// FindCandidates returns the page of candidates that match f and how many match in all. It
// filters the migration's cached candidate list, so a console paging through 10,000 candidates
// costs no store read while the migration does not change.
func (s *Service) FindCandidates(ctx context.Context, migrationID string, f CandidateFilter) ([]api.Candidate, int, error) {
	if f.Offset < 0 || f.Limit < 0 {
		return nil, 0, Invalid("offset", "offset and limit must not be negative")
	}
	if f.Status != "" && !f.Status.Valid() {
		return nil, 0, Invalid("status", "%q is not a candidate status; expected one of not_started, running, completed", f.Status)
	}
	all, err := s.candidateList(ctx, migrationID)
	if err != nil {
		return nil, 0, err
	}
	q := strings.ToLower(strings.TrimSpace(f.Query))
	matched := make([]api.Candidate, 0, min(len(all), max(f.Limit, 16)))
	total := 0
	for _, c := range all {
		if !f.match(c, q) {
			continue
		}
		total++
		if total <= f.Offset || (f.Limit > 0 && len(matched) >= f.Limit) {
			continue
		}
		matched = append(matched, c)
	}
	return matched, total, nil
}

// candidateList returns a migration's candidates from the read cache, reading the store only
// when the migration has changed since. Callers must not modify the slice.
func (s *Service) candidateList(ctx context.Context, migrationID string) ([]api.Candidate, error) {
	v, err := s.version(ctx, migrationID)
	if err != nil {
		return nil, err
	}
	return s.lists.get(ctx, "candidates/"+migrationID, strconv.FormatInt(v, 10), func(ctx context.Context) ([]api.Candidate, error) {
		cs, err := s.store.ListCandidates(ctx, migrationID)
		if err != nil {
			return nil, storeErr(fmt.Errorf("list candidates of %s: %w", migrationID, err))
		}
		return cs, nil
	})
}

func matches(c api.Candidate, q string) bool {
	if strings.Contains(strings.ToLower(c.Id), q) || strings.Contains(strings.ToLower(c.Kind), q) {
		return true
	}
	for _, v := range c.Metadata {
		if strings.Contains(strings.ToLower(v), q) {
			return true
		}
	}
	return false
}
