package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/drover-dev/drover/internal/access"
)

// auditBatch is how many audit ids one QueryAudit round trip reads.
const auditBatch = 1000

// RedisStore is the production access.Store. Key layout, with P standing for prefix + ":access:":
//
//	Ptokens          HASH    token id -> token JSON
//	Ptokens:hash     HASH    token hash -> token id (TokenByHash in one lookup)
//	Pmigrators       HASH    migrator id -> migrator JSON
//	Powners          HASH    migration id -> owning migrator id
//	Pseen:<key>      STRING  "1", expiring after the FirstSeen ttl
//	Psession:<id>    STRING  session JSON, expiring at the session's ExpiresAt
//	Paudit:ids       ZSET    audit ids, all scored 0, so ordered by id (bytewise)
//	Paudit:at        ZSET    audit ids scored by At (Unix µs, exact in a float64), for retention
//	Paudit:entries   HASH    audit id -> entry JSON
//
// Writes that touch more than one key run in Lua scripts, so every method but QueryAudit (see
// there) is atomic; lists read a single hash and sort in Go. The scripts' keys do not share a
// hash tag, so the store needs a standalone Redis, not a Cluster. It does not own the client.
type RedisStore struct {
	rc      *redis.Client
	prefix  string // ends in ":access:"
	scripts redisScripts
	// auditCap and auditScan are maxAuditEntries and maxAuditScan; tests lower them.
	auditCap, auditScan int
}

var _ access.Store = (*RedisStore)(nil)

// NewRedis returns a store keeping its keys under prefix + ":access:" (just "access:" for
// an empty prefix).
func NewRedis(rc *redis.Client, prefix string) *RedisStore {
	p := "access:"
	if prefix = strings.TrimSuffix(prefix, ":"); prefix != "" {
		p = prefix + ":" + p
	}
	return &RedisStore{rc: rc, prefix: p, scripts: newRedisScripts(), auditCap: maxAuditEntries, auditScan: maxAuditScan}
}

func (s *RedisStore) key(parts ...string) string { return s.prefix + strings.Join(parts, ":") }

// redisScripts are the Lua scripts of the writes that touch more than one key.
type redisScripts struct {
	createToken, tokenByHash, deleteToken, claim, appendAudit *redis.Script
}

func newRedisScripts() redisScripts {
	return redisScripts{
		// KEYS: tokens, tokens:hash. ARGV: id, hash, JSON. Returns 0, or 1/2 for a taken id/hash.
		createToken: redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 2 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
return 0`),
		// KEYS: tokens, tokens:hash. ARGV: hash. Returns the token JSON or nil.
		tokenByHash: redis.NewScript(`
local id = redis.call('HGET', KEYS[2], ARGV[1])
if not id then return false end
return redis.call('HGET', KEYS[1], id)`),
		// KEYS: tokens, tokens:hash. ARGV: id. Returns 1 when the token was there.
		deleteToken: redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
local h = cjson.decode(v)['hash']
if redis.call('HGET', KEYS[2], h) == ARGV[1] then redis.call('HDEL', KEYS[2], h) end
return 1`),
		// KEYS: owners. ARGV: migration id, migrator id. Returns the owner after the claim.
		claim: redis.NewScript(`
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
return redis.call('HGET', KEYS[1], ARGV[1])`),
		// KEYS: audit:ids, audit:at, audit:entries. ARGV: id, JSON, At (µs), keepSince (µs, or
		// "" to keep everything), cap. Drops the entries before keepSince, then the oldest ones
		// over the cap, 1000 at a time (unpack has a stack limit).
		appendAudit: redis.NewScript(`
local function drop(ids)
  redis.call('ZREM', KEYS[1], unpack(ids))
  redis.call('ZREM', KEYS[2], unpack(ids))
  redis.call('HDEL', KEYS[3], unpack(ids))
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if ARGV[4] ~= '' then
  while true do
    local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[4], 'LIMIT', 0, 1000)
    if #old == 0 then break end
    drop(old)
  end
end
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[5])
while over > 0 do
  local old = redis.call('ZRANGE', KEYS[1], 0, math.min(over, 1000) - 1)
  drop(old)
  over = over - #old
end
return 0`),
	}
}

