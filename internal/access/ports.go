package access

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is a store's answer for an unknown token, migrator or session.
var ErrNotFound = errors.New("not found")

// Store keeps credentials, sessions, migration ownership, seen message ids and the audit log.
// Every method is atomic.
type Store interface {
	// CreateToken stores a new token record.
	CreateToken(ctx context.Context, t Token) error
	// TokenByHash finds a token by its hash; ErrNotFound when there is none.
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// ListTokens returns every token, ordered by CreatedAt then ID.
	ListTokens(ctx context.Context) ([]Token, error)
	// DeleteToken removes a token; ErrNotFound when there is none.
	DeleteToken(ctx context.Context, id string) error

	// PutMigrator creates or replaces a migrator credential by ID.
	PutMigrator(ctx context.Context, m Migrator) error
	// GetMigrator returns a credential; ErrNotFound when there is none.
	GetMigrator(ctx context.Context, id string) (Migrator, error)
	// ListMigrators returns every credential (revoked ones too), ordered by CreatedAt then ID.
	ListMigrators(ctx context.Context) ([]Migrator, error)

	// ClaimMigration makes migratorID the owner of migrationID unless it has one, and returns
	// the owner after the call (migratorID when the claim won).
	ClaimMigration(ctx context.Context, migrationID, migratorID string) (string, error)
	// MigrationOwner returns the owner's id, "" when the migration has none.
	MigrationOwner(ctx context.Context, migrationID string) (string, error)

	// FirstSeen records key for ttl and reports whether it was not recorded already (a
	// message id seen for the first time).
	FirstSeen(ctx context.Context, key string, ttl time.Duration) (bool, error)

	// PutSession creates or replaces a session by ID; it is gone after its ExpiresAt.
	PutSession(ctx context.Context, s Session) error
	// GetSession returns a session that has not expired; ErrNotFound otherwise.
	GetSession(ctx context.Context, id string) (Session, error)
	// DeleteSession removes a session (no error when there is none).
	DeleteSession(ctx context.Context, id string) error

	// AppendAudit adds an entry and drops the entries older than keepSince.
	AppendAudit(ctx context.Context, e AuditEntry, keepSince time.Time) error
	// QueryAudit returns the entries f selects, newest (greatest id) first, at most f.Limit.
	QueryAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)

	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
}
