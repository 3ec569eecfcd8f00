// Package storetest is the conformance suite of access.Store: every implementation must pass
// Run. It pins down what the port leaves open: times round-trip to the millisecond (returned
// in any zone), zero times stay zero, empty slices come back nil, creating a token whose id or
// hash is taken fails, a non-positive FirstSeen ttl fails, a session whose ExpiresAt has
// passed (a zero one included) is not found, re-appending an audit id replaces the entry, and
// a zero keepSince keeps every entry.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/access"
)

// pollTimeout bounds the loops that wait for something to expire.
const pollTimeout = 5 * time.Second

// base is the suite's reference time: its sub-millisecond part (123.456µs) checks the
// millisecond round trip without depending on how a store rounds below that.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535_123_456, time.UTC)

// elsewhere is a zone other than UTC, for inputs a store must not read as UTC.
var elsewhere = time.FixedZone("UTC+5:30", 5*3600+30*60)

// Run runs the conformance suite; open returns a new, empty store for each subtest (and
// registers its clean-up on t).
func Run(t *testing.T, open func(t *testing.T) access.Store) {
	t.Run("Ping", func(t *testing.T) { require.NoError(t, open(t).Ping(context.Background())) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, open) })
	t.Run("Migrators", func(t *testing.T) { testMigrators(t, open) })
	t.Run("Ownership", func(t *testing.T) { testOwnership(t, open) })
	t.Run("FirstSeen", func(t *testing.T) { testFirstSeen(t, open) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, open) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, open) })
}

// ms is t as the suite compares it: UTC, to the millisecond (the zero time stays zero).
func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func normToken(t access.Token) access.Token {
	t.CreatedAt, t.ExpiresAt = ms(t.CreatedAt), ms(t.ExpiresAt)
	return t
}

func normTokens(ts []access.Token) []access.Token {
	var out []access.Token
	for _, t := range ts {
		out = append(out, normToken(t))
	}
	return out
}

func normMigrator(m access.Migrator) access.Migrator {
	m.CreatedAt, m.RevokedAt = ms(m.CreatedAt), ms(m.RevokedAt)
	var secrets []access.Secret
	for _, s := range m.Secrets {
		s.CreatedAt, s.ExpiresAt = ms(s.CreatedAt), ms(s.ExpiresAt)
		secrets = append(secrets, s)
	}
	m.Secrets = secrets
	return m
}

func normSession(s access.Session) access.Session {
	s.CreatedAt, s.ExpiresAt = ms(s.CreatedAt), ms(s.ExpiresAt)
	return s
}

func normEntries(es []access.AuditEntry) []access.AuditEntry {
	var out []access.AuditEntry
	for _, e := range es {
		e.At = ms(e.At)
		out = append(out, e)
	}
	return out
}

func token(id string, created time.Time) access.Token {
	return access.Token{ID: id, Name: "token " + id, Role: access.RoleOperator, Hash: "hash-" + id,
		CreatedAt: created, CreatedBy: "operator:admin"}
}

