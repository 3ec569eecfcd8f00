package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/drover-dev/drover/internal/access"
)

// sqliteBusyTimeout is how long a connection waits for another process's write lock.
const sqliteBusyTimeout = 10 * time.Second

// sqliteSchema is created on open. Table names start with access_ so the tables can share a
// database file with other stores; times are Unix microseconds.
const sqliteSchema = `
CREATE TABLE IF NOT EXISTS access_tokens (
	id         TEXT PRIMARY KEY,
	hash       TEXT NOT NULL UNIQUE,
	name       TEXT NOT NULL,
	role       TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	created_by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS access_tokens_created ON access_tokens (created_at, id);
CREATE TABLE IF NOT EXISTS access_migrators (
	id         TEXT PRIMARY KEY,
	created_at INTEGER NOT NULL,
	record     TEXT NOT NULL -- migratorRecord JSON
);
CREATE TABLE IF NOT EXISTS access_owners (
	migration TEXT PRIMARY KEY,
	migrator  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS access_seen (
	key        TEXT PRIMARY KEY,
	expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS access_seen_expires ON access_seen (expires_at);
CREATE TABLE IF NOT EXISTS access_sessions (
	id         TEXT PRIMARY KEY,
	subject    TEXT NOT NULL,
	name       TEXT NOT NULL,
	role       TEXT NOT NULL,
	csrf       TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS access_sessions_expires ON access_sessions (expires_at);
CREATE TABLE IF NOT EXISTS access_audit (
	id         TEXT PRIMARY KEY,
	at         INTEGER NOT NULL,
	actor      TEXT NOT NULL,
	actor_name TEXT NOT NULL,
	role       TEXT NOT NULL,
	action     TEXT NOT NULL,
	method     TEXT NOT NULL,
	path       TEXT NOT NULL,
	migration  TEXT NOT NULL,
	candidate  TEXT NOT NULL,
	run        TEXT NOT NULL,
	status     INTEGER NOT NULL,
	outcome    TEXT NOT NULL,
	reason     TEXT NOT NULL,
	source     TEXT NOT NULL,
	detail     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS access_audit_at ON access_audit (at);
CREATE INDEX IF NOT EXISTS access_audit_migration ON access_audit (migration, id);
CREATE INDEX IF NOT EXISTS access_audit_candidate ON access_audit (candidate, id);
CREATE INDEX IF NOT EXISTS access_audit_actor ON access_audit (actor, id);
`

const auditColumns = `id, at, actor, actor_name, role, action, method, path, migration, candidate, run, status, outcome, reason, source, detail`

// SQLiteStore is the embedded access.Store. Writes go through one connection whose
// transactions begin with BEGIN IMMEDIATE, so a check and the write depending on it never
// interleave with another writer; a file database reads through a separate pool (WAL
// snapshots, not blocked by writes). An in-memory database uses one connection for both, so
// every call sees the same database.
type SQLiteStore struct {
	w *sql.DB // the single writer connection
	r *sql.DB // readers; w itself for ":memory:"
}

var _ access.Store = (*SQLiteStore)(nil)

// OpenSQLite opens (creating if needed) the database at path, or a private in-memory one for
// ":memory:", and creates the tables that are absent.
func OpenSQLite(path string) (*SQLiteStore, error) {
	s, err := openSQLite(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite access store %s: %w", path, err)
	}
	return s, nil
}

func openSQLite(path string) (*SQLiteStore, error) {
	busy := fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds())
	var wdsn, rdsn string
	if path == ":memory:" {
		wdsn = ":memory:?" + url.Values{"_pragma": {busy}, "_txlock": {"immediate"}}.Encode()
	} else {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		dsn := func(q url.Values) string {
			return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}).String()
		}
		wdsn = dsn(url.Values{"_pragma": {busy, "journal_mode(WAL)", "synchronous(NORMAL)"}, "_txlock": {"immediate"}})
		rdsn = dsn(url.Values{"_pragma": {busy, "query_only(1)"}})
	}
	w, err := sql.Open("sqlite", wdsn)
	if err != nil {
		return nil, err
	}
	// One connection that never closes: the only writer, and all of an in-memory database.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if _, err := w.Exec(sqliteSchema); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("create schema: %w", err)
	}
	if err := addAuditDetail(w); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("upgrade schema: %w", err)
	}
	s := &SQLiteStore{w: w, r: w}
	if rdsn != "" {
		if s.r, err = sql.Open("sqlite", rdsn); err != nil {
			_ = w.Close()
			return nil, err
		}
		readers := max(4, runtime.GOMAXPROCS(0))
		s.r.SetMaxOpenConns(readers)
		s.r.SetMaxIdleConns(readers)
	}
	return s, nil
}

// Close closes the database.
func (s *SQLiteStore) Close() error {
	var err error
	if s.r != s.w {
		err = s.r.Close()
	}
	if werr := s.w.Close(); werr != nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("close sqlite access store: %w", err)
	}
	return nil
}

