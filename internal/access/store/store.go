// Package store keeps the access port's records: RedisStore for production, SQLiteStore for
// a single process (drover dev, tests). Both keep times as Unix microseconds and return them
// in UTC, so a time round-trips to the microsecond and a zero time stays zero; empty slices
// (a migrator's patterns or secrets, an empty list) come back nil.
package store

import (
	"fmt"
	"time"

	"github.com/drover-dev/drover/internal/access"
)

// Bounds of the audit log shared by the stores.
const (
	// maxAuditLimit is the most entries one QueryAudit returns, and the default.
	maxAuditLimit = 1000
	// maxAuditEntries caps the Redis audit log; the oldest entries go first.
	maxAuditEntries = 1_000_000
	// maxAuditScan bounds how many entries one Redis QueryAudit reads.
	maxAuditScan = 200_000
)

// auditLimit is f.Limit within (0, maxAuditLimit], maxAuditLimit when out of range.
func auditLimit(f access.AuditFilter) int {
	if f.Limit <= 0 || f.Limit > maxAuditLimit {
		return maxAuditLimit
	}
	return f.Limit
}

// usec is t in Unix microseconds; the zero time has a value of its own, so it round-trips.
func usec(t time.Time) int64 { return t.UnixMicro() }

// fromUsec is the UTC time of a usec value.
func fromUsec(n int64) time.Time { return time.UnixMicro(n).UTC() }

// checkTTL refuses a FirstSeen ttl that would record nothing.
func checkTTL(key string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("first seen %q: ttl %s is not positive", key, ttl)
	}
	return nil
}

// tokenRecord is the stored form of an access.Token.
type tokenRecord struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Role      string `json:"role"`
	Hash      string `json:"hash"` // read by the Redis delete script
	CreatedAt int64  `json:"createdAt"`
	ExpiresAt int64  `json:"expiresAt"`
	CreatedBy string `json:"createdBy"`
}

func toTokenRecord(t access.Token) tokenRecord {
	return tokenRecord{ID: t.ID, Name: t.Name, Role: string(t.Role), Hash: t.Hash,
		CreatedAt: usec(t.CreatedAt), ExpiresAt: usec(t.ExpiresAt), CreatedBy: t.CreatedBy}
}

func (r tokenRecord) token() access.Token {
	return access.Token{ID: r.ID, Name: r.Name, Role: access.Role(r.Role), Hash: r.Hash,
		CreatedAt: fromUsec(r.CreatedAt), ExpiresAt: fromUsec(r.ExpiresAt), CreatedBy: r.CreatedBy}
}

// migratorRecord is the stored form of an access.Migrator.
type migratorRecord struct {
	ID            string         `json:"id"`
	Name          string         `json:"name"`
	Migrations    []string       `json:"migrations,omitempty"`
	Secrets       []secretRecord `json:"secrets,omitempty"`
	AllowUnsigned bool           `json:"allowUnsigned,omitempty"`
	CreatedAt     int64          `json:"createdAt"`
	CreatedBy     string         `json:"createdBy"`
	RevokedAt     int64          `json:"revokedAt"`
}

type secretRecord struct {
	Value     string `json:"value"`
	CreatedAt int64  `json:"createdAt"`
	ExpiresAt int64  `json:"expiresAt"`
}

func toMigratorRecord(m access.Migrator) migratorRecord {
	r := migratorRecord{ID: m.ID, Name: m.Name, AllowUnsigned: m.AllowUnsigned,
		CreatedAt: usec(m.CreatedAt), CreatedBy: m.CreatedBy, RevokedAt: usec(m.RevokedAt)}
	if len(m.Migrations) > 0 {
		r.Migrations = m.Migrations
	}
	for _, s := range m.Secrets {
		r.Secrets = append(r.Secrets, secretRecord{Value: s.Value, CreatedAt: usec(s.CreatedAt), ExpiresAt: usec(s.ExpiresAt)})
	}
	return r
}

func (r migratorRecord) migrator() access.Migrator {
	m := access.Migrator{ID: r.ID, Name: r.Name, AllowUnsigned: r.AllowUnsigned,
		CreatedAt: fromUsec(r.CreatedAt), CreatedBy: r.CreatedBy, RevokedAt: fromUsec(r.RevokedAt)}
	if len(r.Migrations) > 0 {
		m.Migrations = r.Migrations
	}
	for _, s := range r.Secrets {
		m.Secrets = append(m.Secrets, access.Secret{Value: s.Value, CreatedAt: fromUsec(s.CreatedAt), ExpiresAt: fromUsec(s.ExpiresAt)})
	}
	return m
}

// sessionRecord is the stored form of an access.Session.
type sessionRecord struct {
	ID        string `json:"id"`
	Subject   string `json:"subject"`
	Name      string `json:"name"`
	Role      string `json:"role"`
	CSRF      string `json:"csrf"`
	CreatedAt int64  `json:"createdAt"`
	ExpiresAt int64  `json:"expiresAt"`
}

func toSessionRecord(s access.Session) sessionRecord {
	return sessionRecord{ID: s.ID, Subject: s.Subject, Name: s.Name, Role: string(s.Role), CSRF: s.CSRF,
		CreatedAt: usec(s.CreatedAt), ExpiresAt: usec(s.ExpiresAt)}
}

func (r sessionRecord) session() access.Session {
	return access.Session{ID: r.ID, Subject: r.Subject, Name: r.Name, Role: access.Role(r.Role), CSRF: r.CSRF,
		CreatedAt: fromUsec(r.CreatedAt), ExpiresAt: fromUsec(r.ExpiresAt)}
}

// auditRecord is the stored form of an access.AuditEntry.
type auditRecord struct {
	ID        string `json:"id"`
	At        int64  `json:"at"`
	Actor     string `json:"actor,omitempty"`
	ActorName string `json:"actorName,omitempty"`
	Role      string `json:"role,omitempty"`
	Action    string `json:"action,omitempty"`
	Method    string `json:"method,omitempty"`
	Path      string `json:"path,omitempty"`
	Migration string `json:"migration,omitempty"`
	Candidate string `json:"candidate,omitempty"`
	Run       string `json:"run,omitempty"`
	Status    int    `json:"status,omitempty"`
	Outcome   string `json:"outcome,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Source    string `json:"source,omitempty"`
	Detail    string `json:"detail,omitempty"`
}

func toAuditRecord(e access.AuditEntry) auditRecord {
	return auditRecord{ID: e.ID, At: usec(e.At), Actor: e.Actor, ActorName: e.ActorName, Role: string(e.Role),
		Action: e.Action, Method: e.Method, Path: e.Path, Migration: e.Migration, Candidate: e.Candidate,
		Run: e.Run, Status: e.Status, Outcome: e.Outcome, Reason: e.Reason, Source: e.Source, Detail: e.Detail}
}

func (r auditRecord) entry() access.AuditEntry {
	return access.AuditEntry{ID: r.ID, At: fromUsec(r.At), Actor: r.Actor, ActorName: r.ActorName, Role: access.Role(r.Role),
		Action: r.Action, Method: r.Method, Path: r.Path, Migration: r.Migration, Candidate: r.Candidate,
		Run: r.Run, Status: r.Status, Outcome: r.Outcome, Reason: r.Reason, Source: r.Source, Detail: r.Detail}
}