func testTokens(t *testing.T, open func(t *testing.T) access.Store) {
	ctx := context.Background()

	t.Run("RoundTrip", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			expires time.Time
		}{
			{"does not expire", time.Time{}},
			{"expires", base.Add(24 * time.Hour).In(elsewhere)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				want := token("t1", base.In(elsewhere))
				want.ExpiresAt = tc.expires
				require.NoError(t, s.CreateToken(ctx, want))
				got, err := s.TokenByHash(ctx, want.Hash)
				require.NoError(t, err)
				require.Equal(t, normToken(want), normToken(got))
				require.Equal(t, tc.expires.IsZero(), got.ExpiresAt.IsZero())
			})
		}
	})

	t.Run("TokenByHashNotFound", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.CreateToken(ctx, token("t1", base)))
		require.NoError(t, s.CreateToken(ctx, token("t2", base)))
		require.NoError(t, s.DeleteToken(ctx, "t2"))
		for _, hash := range []string{"hash-never", "hash-t2", "", "t1"} {
			_, err := s.TokenByHash(ctx, hash)
			require.ErrorIs(t, err, access.ErrNotFound, "hash %q", hash)
		}
	})

	t.Run("DeleteToken", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.CreateToken(ctx, token("t1", base)))
		require.NoError(t, s.CreateToken(ctx, token("t2", base)))
		require.NoError(t, s.DeleteToken(ctx, "t1"))
		require.ErrorIs(t, s.DeleteToken(ctx, "t1"), access.ErrNotFound)
		require.ErrorIs(t, s.DeleteToken(ctx, "never"), access.ErrNotFound)
		list, err := s.ListTokens(ctx)
		require.NoError(t, err)
		require.Equal(t, normTokens([]access.Token{token("t2", base)}), normTokens(list))
		// The deleted token's hash is free again.
		require.NoError(t, s.CreateToken(ctx, token("t1", base)))
	})

	t.Run("CreateTokenRefusesTakenIDOrHash", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			again access.Token
		}{
			{"same id", access.Token{ID: "t1", Name: "other", Role: access.RoleAdmin, Hash: "hash-other", CreatedAt: base}},
			{"same hash", access.Token{ID: "t2", Name: "other", Role: access.RoleAdmin, Hash: "hash-t1", CreatedAt: base}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				first := token("t1", base)
				require.NoError(t, s.CreateToken(ctx, first))
				err := s.CreateToken(ctx, tc.again)
				require.Error(t, err)
				require.NotErrorIs(t, err, access.ErrNotFound)
				list, err := s.ListTokens(ctx)
				require.NoError(t, err)
				require.Equal(t, normTokens([]access.Token{first}), normTokens(list))
				_, err = s.TokenByHash(ctx, "hash-other")
				require.ErrorIs(t, err, access.ErrNotFound)
			})
		}
	})

	t.Run("ListTokensOrder", func(t *testing.T) {
		s := open(t)
		list, err := s.ListTokens(ctx)
		require.NoError(t, err)
		require.Nil(t, list, "no tokens")
		// Created out of order; b and c share a CreatedAt, so the ID decides.
		in := []access.Token{token("c", base.Add(time.Minute)), token("d", base.Add(time.Hour)),
			token("a", base.Add(2*time.Hour)), token("b", base.Add(time.Minute)), token("e", base)}
		for _, tk := range in {
			require.NoError(t, s.CreateToken(ctx, tk))
		}
		list, err = s.ListTokens(ctx)
		require.NoError(t, err)
		require.Equal(t, normTokens([]access.Token{in[4], in[3], in[0], in[1], in[2]}), normTokens(list))
	})
}

func migrator(id string, created time.Time) access.Migrator {
	return access.Migrator{ID: id, Name: "migrator " + id, Migrations: []string{"deps-*", "exact"},
		Secrets:   []access.Secret{{Value: "whsec_" + id, CreatedAt: created}},
		CreatedAt: created, CreatedBy: "operator:admin"}
}