// Ping reports whether Redis answers.
func (s *RedisStore) Ping(ctx context.Context) error {
	if err := s.rc.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping redis: %w", err)
	}
	return nil
}

// CreateToken stores a new token; an id or hash already stored is an error.
func (s *RedisStore) CreateToken(ctx context.Context, t access.Token) error {
	if t.ID == "" || t.Hash == "" {
		return fmt.Errorf("create token %q: empty id or hash", t.ID)
	}
	v, err := json.Marshal(toTokenRecord(t))
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	n, err := s.scripts.createToken.Run(ctx, s.rc, []string{s.key("tokens"), s.key("tokens", "hash")}, t.ID, t.Hash, v).Int()
	switch {
	case err != nil:
		return fmt.Errorf("create token %s: %w", t.ID, err)
	case n == 1:
		return fmt.Errorf("create token %s: a token with this id exists", t.ID)
	case n == 2:
		return fmt.Errorf("create token %s: a token with this hash exists", t.ID)
	}
	return nil
}

// TokenByHash finds a token by its hash.
func (s *RedisStore) TokenByHash(ctx context.Context, hash string) (access.Token, error) {
	v, err := s.scripts.tokenByHash.Run(ctx, s.rc, []string{s.key("tokens"), s.key("tokens", "hash")}, hash).Text()
	if errors.Is(err, redis.Nil) {
		return access.Token{}, fmt.Errorf("token by hash: %w", access.ErrNotFound)
	}
	if err != nil {
		return access.Token{}, fmt.Errorf("token by hash: %w", err)
	}
	var r tokenRecord
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return access.Token{}, fmt.Errorf("token by hash: decode: %w", err)
	}
	return r.token(), nil
}

// ListTokens returns every token, ordered by CreatedAt then ID.
func (s *RedisStore) ListTokens(ctx context.Context) ([]access.Token, error) {
	vals, err := s.rc.HVals(ctx, s.key("tokens")).Result()
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	var out []access.Token
	for _, v := range vals {
		var r tokenRecord
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			return nil, fmt.Errorf("list tokens: decode: %w", err)
		}
		out = append(out, r.token())
	}
	slices.SortFunc(out, func(a, b access.Token) int { return byCreated(a.CreatedAt, a.ID, b.CreatedAt, b.ID) })
	return out, nil
}

// byCreated orders records by creation time, then id.
func byCreated(at time.Time, id string, bt time.Time, bid string) int {
	if c := at.Compare(bt); c != 0 {
		return c
	}
	return strings.Compare(id, bid)
}

// DeleteToken removes a token and its hash index entry.
func (s *RedisStore) DeleteToken(ctx context.Context, id string) error {
	n, err := s.scripts.deleteToken.Run(ctx, s.rc, []string{s.key("tokens"), s.key("tokens", "hash")}, id).Int()
	if err != nil {
		return fmt.Errorf("delete token %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("delete token %s: %w", id, access.ErrNotFound)
	}
	return nil
}

// PutMigrator creates or replaces a migrator credential.
func (s *RedisStore) PutMigrator(ctx context.Context, m access.Migrator) error {
	if m.ID == "" {
		return errors.New("put migrator: empty id")
	}
	v, err := json.Marshal(toMigratorRecord(m))
	if err != nil {
		return fmt.Errorf("put migrator %s: %w", m.ID, err)
	}
	if err := s.rc.HSet(ctx, s.key("migrators"), m.ID, v).Err(); err != nil {
		return fmt.Errorf("put migrator %s: %w", m.ID, err)
	}
	return nil
}

// GetMigrator returns a migrator credential.
func (s *RedisStore) GetMigrator(ctx context.Context, id string) (access.Migrator, error) {
	v, err := s.rc.HGet(ctx, s.key("migrators"), id).Result()
	if errors.Is(err, redis.Nil) {
		return access.Migrator{}, fmt.Errorf("get migrator %s: %w", id, access.ErrNotFound)
	}
	if err != nil {
		return access.Migrator{}, fmt.Errorf("get migrator %s: %w", id, err)
	}
	var r migratorRecord
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return access.Migrator{}, fmt.Errorf("get migrator %s: decode: %w", id, err)
	}
	return r.migrator(), nil
}