// Ping reports whether the database answers.
func (s *SQLiteStore) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return nil
}

// write runs fn in a write transaction and commits it.
func (s *SQLiteStore) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// CreateToken stores a new token; an id or hash already stored is an error.
func (s *SQLiteStore) CreateToken(ctx context.Context, t access.Token) error {
	if t.ID == "" || t.Hash == "" {
		return fmt.Errorf("create token %q: empty id or hash", t.ID)
	}
	r := toTokenRecord(t)
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO access_tokens (id, hash, name, role, created_at, expires_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.Hash, r.Name, r.Role, r.CreatedAt, r.ExpiresAt, r.CreatedBy)
		return err
	})
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	return nil
}

const tokenColumns = `id, hash, name, role, created_at, expires_at, created_by`

type scanner interface{ Scan(dest ...any) error }

func scanToken(sc scanner) (access.Token, error) {
	var r tokenRecord
	if err := sc.Scan(&r.ID, &r.Hash, &r.Name, &r.Role, &r.CreatedAt, &r.ExpiresAt, &r.CreatedBy); err != nil {
		return access.Token{}, err
	}
	return r.token(), nil
}

// TokenByHash finds a token by its hash.
func (s *SQLiteStore) TokenByHash(ctx context.Context, hash string) (access.Token, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM access_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return access.Token{}, fmt.Errorf("token by hash: %w", access.ErrNotFound)
	}
	if err != nil {
		return access.Token{}, fmt.Errorf("token by hash: %w", err)
	}
	return t, nil
}

// ListTokens returns every token, ordered by CreatedAt then ID.
func (s *SQLiteStore) ListTokens(ctx context.Context) ([]access.Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM access_tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []access.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// DeleteToken removes a token.
func (s *SQLiteStore) DeleteToken(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM access_tokens WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return access.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete token %s: %w", id, err)
	}
	return nil
}

// PutMigrator creates or replaces a migrator credential.
func (s *SQLiteStore) PutMigrator(ctx context.Context, m access.Migrator) error {
	if m.ID == "" {
		return errors.New("put migrator: empty id")
	}
	r := toMigratorRecord(m)
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("put migrator %s: %w", m.ID, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO access_migrators (id, created_at, record) VALUES (?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at, record = excluded.record`, r.ID, r.CreatedAt, string(v))
		return err
	})
	if err != nil {
		return fmt.Errorf("put migrator %s: %w", m.ID, err)
	}
	return nil
}

func decodeMigrator(v string) (access.Migrator, error) {
	var r migratorRecord
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return access.Migrator{}, fmt.Errorf("decode: %w", err)
	}
	return r.migrator(), nil
}

// GetMigrator returns a migrator credential.
func (s *SQLiteStore) GetMigrator(ctx context.Context, id string) (access.Migrator, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT record FROM access_migrators WHERE id = ?`, id).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return access.Migrator{}, fmt.Errorf("get migrator %s: %w", id, access.ErrNotFound)
	}
	if err != nil {
		return access.Migrator{}, fmt.Errorf("get migrator %s: %w", id, err)
	}
	m, err := decodeMigrator(v)
	if err != nil {
		return access.Migrator{}, fmt.Errorf("get migrator %s: %w", id, err)
	}
	return m, nil
}

// ListMigrators returns every credential, ordered by CreatedAt then ID.
func (s *SQLiteStore) ListMigrators(ctx context.Context) ([]access.Migrator, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT record FROM access_migrators ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list migrators: %w", err)
	}
	defer rows.Close()
	var out []access.Migrator
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("list migrators: %w", err)
		}
		m, err := decodeMigrator(v)
		if err != nil {
			return nil, fmt.Errorf("list migrators: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list migrators: %w", err)
	}
	return out, nil
}

// ClaimMigration makes migratorID the owner of migrationID unless it has one.
func (s *SQLiteStore) ClaimMigration(ctx context.Context, migrationID, migratorID string) (string, error) {
	if migrationID == "" || migratorID == "" {
		return "", fmt.Errorf("claim migration %q for %q: empty id", migrationID, migratorID)
	}
	var owner string
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO access_owners (migration, migrator) VALUES (?, ?) ON CONFLICT (migration) DO NOTHING`, migrationID, migratorID); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT migrator FROM access_owners WHERE migration = ?`, migrationID).Scan(&owner)
	})
	if err != nil {
		return "", fmt.Errorf("claim migration %s for %s: %w", migrationID, migratorID, err)
	}
	return owner, nil
}

// MigrationOwner returns the owner's id, "" when the migration has none.
func (s *SQLiteStore) MigrationOwner(ctx context.Context, migrationID string) (string, error) {
	var owner string
	err := s.r.QueryRowContext(ctx, `SELECT migrator FROM access_owners WHERE migration = ?`, migrationID).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("owner of migration %s: %w", migrationID, err)
	}
	return owner, nil
}