func testMigrators(t *testing.T, open func(t *testing.T) access.Store) {
	ctx := context.Background()

	t.Run("RoundTrip", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			m    access.Migrator
		}{
			{"fresh", migrator("m1", base)},
			{"rotated and revoked", access.Migrator{ID: "m1", Name: "rotated", Migrations: []string{"a", "b*", "c"},
				Secrets: []access.Secret{
					{Value: "whsec_old", CreatedAt: base.In(elsewhere), ExpiresAt: base.Add(time.Hour).In(elsewhere)},
					{Value: "whsec_new", CreatedAt: base.Add(time.Minute)},
				},
				AllowUnsigned: true, CreatedAt: base, CreatedBy: "drover", RevokedAt: base.Add(2 * time.Hour)}},
			{"empty slices", access.Migrator{ID: "m1", Migrations: []string{}, Secrets: []access.Secret{}, CreatedAt: base}},
			{"zero times", access.Migrator{ID: "m1", Name: "zero", Migrations: []string{"x"}, Secrets: []access.Secret{{Value: "whsec_x"}}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				require.NoError(t, s.PutMigrator(ctx, tc.m))
				got, err := s.GetMigrator(ctx, tc.m.ID)
				require.NoError(t, err)
				want := normMigrator(tc.m)
				if len(want.Migrations) == 0 {
					want.Migrations = nil // empty slices come back nil
				}
				require.Equal(t, want, normMigrator(got))
				if len(tc.m.Secrets) == 0 {
					require.Nil(t, got.Secrets)
				}
				require.Equal(t, tc.m.RevokedAt.IsZero(), got.RevokedAt.IsZero())
				require.Equal(t, tc.m.CreatedAt.IsZero(), got.CreatedAt.IsZero())
				for i, sec := range tc.m.Secrets {
					require.Equal(t, sec.ExpiresAt.IsZero(), got.Secrets[i].ExpiresAt.IsZero())
				}
			})
		}
	})

	t.Run("GetMigratorNotFound", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.PutMigrator(ctx, migrator("m1", base)))
		_, err := s.GetMigrator(ctx, "m2")
		require.ErrorIs(t, err, access.ErrNotFound)
	})

	t.Run("PutMigratorReplaces", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.PutMigrator(ctx, migrator("m1", base)))
		replaced := migrator("m1", base.Add(time.Hour))
		replaced.Name, replaced.Migrations, replaced.RevokedAt = "renamed", []string{"only"}, base.Add(2*time.Hour)
		replaced.Secrets = append(replaced.Secrets, access.Secret{Value: "whsec_2", CreatedAt: base.Add(time.Hour)})
		require.NoError(t, s.PutMigrator(ctx, replaced))
		got, err := s.GetMigrator(ctx, "m1")
		require.NoError(t, err)
		require.Equal(t, normMigrator(replaced), normMigrator(got))
		list, err := s.ListMigrators(ctx)
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, normMigrator(replaced), normMigrator(list[0]))
	})

	t.Run("ListMigratorsOrder", func(t *testing.T) {
		s := open(t)
		list, err := s.ListMigrators(ctx)
		require.NoError(t, err)
		require.Nil(t, list, "no migrators")
		revoked := migrator("z", base)
		revoked.RevokedAt = base.Add(time.Second)
		in := []access.Migrator{migrator("c", base.Add(time.Minute)), revoked, migrator("a", base.Add(time.Hour)), migrator("b", base.Add(time.Minute))}
		for _, m := range in {
			require.NoError(t, s.PutMigrator(ctx, m))
		}
		list, err = s.ListMigrators(ctx)
		require.NoError(t, err)
		var got, want []access.Migrator
		for _, m := range list {
			got = append(got, normMigrator(m))
		}
		for _, m := range []access.Migrator{revoked, in[3], in[0], in[2]} {
			want = append(want, normMigrator(m))
		}
		require.Equal(t, want, got)
	})
}

func testOwnership(t *testing.T, open func(t *testing.T) access.Store) {
	ctx := context.Background()

	t.Run("FirstClaimWins", func(t *testing.T) {
		s := open(t)
		owner, err := s.MigrationOwner(ctx, "mig")
		require.NoError(t, err)
		require.Empty(t, owner, "no owner before a claim")
		for _, tc := range []struct{ migration, migrator, owner string }{
			{"mig", "a", "a"},
			{"mig", "b", "a"}, // taken
			{"mig", "a", "a"}, // idempotent for the owner
			{"other", "b", "b"},
		} {
			owner, err := s.ClaimMigration(ctx, tc.migration, tc.migrator)
			require.NoError(t, err)
			require.Equal(t, tc.owner, owner, "%s claims %s", tc.migrator, tc.migration)
			owner, err = s.MigrationOwner(ctx, tc.migration)
			require.NoError(t, err)
			require.Equal(t, tc.owner, owner)
		}
	})

	t.Run("ConcurrentClaims", func(t *testing.T) {
		s := open(t)
		const n = 20
		owners, errs := make([]string, n), make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				owners[i], errs[i] = s.ClaimMigration(ctx, "contested", fmt.Sprintf("migrator-%02d", i))
			})
		}
		close(start)
		wg.Wait()
		winners := 0
		for i := range n {
			require.NoError(t, errs[i])
			require.Equal(t, owners[0], owners[i], "every claimant sees the same owner")
			if owners[i] == fmt.Sprintf("migrator-%02d", i) {
				winners++
			}
		}
		require.Equal(t, 1, winners)
		owner, err := s.MigrationOwner(ctx, "contested")
		require.NoError(t, err)
		require.Equal(t, owners[0], owner)
	})
}