// ListMigrators returns every credential, ordered by CreatedAt then ID.
func (s *RedisStore) ListMigrators(ctx context.Context) ([]access.Migrator, error) {
	vals, err := s.rc.HVals(ctx, s.key("migrators")).Result()
	if err != nil {
		return nil, fmt.Errorf("list migrators: %w", err)
	}
	var out []access.Migrator
	for _, v := range vals {
		var r migratorRecord
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			return nil, fmt.Errorf("list migrators: decode: %w", err)
		}
		out = append(out, r.migrator())
	}
	slices.SortFunc(out, func(a, b access.Migrator) int { return byCreated(a.CreatedAt, a.ID, b.CreatedAt, b.ID) })
	return out, nil
}

// ClaimMigration makes migratorID the owner of migrationID unless it has one.
func (s *RedisStore) ClaimMigration(ctx context.Context, migrationID, migratorID string) (string, error) {
	if migrationID == "" || migratorID == "" {
		return "", fmt.Errorf("claim migration %q for %q: empty id", migrationID, migratorID)
	}
	owner, err := s.scripts.claim.Run(ctx, s.rc, []string{s.key("owners")}, migrationID, migratorID).Text()
	if err != nil {
		return "", fmt.Errorf("claim migration %s for %s: %w", migrationID, migratorID, err)
	}
	return owner, nil
}

// MigrationOwner returns the owner's id, "" when the migration has none.
func (s *RedisStore) MigrationOwner(ctx context.Context, migrationID string) (string, error) {
	owner, err := s.rc.HGet(ctx, s.key("owners"), migrationID).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("owner of migration %s: %w", migrationID, err)
	}
	return owner, nil
}

// FirstSeen records key for ttl (rounded up to a millisecond) with SET NX PX; a ttl that is
// not positive is an error.
func (s *RedisStore) FirstSeen(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := checkTTL(key, ttl); err != nil {
		return false, err
	}
	ms := (ttl + time.Millisecond - 1) / time.Millisecond
	err := s.rc.Do(ctx, "SET", s.key("seen", key), "1", "PX", int64(ms), "NX").Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("first seen %q: %w", key, err)
	}
	return true, nil
}

// PutSession creates or replaces a session, expiring in Redis at its ExpiresAt; a session
// already expired replaces the stored one by nothing.
func (s *RedisStore) PutSession(ctx context.Context, sess access.Session) error {
	if sess.ID == "" {
		return errors.New("put session: empty id")
	}
	k := s.key("session", sess.ID)
	if !time.Now().Before(sess.ExpiresAt) {
		if err := s.rc.Del(ctx, k).Err(); err != nil {
			return fmt.Errorf("put session %s: %w", sess.ID, err)
		}
		return nil
	}
	v, err := json.Marshal(toSessionRecord(sess))
	if err != nil {
		return fmt.Errorf("put session %s: %w", sess.ID, err)
	}
	// PXAT rounded up, so Redis never drops a session before its time; GetSession checks it.
	at := (usec(sess.ExpiresAt) + 999) / 1000
	if err := s.rc.Do(ctx, "SET", k, v, "PXAT", at).Err(); err != nil {
		return fmt.Errorf("put session %s: %w", sess.ID, err)
	}
	return nil
}

