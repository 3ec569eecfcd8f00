// Package access is Drover's trust model: who a caller is (an operator with a role, a
// migrator with its credential, or nobody), what each may do, the credentials themselves, and
// the audit log of every state-changing request. It knows nothing of HTTP frameworks or
// databases; the handler asks it, the store keeps its records.
package access

import (
	"fmt"
	"path"
	"time"

	"github.com/drover-dev/drover/pkg/migrator/signature"
)

// Role is what an operator may do; each role may do everything the one before it may.
type Role string

// The operator roles.
const (
	RoleViewer   Role = "viewer"   // read everything
	RoleOperator Role = "operator" // also start, cancel, retry, edit inputs, dry-run, mark steps
	RoleAdmin    Role = "admin"    // also credentials, tokens and deleting migrations
)

// ParseRole reads a role's name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleViewer, RoleOperator, RoleAdmin:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q: expected viewer, operator or admin", s)
}

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Covers reports whether r may do what need requires.
func (r Role) Covers(need Role) bool { return r.rank() > 0 && r.rank() >= need.rank() }

// Need is what a route requires of its caller.
type Need string

// The needs of routes: public ones, an operator role, or a migrator's credential.
const (
	NeedPublic   Need = "public"
	NeedViewer   Need = "viewer"
	NeedOperator Need = "operator"
	NeedAdmin    Need = "admin"
	NeedMigrator Need = "migrator"
)

// ParseNeed reads a route's need (the spec's x-drover-role).
func ParseNeed(s string) (Need, error) {
	switch n := Need(s); n {
	case NeedPublic, NeedViewer, NeedOperator, NeedAdmin, NeedMigrator:
		return n, nil
	}
	return "", fmt.Errorf("unknown route role %q: expected public, viewer, operator, admin or migrator", s)
}

// Role is the operator role a need asks for ("" for public and migrator routes).
func (n Need) Role() Role {
	switch n {
	case NeedViewer, NeedOperator, NeedAdmin:
		return Role(n)
	}
	return ""
}

// ActorKind says what kind of caller a Principal is.
type ActorKind string

// The kinds of callers.
const (
	ActorOperator  ActorKind = "operator"
	ActorMigrator  ActorKind = "migrator"
	ActorAnonymous ActorKind = "anonymous"
)

// Principal is an authenticated caller.
type Principal struct {
	Kind ActorKind
	// ID identifies the caller: a token's or migrator's id, an OIDC subject, "bootstrap-admin".
	ID   string
	Name string
	// Role is an operator's role; anonymous callers have one when authentication is off.
	Role Role
	// Via says how the caller proved who it is: token, bootstrap, session, signature,
	// unsigned, none.
	Via string
}

// Actor is how the audit log and the console name the principal.
func (p Principal) Actor() string {
	switch p.Kind {
	case ActorAnonymous:
		return "anonymous"
	case ActorMigrator:
		return "migrator:" + p.ID
	}
	return "operator:" + p.ID
}

// Token is an API token's record; the token itself is never stored, only its hash.
type Token struct {
	ID        string
	Name      string
	Role      Role
	Hash      string // hex SHA-256 of the token
	CreatedAt time.Time
	ExpiresAt time.Time // zero: does not expire
	CreatedBy string    // the actor that minted it
}

// Expired reports whether the token has expired at now.
func (t Token) Expired(now time.Time) bool { return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) }

// Migrator is a migrator's credential: the migrations it may announce and its signing
// secrets (more than one while a rotation overlaps).
type Migrator struct {
	ID   string
	Name string
	// Migrations are the ids it may announce, each exact or a prefix ending in "*".
	Migrations []string
	Secrets    []Secret
	// AllowUnsigned lets requests without a signature act as this migrator (for migrators
	// written against the bare contract); an admin's explicit choice.
	AllowUnsigned bool
	CreatedAt     time.Time
	CreatedBy     string
	RevokedAt     time.Time // zero: active
}

// Secret is one signing secret of a migrator.
type Secret struct {
	Value     string // "whsec_" plus base64
	CreatedAt time.Time
	ExpiresAt time.Time // zero: until rotated
}

// Revoked reports whether the credential has been revoked.
func (m Migrator) Revoked() bool { return !m.RevokedAt.IsZero() }

// Allows reports whether the credential may announce the migration id.
func (m Migrator) Allows(migrationID string) bool {
	for _, p := range m.Migrations {
		if prefix, ok := cutStar(p); ok {
			if len(migrationID) >= len(prefix) && migrationID[:len(prefix)] == prefix {
				return true
			}
		} else if p == migrationID {
			return true
		}
	}
	return false
}

// Keys returns the keys of the secrets still valid at now, newest first.
func (m Migrator) Keys(now time.Time) [][]byte {
	var keys [][]byte
	for i := len(m.Secrets) - 1; i >= 0; i-- {
		s := m.Secrets[i]
		if !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt) {
			continue
		}
		if k, err := signature.ParseSecret(s.Value); err == nil {
			keys = append(keys, k)
		}
	}
	return keys
}

func cutStar(p string) (string, bool) {
	if len(p) > 0 && p[len(p)-1] == '*' {
		return p[:len(p)-1], true
	}
	return "", false
}

// ValidPattern checks one entry of a credential's migrations: a migration id, or a prefix of
// one followed by "*".
func ValidPattern(p string) error {
	if p == "" {
		return fmt.Errorf("an empty entry")
	}
	body := p
	if prefix, ok := cutStar(p); ok {
		body = prefix
	}
	for _, r := range body {
		if r == '*' {
			return fmt.Errorf("%q: \"*\" may only end an entry", p)
		}
	}
	if _, err := path.Match(body, ""); err != nil {
		return fmt.Errorf("%q: %w", p, err)
	}
	return nil
}

// SessionCookie is the name of the console session's cookie.
const SessionCookie = "drover_session"

// Session is a logged-in console user's session; ID is the hash of the cookie's value.
type Session struct {
	ID        string
	Subject   string // the OIDC subject
	Name      string // a name for people (email, preferred_username or subject)
	Role      Role
	CSRF      string // sent back by the console in X-CSRF-Token
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AuditEntry is one state-changing request, allowed or refused.
type AuditEntry struct {
	ID        string // time-ordered: a later entry has a greater id
	At        time.Time
	Actor     string // Principal.Actor(): "operator:…", "migrator:…" or "anonymous"
	ActorName string
	Role      Role
	Action    string // the operation, e.g. startRun
	Method    string
	Path      string
	Migration string
	Candidate string
	Run       string
	Status    int    // the HTTP status answered
	Outcome   string // allowed, refused or failed
	Reason    string // why it was refused or failed
	Source    string // the client's address
	Detail    string // what the request asked, beyond its path: the step retried, a mark's verdict
}

// AuditFilter selects audit entries; empty fields match everything.
type AuditFilter struct {
	Migration string
	Candidate string
	Actor     string
	Since     time.Time // entries at or after
	Before    string    // entries with an id less than this (paging)
	Limit     int       // at most this many, newest first
}

// Matches reports whether e passes f (but Limit).
func (f AuditFilter) Matches(e AuditEntry) bool {
	return (f.Migration == "" || e.Migration == f.Migration) &&
		(f.Candidate == "" || e.Candidate == f.Candidate) &&
		(f.Actor == "" || e.Actor == f.Actor) &&
		(f.Since.IsZero() || !e.At.Before(f.Since)) &&
		(f.Before == "" || e.ID < f.Before)
}