func testFirstSeen(t *testing.T, open func(t *testing.T) access.Store) {
	ctx := context.Background()

	t.Run("TrueThenFalse", func(t *testing.T) {
		s := open(t)
		for _, tc := range []struct {
			key  string
			want bool
		}{{"msg:a:1", true}, {"msg:a:1", false}, {"msg:a:2", true}, {"msg:b:1", true}, {"msg:a:1", false}} {
			first, err := s.FirstSeen(ctx, tc.key, time.Hour)
			require.NoError(t, err)
			require.Equal(t, tc.want, first, "key %s", tc.key)
		}
	})

	t.Run("TrueAgainAfterTTL", func(t *testing.T) {
		s := open(t)
		const ttl = 50 * time.Millisecond
		first, err := s.FirstSeen(ctx, "k", ttl)
		require.NoError(t, err)
		require.True(t, first)
		deadline := time.Now().Add(pollTimeout)
		for {
			first, err := s.FirstSeen(ctx, "k", ttl)
			require.NoError(t, err)
			if first {
				break
			}
			require.True(t, time.Now().Before(deadline), "key still seen %s after a %s ttl", pollTimeout, ttl)
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		s := open(t)
		const n = 20
		firsts, errs := make([]bool, n), make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				firsts[i], errs[i] = s.FirstSeen(ctx, "replayed", time.Hour)
			})
		}
		close(start)
		wg.Wait()
		count := 0
		for i := range n {
			require.NoError(t, errs[i])
			if firsts[i] {
				count++
			}
		}
		require.Equal(t, 1, count, "exactly one caller sees the key first")
	})

	t.Run("NonPositiveTTL", func(t *testing.T) {
		s := open(t)
		for _, ttl := range []time.Duration{0, -time.Second} {
			_, err := s.FirstSeen(ctx, "k", ttl)
			require.Error(t, err, "ttl %s", ttl)
		}
	})
}

func session(id string, expires time.Time) access.Session {
	return access.Session{ID: id, Subject: "sub-" + id, Name: "user@example.com", Role: access.RoleViewer,
		CSRF: "csrf-" + id, CreatedAt: time.Now().Add(-time.Minute), ExpiresAt: expires}
}