// GetSession returns a session that has not expired.
func (s *RedisStore) GetSession(ctx context.Context, id string) (access.Session, error) {
	v, err := s.rc.Get(ctx, s.key("session", id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return access.Session{}, fmt.Errorf("get session: %w", access.ErrNotFound)
	}
	if err != nil {
		return access.Session{}, fmt.Errorf("get session: %w", err)
	}
	var r sessionRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return access.Session{}, fmt.Errorf("get session: decode: %w", err)
	}
	sess := r.session()
	if !time.Now().Before(sess.ExpiresAt) {
		return access.Session{}, fmt.Errorf("get session: expired: %w", access.ErrNotFound)
	}
	return sess, nil
}

// DeleteSession removes a session.
func (s *RedisStore) DeleteSession(ctx context.Context, id string) error {
	if err := s.rc.Del(ctx, s.key("session", id)).Err(); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// AppendAudit adds an entry (replacing one with the same ID, so a retried append does not
// duplicate it), then drops every entry with At before keepSince (none for a zero keepSince)
// and the oldest entries beyond 1,000,000, all in one script.
func (s *RedisStore) AppendAudit(ctx context.Context, e access.AuditEntry, keepSince time.Time) error {
	if e.ID == "" {
		return errors.New("append audit entry: empty id")
	}
	v, err := json.Marshal(toAuditRecord(e))
	if err != nil {
		return fmt.Errorf("append audit entry %s: %w", e.ID, err)
	}
	keep := ""
	if !keepSince.IsZero() {
		keep = strconv.FormatInt(usec(keepSince), 10)
	}
	keys := []string{s.key("audit", "ids"), s.key("audit", "at"), s.key("audit", "entries")}
	if err := s.scripts.appendAudit.Run(ctx, s.rc, keys, e.ID, v, usec(e.At), keep, s.auditCap).Err(); err != nil {
		return fmt.Errorf("append audit entry %s: %w", e.ID, err)
	}
	return nil
}

// QueryAudit returns the entries f selects, newest first, at most f.Limit (1000 when it is
// not in 1..1000). It reads ids newest-first in batches and stops after 200,000 entries, so a
// filter that matches only entries older than those returns fewer than exist: page further
// with Before set to the oldest id returned. Batches are separate reads, so entries appended
// or dropped during the scan may or may not be seen.
func (s *RedisStore) QueryAudit(ctx context.Context, f access.AuditFilter) ([]access.AuditEntry, error) {
	limit := auditLimit(f)
	if !f.Since.IsZero() {
		f.Since = fromUsec(usec(f.Since)) // to the microsecond, like the stored At
	}
	upper := "+"
	if f.Before != "" {
		upper = "(" + f.Before
	}
	var out []access.AuditEntry
	for scanned := 0; scanned < s.auditScan && len(out) < limit; {
		n := min(auditBatch, s.auditScan-scanned)
		ids, err := s.rc.ZRevRangeByLex(ctx, s.key("audit", "ids"), &redis.ZRangeBy{Min: "-", Max: upper, Count: int64(n)}).Result()
		if err != nil {
			return nil, fmt.Errorf("query audit: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		scanned += len(ids)
		vals, err := s.rc.HMGet(ctx, s.key("audit", "entries"), ids...).Result()
		if err != nil {
			return nil, fmt.Errorf("query audit: %w", err)
		}
		for _, v := range vals {
			str, ok := v.(string)
			if !ok {
				continue // dropped since the ids were read
			}
			var r auditRecord
			if err := json.Unmarshal([]byte(str), &r); err != nil {
				return nil, fmt.Errorf("query audit: decode: %w", err)
			}
			if e := r.entry(); f.Matches(e) {
				if out = append(out, e); len(out) == limit {
					break
				}
			}
		}
		if len(ids) < n {
			break
		}
		upper = "(" + ids[len(ids)-1]
	}
	return out, nil
}