// FirstSeen records key for ttl, deleting every expired key in the same transaction (each
// row is deleted once, so the cost is amortised); a ttl that is not positive is an error.
func (s *SQLiteStore) FirstSeen(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := checkTTL(key, ttl); err != nil {
		return false, err
	}
	var first bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		now := time.Now()
		if _, err := tx.ExecContext(ctx, `DELETE FROM access_seen WHERE expires_at <= ?`, usec(now)); err != nil {
			return err
		}
		// Rounded up to a microsecond, so a key is never forgotten early.
		until := usec(now.Add(ttl + time.Microsecond - 1))
		res, err := tx.ExecContext(ctx, `INSERT INTO access_seen (key, expires_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, until)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		first = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("first seen %q: %w", key, err)
	}
	return first, nil
}

// PutSession creates or replaces a session, deleting the expired ones (it too, when its
// ExpiresAt has passed) in the same transaction.
func (s *SQLiteStore) PutSession(ctx context.Context, sess access.Session) error {
	if sess.ID == "" {
		return errors.New("put session: empty id")
	}
	r := toSessionRecord(sess)
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO access_sessions (id, subject, name, role, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET subject = excluded.subject, name = excluded.name, role = excluded.role,
				csrf = excluded.csrf, created_at = excluded.created_at, expires_at = excluded.expires_at`,
			r.ID, r.Subject, r.Name, r.Role, r.CSRF, r.CreatedAt, r.ExpiresAt); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM access_sessions WHERE expires_at <= ?`, usec(time.Now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("put session %s: %w", sess.ID, err)
	}
	return nil
}

// GetSession returns a session that has not expired.
func (s *SQLiteStore) GetSession(ctx context.Context, id string) (access.Session, error) {
	var r sessionRecord
	err := s.r.QueryRowContext(ctx, `SELECT id, subject, name, role, csrf, created_at, expires_at FROM access_sessions WHERE id = ? AND expires_at > ?`,
		id, usec(time.Now())).Scan(&r.ID, &r.Subject, &r.Name, &r.Role, &r.CSRF, &r.CreatedAt, &r.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return access.Session{}, fmt.Errorf("get session: %w", access.ErrNotFound)
	}
	if err != nil {
		return access.Session{}, fmt.Errorf("get session: %w", err)
	}
	return r.session(), nil
}

// DeleteSession removes a session.
func (s *SQLiteStore) DeleteSession(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM access_sessions WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// AppendAudit adds an entry (replacing one with the same ID, so a retried append does not
// duplicate it) and deletes the entries with At before keepSince (none for a zero
// keepSince) in the same transaction.
func (s *SQLiteStore) AppendAudit(ctx context.Context, e access.AuditEntry, keepSince time.Time) error {
	if e.ID == "" {
		return errors.New("append audit entry: empty id")
	}
	r := toAuditRecord(e)
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO access_audit (`+auditColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.At, r.Actor, r.ActorName, r.Role, r.Action, r.Method, r.Path, r.Migration, r.Candidate, r.Run,
			r.Status, r.Outcome, r.Reason, r.Source, r.Detail); err != nil {
			return err
		}
		if keepSince.IsZero() {
			return nil
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM access_audit WHERE at < ?`, usec(keepSince))
		return err
	})
	if err != nil {
		return fmt.Errorf("append audit entry %s: %w", e.ID, err)
	}
	return nil
}

// QueryAudit returns the entries f selects, newest first, at most f.Limit (1000 when it is
// not in 1..1000), in one query.
func (s *SQLiteStore) QueryAudit(ctx context.Context, f access.AuditFilter) ([]access.AuditEntry, error) {
	var where []string
	var args []any
	for _, c := range []struct {
		column, value string
	}{{"migration", f.Migration}, {"candidate", f.Candidate}, {"actor", f.Actor}} {
		if c.value != "" {
			where = append(where, c.column+" = ?")
			args = append(args, c.value)
		}
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, usec(f.Since))
	}
	if f.Before != "" {
		where = append(where, "id < ?")
		args = append(args, f.Before)
	}
	q := `SELECT ` + auditColumns + ` FROM access_audit`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, auditLimit(f))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query audit: %w", err)
	}
	defer rows.Close()
	var out []access.AuditEntry
	for rows.Next() {
		var r auditRecord
		if err := rows.Scan(&r.ID, &r.At, &r.Actor, &r.ActorName, &r.Role, &r.Action, &r.Method, &r.Path, &r.Migration,
			&r.Candidate, &r.Run, &r.Status, &r.Outcome, &r.Reason, &r.Source, &r.Detail); err != nil {
			return nil, fmt.Errorf("query audit: %w", err)
		}
		out = append(out, r.entry())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query audit: %w", err)
	}
	return out, nil
}

// addAuditDetail adds the audit log's detail column to a database created before it existed.
func addAuditDetail(w *sql.DB) error {
	rows, err := w.Query(`SELECT name FROM pragma_table_info('access_audit')`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		if name == "detail" {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	_, err = w.Exec(`ALTER TABLE access_audit ADD COLUMN detail TEXT NOT NULL DEFAULT ''`)
	return err
}