func testSessions(t *testing.T, open func(t *testing.T) access.Store) {
	ctx := context.Background()

	t.Run("RoundTripReplaceDelete", func(t *testing.T) {
		s := open(t)
		_, err := s.GetSession(ctx, "s1")
		require.ErrorIs(t, err, access.ErrNotFound)
		want := session("s1", time.Now().Add(time.Hour).In(elsewhere))
		require.NoError(t, s.PutSession(ctx, want))
		got, err := s.GetSession(ctx, "s1")
		require.NoError(t, err)
		require.Equal(t, normSession(want), normSession(got))

		replaced := want
		replaced.Role, replaced.CSRF, replaced.ExpiresAt = access.RoleAdmin, "csrf-2", time.Now().Add(2*time.Hour)
		require.NoError(t, s.PutSession(ctx, replaced))
		got, err = s.GetSession(ctx, "s1")
		require.NoError(t, err)
		require.Equal(t, normSession(replaced), normSession(got))

		require.NoError(t, s.PutSession(ctx, session("s2", time.Now().Add(time.Hour))))
		require.NoError(t, s.DeleteSession(ctx, "s1"))
		_, err = s.GetSession(ctx, "s1")
		require.ErrorIs(t, err, access.ErrNotFound)
		require.NoError(t, s.DeleteSession(ctx, "s1"), "deleting a missing session is no error")
		_, err = s.GetSession(ctx, "s2")
		require.NoError(t, err, "other sessions stay")
	})

	t.Run("Expired", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			expires time.Time
		}{
			{"an hour ago", time.Now().Add(-time.Hour)},
			{"a millisecond ago", time.Now().Add(-time.Millisecond)},
			{"zero", time.Time{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				require.NoError(t, s.PutSession(ctx, session("s1", tc.expires)))
				_, err := s.GetSession(ctx, "s1")
				require.ErrorIs(t, err, access.ErrNotFound)
			})
		}
	})

	t.Run("ExpiredReplacesLive", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.PutSession(ctx, session("s1", time.Now().Add(time.Hour))))
		require.NoError(t, s.PutSession(ctx, session("s1", time.Now().Add(-time.Second))))
		_, err := s.GetSession(ctx, "s1")
		require.ErrorIs(t, err, access.ErrNotFound)
	})

	t.Run("ExpiresAtItsTime", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.PutSession(ctx, session("s1", time.Now().Add(100*time.Millisecond))))
		_, err := s.GetSession(ctx, "s1")
		require.NoError(t, err)
		deadline := time.Now().Add(pollTimeout)
		for {
			_, err := s.GetSession(ctx, "s1")
			if err != nil {
				require.ErrorIs(t, err, access.ErrNotFound)
				break
			}
			require.True(t, time.Now().Before(deadline), "session still there %s after its ExpiresAt", pollTimeout)
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// entry is an audit entry i seconds after base; its id orders like its time.
func entry(i int, migration, candidate, actor string) access.AuditEntry {
	return access.AuditEntry{ID: fmt.Sprintf("e%06d", i), At: base.Add(time.Duration(i) * time.Second),
		Actor: actor, ActorName: "name of " + actor, Role: access.RoleOperator, Action: "startRun", Method: "POST",
		Path: "/api/v1/migrations/" + migration + "/candidates/" + candidate + "/run", Migration: migration,
		Candidate: candidate, Run: "run-" + candidate, Status: 202, Outcome: "allowed", Source: "127.0.0.1", Detail: "step " + candidate}
}

func appendAll(t *testing.T, s access.Store, es ...access.AuditEntry) {
	t.Helper()
	for _, e := range es {
		require.NoError(t, s.AppendAudit(context.Background(), e, time.Time{}))
	}
}

func query(t *testing.T, s access.Store, f access.AuditFilter) []access.AuditEntry {
	t.Helper()
	es, err := s.QueryAudit(context.Background(), f)
	require.NoError(t, err)
	return es
}

// newestFirst returns es in reverse.
func newestFirst(es ...access.AuditEntry) []access.AuditEntry {
	out := make([]access.AuditEntry, 0, len(es))
	for i := len(es) - 1; i >= 0; i-- {
		out = append(out, es[i])
	}
	return out
}

func testAudit(t *testing.T, open func(t *testing.T) access.Store) {
	ctx := context.Background()

	t.Run("RoundTrip", func(t *testing.T) {
		s := open(t)
		require.Nil(t, query(t, s, access.AuditFilter{}), "empty log")
		full := entry(1, "m1", "c1", "operator:token:t1")
		full.At = full.At.In(elsewhere)
		full.Role, full.Status, full.Outcome, full.Reason = access.RoleViewer, 403, "refused", "needs operator"
		sparse := access.AuditEntry{ID: "e000002", At: base.Add(2 * time.Second), Actor: "anonymous"}
		appendAll(t, s, full, sparse)
		require.Equal(t, normEntries(newestFirst(full, sparse)), normEntries(query(t, s, access.AuditFilter{})))
	})

	t.Run("NewestByID", func(t *testing.T) {
		s := open(t)
		es := []access.AuditEntry{entry(3, "m", "c", "a"), entry(1, "m", "c", "a"), entry(10, "m", "c", "a"), entry(2, "m", "c", "a")}
		appendAll(t, s, es...)
		require.Equal(t, normEntries([]access.AuditEntry{es[2], es[0], es[3], es[1]}), normEntries(query(t, s, access.AuditFilter{})))
	})

	t.Run("SameIDReplaces", func(t *testing.T) {
		s := open(t)
		first := entry(1, "m", "c", "a")
		again := first
		again.Status, again.Outcome = 500, "failed"
		appendAll(t, s, first, again)
		require.Equal(t, normEntries([]access.AuditEntry{again}), normEntries(query(t, s, access.AuditFilter{})))
	})

	t.Run("Filters", func(t *testing.T) {
		s := open(t)
		es := []access.AuditEntry{
			entry(0, "m1", "c1", "operator:alice"),
			entry(1, "m1", "c2", "migrator:bob"),
			entry(2, "m2", "c1", "operator:alice"),
			entry(3, "m2", "c2", "anonymous"),
			entry(4, "m1", "c1", "migrator:bob"),
			entry(5, "", "", "operator:alice"),
		}
		appendAll(t, s, es...)
		for _, tc := range []struct {
			name string
			f    access.AuditFilter
			want []access.AuditEntry
		}{
			{"everything", access.AuditFilter{}, newestFirst(es...)},
			{"migration", access.AuditFilter{Migration: "m1"}, newestFirst(es[0], es[1], es[4])},
			{"candidate", access.AuditFilter{Candidate: "c2"}, newestFirst(es[1], es[3])},
			{"actor", access.AuditFilter{Actor: "operator:alice"}, newestFirst(es[0], es[2], es[5])},
			{"since", access.AuditFilter{Since: es[3].At.In(elsewhere)}, newestFirst(es[3], es[4], es[5])},
			{"since between entries", access.AuditFilter{Since: es[3].At.Add(-time.Millisecond)}, newestFirst(es[3], es[4], es[5])},
			{"before", access.AuditFilter{Before: es[2].ID}, newestFirst(es[0], es[1])},
			{"before an id not stored", access.AuditFilter{Before: "e000002x"}, newestFirst(es[0], es[1], es[2])},
			{"migration and candidate", access.AuditFilter{Migration: "m1", Candidate: "c1"}, newestFirst(es[0], es[4])},
			{"every field", access.AuditFilter{Migration: "m1", Candidate: "c1", Actor: "migrator:bob", Since: es[1].At, Before: es[5].ID}, newestFirst(es[4])},
			{"limit", access.AuditFilter{Actor: "operator:alice", Limit: 2}, newestFirst(es[2], es[5])},
			{"no match", access.AuditFilter{Migration: "m3"}, nil},
			{"since after everything", access.AuditFilter{Since: es[5].At.Add(time.Second)}, nil},
			{"before everything", access.AuditFilter{Before: es[0].ID}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := query(t, s, tc.f)
				if tc.want == nil {
					require.Nil(t, got)
					return
				}
				require.Equal(t, normEntries(tc.want), normEntries(got))
			})
		}
	})

	t.Run("Paging", func(t *testing.T) {
		s := open(t)
		var es []access.AuditEntry
		for i := range 23 {
			es = append(es, entry(i, fmt.Sprintf("m%d", i%2), "c", "a"))
		}
		appendAll(t, s, es...)
		for _, tc := range []struct {
			name string
			f    access.AuditFilter
			want []access.AuditEntry
		}{
			{"all", access.AuditFilter{Limit: 5}, newestFirst(es...)},
			{"filtered", access.AuditFilter{Migration: "m1", Limit: 3}, newestFirst(es[1], es[3], es[5], es[7], es[9], es[11], es[13], es[15], es[17], es[19], es[21])},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var got []access.AuditEntry
				f := tc.f
				for pages := 0; ; pages++ {
					require.Less(t, pages, 100, "paging does not end")
					page := query(t, s, f)
					require.LessOrEqual(t, len(page), f.Limit)
					if len(page) == 0 {
						break
					}
					got = append(got, page...)
					f.Before = page[len(page)-1].ID
				}
				require.Equal(t, normEntries(tc.want), normEntries(got))
			})
		}
	})

	t.Run("LimitBounds", func(t *testing.T) {
		s := open(t)
		const n = 1005
		for i := range n {
			require.NoError(t, s.AppendAudit(ctx, entry(i, "m", "c", "a"), time.Time{}))
		}
		for _, tc := range []struct {
			limit, want int
		}{{0, 1000}, {-1, 1000}, {1, 1}, {999, 999}, {1000, 1000}, {1001, 1000}, {1 << 30, 1000}} {
			got := query(t, s, access.AuditFilter{Limit: tc.limit})
			require.Len(t, got, tc.want, "limit %d", tc.limit)
			require.Equal(t, entry(n-1, "m", "c", "a").ID, got[0].ID, "newest first")
		}
	})

	t.Run("Retention", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			keepSince time.Time
			kept      []int // of entries 0..3, appended with a zero keepSince before entry 4
		}{
			{"drops older", base.Add(2500 * time.Millisecond), []int{3}},
			{"keeps at keepSince", base.Add(2 * time.Second).In(elsewhere), []int{2, 3}},
			{"between entries", base.Add(1500 * time.Millisecond), []int{2, 3}},
			{"drops all but the new one", base.Add(4 * time.Second), nil},
			{"zero keeps everything", time.Time{}, []int{0, 1, 2, 3}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				var es []access.AuditEntry
				for i := range 4 {
					es = append(es, entry(i, "m", "c", "a"))
				}
				appendAll(t, s, es...)
				last := entry(4, "m", "c", "a")
				require.NoError(t, s.AppendAudit(ctx, last, tc.keepSince))
				var want []access.AuditEntry
				for _, i := range tc.kept {
					want = append(want, es[i])
				}
				want = append(want, last)
				require.Equal(t, normEntries(newestFirst(want...)), normEntries(query(t, s, access.AuditFilter{})))
			})
		}
	})

	t.Run("RetentionDropsTheNewEntryWhenOld", func(t *testing.T) {
		s := open(t)
		appendAll(t, s, entry(5, "m", "c", "a"))
		require.NoError(t, s.AppendAudit(ctx, entry(1, "m", "c", "a"), base.Add(3*time.Second)))
		require.Equal(t, normEntries([]access.AuditEntry{entry(5, "m", "c", "a")}), normEntries(query(t, s, access.AuditFilter{})))
	})
}
