package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/drover-dev/drover/pkg/migrator/signature"
)

// Bounds of the admin actions' inputs.
const (
	MaxNameLength        = 128
	MaxPatterns          = 100
	MaxTokenLifetime     = 366 * 24 * time.Hour
	DefaultRotateOverlap = 24 * time.Hour
	MaxRotateOverlap     = 30 * 24 * time.Hour
	tokenPrefix          = "drv_"
)

// Config is the trust settings of one Drover.
type Config struct {
	// RequireAuth makes operators authenticate; off, every caller acts as an anonymous admin
	// (`drover dev` on loopback, `drover serve --insecure-no-auth`).
	RequireAuth bool
	// AdminToken is the bootstrap admin's token ("" for none).
	AdminToken string
	// UnsignedUnowned lets unsigned requests for a migration no credential owns act as the
	// migrator "dev-unsigned", which owns nothing (`drover dev` on loopback without login).
	UnsignedUnowned bool
	// AuditRetention is how long audit entries are kept (default 90 days).
	AuditRetention time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service authenticates callers, manages credentials and records the audit log.
type Service struct {
	store     Store
	cfg       Config
	adminHash string
	log       *slog.Logger
}

// NewService returns the trust service over st.
func NewService(st Store, cfg Config, log *slog.Logger) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AuditRetention <= 0 {
		cfg.AuditRetention = 90 * 24 * time.Hour
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{store: st, cfg: cfg, log: log}
	if cfg.AdminToken != "" {
		s.adminHash = hashToken(cfg.AdminToken)
	}
	return s
}

// AuthRequired reports whether operators must authenticate.
func (s *Service) AuthRequired() bool { return s.cfg.RequireAuth }

// Anonymous is the principal of a caller that gave no credential: an admin when
// authentication is off, nobody otherwise.
func (s *Service) Anonymous() Principal {
	p := Principal{Kind: ActorAnonymous, ID: "anonymous", Name: "anonymous", Via: "none"}
	if !s.cfg.RequireAuth {
		p.Role = RoleAdmin
	}
	return p
}

func hashToken(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Authenticate finds the operator a bearer token belongs to.
func (s *Service) Authenticate(ctx context.Context, raw string) (Principal, error) {
	if raw == "" {
		return Principal{}, unauthenticated("empty bearer token")
	}
	h := hashToken(raw)
	if s.adminHash != "" && subtle.ConstantTimeCompare([]byte(h), []byte(s.adminHash)) == 1 {
		return Principal{Kind: ActorOperator, ID: "bootstrap-admin", Name: "bootstrap admin", Role: RoleAdmin, Via: "bootstrap"}, nil
	}
	t, err := s.store.TokenByHash(ctx, h)
	if errors.Is(err, ErrNotFound) {
		return Principal{}, unauthenticated("unknown or revoked API token")
	}
	if err != nil {
		return Principal{}, fmt.Errorf("look up API token: %w", err)
	}
	if t.Expired(s.cfg.Now()) {
		return Principal{}, unauthenticated(fmt.Sprintf("API token %s expired at %s", t.ID, t.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	return Principal{Kind: ActorOperator, ID: "token:" + t.ID, Name: t.Name, Role: t.Role, Via: "token"}, nil
}

// MintToken creates an API token and returns its record and the token itself, which is
// shown only this once.
func (s *Service) MintToken(ctx context.Context, by Principal, name string, role Role, expiresIn time.Duration) (Token, string, error) {
	if err := checkName(name); err != nil {
		return Token{}, "", err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return Token{}, "", &InvalidError{Field: "role", Message: err.Error()}
	}
	if expiresIn < 0 || expiresIn > MaxTokenLifetime {
		return Token{}, "", &InvalidError{Field: "expiresIn", Message: fmt.Sprintf("expiresIn %s is out of range: between 1s and %s, or absent for a token that does not expire", expiresIn, MaxTokenLifetime)}
	}
	now := s.cfg.Now().UTC()
	raw := tokenPrefix + randomString(32)
	t := Token{ID: "tok_" + randomString(9), Name: name, Role: role, Hash: hashToken(raw), CreatedAt: now, CreatedBy: by.Actor()}
	if expiresIn > 0 {
		t.ExpiresAt = now.Add(expiresIn)
	}
	if err := s.store.CreateToken(ctx, t); err != nil {
		return Token{}, "", fmt.Errorf("store API token %s: %w", t.ID, err)
	}
	return t, raw, nil
}

// ListTokens returns every token's record (never the tokens).
func (s *Service) ListTokens(ctx context.Context) ([]Token, error) {
	ts, err := s.store.ListTokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("list API tokens: %w", err)
	}
	return ts, nil
}

// RevokeToken deletes a token; it stops working at once.
func (s *Service) RevokeToken(ctx context.Context, id string) error {
	if err := s.store.DeleteToken(ctx, id); err != nil {
		return fmt.Errorf("revoke API token %s: %w", id, err)
	}
	return nil
}

func checkName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return &InvalidError{Field: "name", Message: "name is empty"}
	case len(name) > MaxNameLength:
		return &InvalidError{Field: "name", Message: fmt.Sprintf("name is longer than %d characters", MaxNameLength)}
	}
	return nil
}

// CreateMigrator creates a migrator credential for the given migrations (ids, or prefixes
// ending in "*") and returns it with its first secret.
func (s *Service) CreateMigrator(ctx context.Context, by Principal, name string, migrations []string, allowUnsigned bool) (Migrator, string, error) {
	return s.createMigrator(ctx, by, "mig_"+randomString(9), name, migrations, allowUnsigned, "")
}

// EnsureMigrator creates or replaces the credential id with the given secret; `drover dev`
// uses it for the in-process demo migrator, which gets its credential at start-up.
func (s *Service) EnsureMigrator(ctx context.Context, id, name string, migrations []string, allowUnsigned bool, secret string) (Migrator, error) {
	if _, err := signature.ParseSecret(secret); err != nil {
		return Migrator{}, &InvalidError{Field: "secret", Message: err.Error()}
	}
	m, _, err := s.createMigrator(ctx, Principal{Kind: ActorOperator, ID: "drover"}, id, name, migrations, allowUnsigned, secret)
	return m, err
}

func (s *Service) createMigrator(ctx context.Context, by Principal, id, name string, migrations []string, allowUnsigned bool, secret string) (Migrator, string, error) {
	if err := checkName(name); err != nil {
		return Migrator{}, "", err
	}
	if len(migrations) == 0 {
		return Migrator{}, "", &InvalidError{Field: "migrations", Message: "migrations is empty: name the migration ids (or prefixes ending in \"*\") this migrator may announce"}
	}
	if len(migrations) > MaxPatterns {
		return Migrator{}, "", &InvalidError{Field: "migrations", Message: fmt.Sprintf("migrations has more than %d entries", MaxPatterns)}
	}
	for _, p := range migrations {
		if err := ValidPattern(p); err != nil {
			return Migrator{}, "", &InvalidError{Field: "migrations", Message: "migrations: " + err.Error()}
		}
	}
	if secret == "" {
		var err error
		if secret, err = signature.NewSecret(); err != nil {
			return Migrator{}, "", err
		}
	}
	now := s.cfg.Now().UTC()
	m := Migrator{ID: id, Name: name, Migrations: migrations, AllowUnsigned: allowUnsigned, CreatedAt: now, CreatedBy: by.Actor(),
		Secrets: []Secret{{Value: secret, CreatedAt: now}}}
	if err := s.store.PutMigrator(ctx, m); err != nil {
		return Migrator{}, "", fmt.Errorf("store migrator credential %s: %w", id, err)
	}
	return m, secret, nil
}

// ListMigrators returns every credential (secrets included: callers must not show them).
func (s *Service) ListMigrators(ctx context.Context) ([]Migrator, error) {
	ms, err := s.store.ListMigrators(ctx)
	if err != nil {
		return nil, fmt.Errorf("list migrator credentials: %w", err)
	}
	return ms, nil
}

// GetMigrator returns one credential.
func (s *Service) GetMigrator(ctx context.Context, id string) (Migrator, error) {
	m, err := s.store.GetMigrator(ctx, id)
	if err != nil {
		return Migrator{}, fmt.Errorf("get migrator credential %s: %w", id, err)
	}
	return m, nil
}

// RotateMigrator adds a new secret; the older ones stay valid for overlap (default a day),
// so the migrator can be redeployed with the new one without a gap.
func (s *Service) RotateMigrator(ctx context.Context, id string, overlap time.Duration) (Migrator, string, error) {
	if overlap < 0 || overlap > MaxRotateOverlap {
		return Migrator{}, "", &InvalidError{Field: "overlap", Message: fmt.Sprintf("overlap %s is out of range: 0 to %s", overlap, MaxRotateOverlap)}
	}
	m, err := s.GetMigrator(ctx, id)
	if err != nil {
		return Migrator{}, "", err
	}
	if m.Revoked() {
		return Migrator{}, "", &InvalidError{Field: "id", Message: fmt.Sprintf("migrator credential %s is revoked; create a new one", id)}
	}
	secret, err := signature.NewSecret()
	if err != nil {
		return Migrator{}, "", err
	}
	now := s.cfg.Now().UTC()
	kept := m.Secrets[:0]
	for _, old := range m.Secrets {
		if !old.ExpiresAt.IsZero() && !now.Before(old.ExpiresAt) {
			continue // expired long ago: drop it
		}
		if old.ExpiresAt.IsZero() || old.ExpiresAt.After(now.Add(overlap)) {
			old.ExpiresAt = now.Add(overlap)
		}
		kept = append(kept, old)
	}
	m.Secrets = append(kept, Secret{Value: secret, CreatedAt: now})
	if err := s.store.PutMigrator(ctx, m); err != nil {
		return Migrator{}, "", fmt.Errorf("store rotated credential %s: %w", id, err)
	}
	return m, secret, nil
}

// RevokeMigrator ends a credential at once. The migrations it owns stay its own, so nobody
// else can take them over.
func (s *Service) RevokeMigrator(ctx context.Context, id string) error {
	m, err := s.GetMigrator(ctx, id)
	if err != nil {
		return err
	}
	if m.Revoked() {
		return nil
	}
	m.RevokedAt = s.cfg.Now().UTC()
	if err := s.store.PutMigrator(ctx, m); err != nil {
		return fmt.Errorf("revoke migrator credential %s: %w", id, err)
	}
	return nil
}

// Owner returns the id of the migrator credential that owns a migration ("" for none).
func (s *Service) Owner(ctx context.Context, migrationID string) (string, error) {
	o, err := s.store.MigrationOwner(ctx, migrationID)
	if err != nil {
		return "", fmt.Errorf("read owner of migration %s: %w", migrationID, err)
	}
	return o, nil
}

// Keys returns the keys Drover signs a migration's dispatches and dry runs with: its owner's
// valid secrets, none for a migration nobody owns.
func (s *Service) Keys(ctx context.Context, migrationID string) ([][]byte, error) {
	owner, err := s.Owner(ctx, migrationID)
	if err != nil || owner == "" {
		return nil, err
	}
	m, err := s.store.GetMigrator(ctx, owner)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read migrator credential %s: %w", owner, err)
	}
	if m.Revoked() {
		return nil, fmt.Errorf("migration %s belongs to the revoked migrator credential %s", migrationID, owner)
	}
	return m.Keys(s.cfg.Now()), nil
}

// DevUnsigned is the migrator unsigned requests act as under Config.UnsignedUnowned.
const DevUnsigned = "dev-unsigned"

// MigratorRequest is a request a migrator made: for which migration, whether it may make
// the migration its own (an announcement), and what it sent.
type MigratorRequest struct {
	MigrationID string
	Claim       bool
	Header      http.Header
	Body        []byte
}

// VerifyMigrator tells which migrator made r: the migration's owner when it has one, else a
// credential allowed the migration id, proven by a valid, fresh, first-seen signature (or,
// for a credential that allows it, by nothing). An announcement of a migration nobody owns
// makes it the signer's. A refusal is a *DeniedError: 401 when the signature does not prove
// anyone, 403 when it proves a migrator that may not act on this migration (returned with the
// error, for the audit log).
func (s *Service) VerifyMigrator(ctx context.Context, r MigratorRequest) (Principal, error) {
	owner, err := s.Owner(ctx, r.MigrationID)
	if err != nil {
		return Principal{}, err
	}
	all, err := s.store.ListMigrators(ctx)
	if err != nil {
		return Principal{}, fmt.Errorf("list migrator credentials: %w", err)
	}
	var m Migrator
	if signature.Signed(r.Header) {
		if m, err = s.verifySigned(ctx, all, r); err != nil {
			return Principal{}, err
		}
	} else {
		if m, err = unsignedAs(all, owner, r.MigrationID); err != nil {
			if owner != "" || !s.cfg.UnsignedUnowned {
				return Principal{}, err
			}
			return Principal{Kind: ActorMigrator, ID: DevUnsigned, Name: "unsigned migrator (drover dev)", Via: "unsigned"}, nil
		}
	}
	via := "signature"
	if !signature.Signed(r.Header) {
		via = "unsigned"
	}
	who := Principal{Kind: ActorMigrator, ID: m.ID, Name: m.Name, Via: via}
	switch {
	case owner != "" && owner != m.ID:
		return who, forbidden(fmt.Sprintf("migration %q belongs to another migrator; migrator %s may not announce or act on it", r.MigrationID, m.ID))
	case owner == "" && !m.Allows(r.MigrationID):
		return who, forbidden(fmt.Sprintf("migrator %s may not announce migration %q (it may announce: %s)", m.ID, r.MigrationID, strings.Join(m.Migrations, ", ")))
	}
	if owner == "" && r.Claim {
		won, err := s.store.ClaimMigration(ctx, r.MigrationID, m.ID)
		if err != nil {
			return Principal{}, fmt.Errorf("claim migration %s for %s: %w", r.MigrationID, m.ID, err)
		}
		if won != m.ID {
			return who, forbidden(fmt.Sprintf("migration %q was just announced by another migrator", r.MigrationID))
		}
	}
	return who, nil
}

// verifySigned finds the active credential whose secret verifies r and refuses a message id
// seen before.
func (s *Service) verifySigned(ctx context.Context, all []Migrator, r MigratorRequest) (Migrator, error) {
	now := s.cfg.Now()
	for _, m := range all {
		if m.Revoked() {
			continue
		}
		msg, err := signature.Verify(m.Keys(now), r.Header, r.Body, now)
		if err == nil {
			first, err := s.store.FirstSeen(ctx, "msg:"+m.ID+":"+msg.ID, 2*signature.Tolerance)
			if err != nil {
				return Migrator{}, fmt.Errorf("check message id: %w", err)
			}
			if !first {
				return Migrator{}, unauthenticated(fmt.Sprintf("webhook-id %q was seen before: a replayed request is refused", clipID(msg.ID)))
			}
			return m, nil
		}
		if !errors.Is(err, signature.ErrMismatch) {
			return Migrator{}, unauthenticated("bad signature: " + err.Error())
		}
	}
	return Migrator{}, unauthenticated("the signature matches no active migrator credential")
}

// unsignedAs is the credential an unsigned request acts as: the owner's when it allows
// unsigned traffic, else (for a migration nobody owns) the first allowed credential that does.
func unsignedAs(all []Migrator, owner, migrationID string) (Migrator, error) {
	for _, m := range all {
		if m.Revoked() || !m.AllowUnsigned {
			continue
		}
		if (owner != "" && m.ID == owner) || (owner == "" && m.Allows(migrationID)) {
			return m, nil
		}
	}
	return Migrator{}, unauthenticated("the request is not signed: sign it with the migrator's secret (headers webhook-id, webhook-timestamp, webhook-signature), or ask an admin to allow unsigned traffic for its credential")
}

func clipID(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Record adds an entry to the audit log (its ID and time set here). A failure is logged, not
// returned: the request it describes has already been answered.
func (s *Service) Record(ctx context.Context, e AuditEntry) {
	now := s.cfg.Now().UTC()
	if e.At.IsZero() {
		e.At = now
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:]) // never fails (crypto/rand)
	e.ID = fmt.Sprintf("%016x%s", e.At.UnixNano(), hex.EncodeToString(suffix[:]))
	if err := s.store.AppendAudit(ctx, e, now.Add(-s.cfg.AuditRetention)); err != nil {
		s.log.ErrorContext(ctx, "could not write the audit log", "action", e.Action, "actor", e.Actor, "status", e.Status, "error", err)
	}
}

// Audit returns the audit entries f selects, newest first.
func (s *Service) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	es, err := s.store.QueryAudit(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("read the audit log: %w", err)
	}
	return es, nil
}

// Ping reports whether the store answers.
func (s *Service) Ping(ctx context.Context) error { return s.store.Ping(ctx) }

// NewSession starts a console session for a person the SSO provider vouched for and returns
// the cookie's value (only its hash is stored).
func (s *Service) NewSession(ctx context.Context, subject, name string, role Role, ttl time.Duration) (string, Session, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return "", Session{}, forbidden(fmt.Sprintf("%s has no Drover role: %v", name, err))
	}
	cookie := randomString(32)
	now := s.cfg.Now().UTC()
	sess := Session{ID: hashToken(cookie), Subject: subject, Name: name, Role: role, CSRF: randomString(24), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.store.PutSession(ctx, sess); err != nil {
		return "", Session{}, fmt.Errorf("store session of %s: %w", name, err)
	}
	return cookie, sess, nil
}

// Session finds the person behind a session cookie, with the session's CSRF token.
func (s *Service) Session(ctx context.Context, cookie string) (Principal, string, error) {
	sess, err := s.store.GetSession(ctx, hashToken(cookie))
	if errors.Is(err, ErrNotFound) {
		return Principal{}, "", unauthenticated("the session has expired or was ended: log in again")
	}
	if err != nil {
		return Principal{}, "", fmt.Errorf("read session: %w", err)
	}
	return Principal{Kind: ActorOperator, ID: "oidc:" + sess.Subject, Name: sess.Name, Role: sess.Role, Via: "session"}, sess.CSRF, nil
}

// EndSession logs a session out.
func (s *Service) EndSession(ctx context.Context, cookie string) error {
	if err := s.store.DeleteSession(ctx, hashToken(cookie)); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}
