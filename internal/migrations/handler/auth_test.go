package handler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/access"
	accessstore "github.com/drover-dev/drover/internal/access/store"
	"github.com/drover-dev/drover/internal/migrations/handler"
	"github.com/drover-dev/drover/internal/testsupport"
	"github.com/drover-dev/drover/pkg/api"
	"github.com/drover-dev/drover/pkg/migrator/signature"
)

const adminToken = "drv_test-bootstrap-admin-token"

// openAccess returns the trust model over an in-memory store.
func openAccess(t *testing.T, cfg access.Config) *access.Service {
	t.Helper()
	as, err := accessstore.OpenSQLite(":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { _ = as.Close() })
	return access.NewService(as, cfg, nil)
}

// authEnv is a Drover with authentication on: a bootstrap admin, a viewer's and an operator's
// token, migrator A (which announced the fixture and owns it) and migrator B (allowed the same
// ids, but not the owner).
type authEnv struct {
	*env
	acc                      *access.Service
	anon, admin, viewer      *testsupport.API
	operator, migA, migB     *testsupport.API
	viewerID, migAID, migBID string
	secretA                  string
	webhookID                string
}

func newAuthEnv(t *testing.T, cfg handler.Config) *authEnv {
	t.Helper()
	acc := openAccess(t, access.Config{RequireAuth: true, AdminToken: adminToken})
	cfg.Access = acc
	base := startEnv(t, cfg)
	anon := base.api
	base.api = anon.As(adminToken)
	e := &authEnv{env: base, acc: acc, anon: anon}
	m := base.migrator
	e.admin = e.api
	var tok api.CreatedToken
	r := e.admin.Do(t, http.MethodPost, "/admin/tokens", map[string]any{"name": "vera", "role": "viewer"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	r.JSON(t, &tok)
	e.viewer, e.viewerID = anon.As(tok.Token), tok.Id
	r = e.admin.Do(t, http.MethodPost, "/admin/tokens", map[string]any{"name": "otto", "role": "operator", "expiresIn": "30d"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	r.JSON(t, &tok)
	e.operator = anon.As(tok.Token)
	var cred api.CreatedMigratorCredential
	r = e.admin.Do(t, http.MethodPost, "/admin/migrators", map[string]any{"name": "topics", "migrations": []string{mig}})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	r.JSON(t, &cred)
	e.migA, e.migAID, e.secretA = anon.Signed(cred.Secret), cred.Id, cred.Secret
	r = e.admin.Do(t, http.MethodPost, "/admin/migrators", map[string]any{"name": "mallory", "migrations": []string{"topic-*"}})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	r.JSON(t, &cred)
	e.migB, e.migBID = anon.Signed(cred.Secret), cred.Id
	r = e.migA.Do(t, http.MethodPost, "/registry/announce", announcement(m.URL))
	require.Equal(t, http.StatusOK, r.Status, "announce the fixture as migrator A: %s", r.Body)
	var hook api.CreatedWebhook
	r = e.admin.Do(t, http.MethodPost, "/admin/webhooks", map[string]any{"url": "https://hooks.example.com/on-call", "format": "slack"})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	r.JSON(t, &hook)
	e.webhookID = hook.Id
	// svc-b has a failed first step (retry), svc-c waits on a pending one (events, mark done).
	e.beginRun("svc-b", step("open-pr", api.StepStatusFailed))
	e.beginRun("svc-c", api.StepState{StepName: "open-pr", Status: api.StepStatusPending, Attempts: 1, DispatchId: "d-1"})
	// A rollout of svc-b and svc-c, running, to steer.
	e.seedRollout(fixtureRollout, api.RolloutStatusRunning, map[string]api.RolloutMemberStatus{"svc-b": api.RolloutMemberStatusFailed, "svc-c": api.RolloutMemberStatusRunning})
	e.seedRollout("ro-paused", api.RolloutStatusPaused, map[string]api.RolloutMemberStatus{"svc-b": api.RolloutMemberStatusFailed})
	e.seedRollout("ro-approval", api.RolloutStatusWaitingForApproval, map[string]api.RolloutMemberStatus{"svc-c": api.RolloutMemberStatusRunning})
	return e
}

// snapshot is everything a refused request must leave as it was.
func (e *authEnv) snapshot(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, p := range []string{"/migrations/" + mig, "/migrations/" + mig + "/candidates", "/migrations/" + mig + "/candidates/svc-b/steps",
		"/migrations/" + mig + "/candidates/svc-c/steps", "/migrations/" + mig + "/rollouts", "/admin/tokens", "/admin/migrators", "/admin/webhooks"} {
		r := e.admin.Do(t, http.MethodGet, p, nil)
		fmt.Fprintf(&b, "%s %d %s\n", p, r.Status, r.Body)
	}
	e.engine.mu.Lock()
	fmt.Fprintf(&b, "engine: %d starts, %d signals, %d cancels, %d rollouts, %d rollout commands\n", len(e.engine.starts), len(e.engine.signals),
		len(e.engine.cancels), len(e.engine.rollouts), len(e.engine.rolloutCmds))
	e.engine.mu.Unlock()
	fmt.Fprintf(&b, "notifications enqueued: %d\n", e.queue.count())
	return b.String()
}

type caller string

const (
	anonymous caller = "anonymous"
	viewer    caller = "viewer"
	operator  caller = "operator"
	admin     caller = "admin"
	migratorA caller = "migrator"
	migratorB caller = "another migrator"
)

var callers = []caller{anonymous, viewer, operator, admin, migratorA, migratorB}

func (e *authEnv) as(c caller) *testsupport.API {
	return map[caller]*testsupport.API{anonymous: e.anon, viewer: e.viewer, operator: e.operator, admin: e.admin, migratorA: e.migA, migratorB: e.migB}[c]
}

// matrixRoute is one operation called with a request that succeeds for an allowed caller.
type matrixRoute struct {
	need   access.Need
	method string
	path   func(e *authEnv) string
	body   func(e *authEnv) any
	ok     int // the status an allowed caller gets
}

func fixed(p string) func(*authEnv) string { return func(*authEnv) string { return p } }
func body(v any) func(*authEnv) any        { return func(*authEnv) any { return v } }

var matrix = []matrixRoute{
	{access.NeedPublic, http.MethodGet, fixed("/healthz"), nil, 200},
	{access.NeedPublic, http.MethodGet, fixed("/readyz"), nil, 200},
	{access.NeedPublic, http.MethodGet, fixed("/auth/me"), nil, 200},
	{access.NeedPublic, http.MethodGet, fixed("/auth/login"), nil, 404},    // no single sign-on configured here
	{access.NeedPublic, http.MethodGet, fixed("/auth/callback"), nil, 404}, // (internal/platform/oidc tests the flow)
	{access.NeedPublic, http.MethodPost, fixed("/auth/logout"), nil, 204},
	{access.NeedViewer, http.MethodGet, fixed("/migrations"), nil, 200},
	{access.NeedViewer, http.MethodGet, fixed("/migrations/" + mig), nil, 200},
	{access.NeedViewer, http.MethodGet, fixed("/migrations/" + mig + "/candidates"), nil, 200},
	{access.NeedViewer, http.MethodGet, fixed("/migrations/" + mig + "/progress"), nil, 200},
	{access.NeedViewer, http.MethodGet, fixed("/migrations/" + mig + "/candidates/svc-a"), nil, 200},
	{access.NeedViewer, http.MethodGet, fixed("/migrations/" + mig + "/candidates/svc-b/steps"), nil, 200},
	{access.NeedViewer, http.MethodGet, fixed("/migrations/" + mig + "/candidates/svc-b/history"), nil, 200},
	{access.NeedViewer, http.MethodGet, fixed("/migrations/" + mig + "/insights"), nil, 200},
	{access.NeedViewer, http.MethodGet, fixed("/insights"), nil, 200},
	{access.NeedViewer, http.MethodGet, fixed("/migrations/" + mig + "/events"), nil, 200}, // streams: only the status is read
	{access.NeedViewer, http.MethodGet, fixed("/events"), nil, 200},
	{access.NeedViewer, http.MethodGet, fixed("/audit"), nil, 200},
	{access.NeedViewer, http.MethodGet, fixed("/metrics"), nil, 404}, // no metrics in this server (internal/e2e scrapes a real one)
	{access.NeedOperator, http.MethodPost, fixed("/migrations/" + mig + "/candidates/svc-a/start"), body(map[string]any{"inputs": map[string]string{"ticket": "T-2"}}), 202},
	{access.NeedOperator, http.MethodPost, fixed("/migrations/" + mig + "/candidates/svc-b/cancel"), nil, 204},
	{access.NeedOperator, http.MethodPost, fixed("/migrations/" + mig + "/candidates/svc-b/retry-step"), body(map[string]any{"stepName": "open-pr"}), 202},
	{access.NeedOperator, http.MethodPatch, fixed("/migrations/" + mig + "/candidates/svc-c/inputs"), body(map[string]any{"inputs": map[string]string{"ticket": "T-3"}}), 204},
	{access.NeedOperator, http.MethodPost, fixed("/migrations/" + mig + "/dry-run"), body(map[string]any{"candidate": map[string]any{"id": "svc-a"}}), 200},
	{access.NeedOperator, http.MethodPost, fixed("/migrations/" + mig + "/candidates/svc-c/steps/open-pr/complete"), body(map[string]any{"status": "succeeded", "note": "looks good"}), 202},
	{access.NeedViewer, http.MethodGet, fixed("/migrations/" + mig + "/rollouts"), nil, 200},
	{access.NeedViewer, http.MethodGet, fixed("/migrations/" + mig + "/rollouts/" + fixtureRollout), nil, 200},
	{access.NeedOperator, http.MethodPost, fixed("/migrations/" + mig + "/rollouts"), body(map[string]any{"candidateIds": []string{"svc-a"}, "inputs": map[string]string{"ticket": "T-4"}}), 201},
	{access.NeedOperator, http.MethodPost, fixed("/migrations/" + mig + "/rollouts/" + fixtureRollout + "/pause"), nil, 202},
	{access.NeedOperator, http.MethodPost, fixed("/migrations/" + mig + "/rollouts/ro-paused/resume"), nil, 202},
	{access.NeedOperator, http.MethodPost, fixed("/migrations/" + mig + "/rollouts/ro-approval/approve"), nil, 202},
	{access.NeedOperator, http.MethodPost, fixed("/migrations/" + mig + "/rollouts/" + fixtureRollout + "/cancel"), body(map[string]any{"cancelRuns": true}), 202},
	{access.NeedOperator, http.MethodPost, fixed("/migrations/" + mig + "/rollouts/" + fixtureRollout + "/retry-failed"), nil, 202},
	{access.NeedOperator, http.MethodPost, fixed("/migrations/" + mig + "/cancel-runs"), body(map[string]any{"candidateIds": []string{"svc-a"}}), 202},
	{access.NeedAdmin, http.MethodGet, fixed("/admin/tokens"), nil, 200},
	{access.NeedAdmin, http.MethodPost, fixed("/admin/tokens"), body(map[string]any{"name": "ci", "role": "operator"}), 201},
	{access.NeedAdmin, http.MethodDelete, func(e *authEnv) string { return "/admin/tokens/" + e.viewerID }, nil, 204},
	{access.NeedAdmin, http.MethodGet, fixed("/admin/migrators"), nil, 200},
	{access.NeedAdmin, http.MethodPost, fixed("/admin/migrators"), body(map[string]any{"name": "team-a", "migrations": []string{"team-a-*"}}), 201},
	{access.NeedAdmin, http.MethodPost, func(e *authEnv) string { return "/admin/migrators/" + e.migAID + "/rotate" }, body(map[string]any{"overlap": "1h"}), 200},
	{access.NeedAdmin, http.MethodDelete, func(e *authEnv) string { return "/admin/migrators/" + e.migBID }, nil, 204},
	{access.NeedAdmin, http.MethodGet, fixed("/admin/webhooks"), nil, 200},
	{access.NeedAdmin, http.MethodPost, fixed("/admin/webhooks"), body(map[string]any{"url": "https://hooks.example.com/x", "migrationId": mig, "events": []string{"step_failed"}}), 201},
	{access.NeedAdmin, http.MethodDelete, func(e *authEnv) string { return "/admin/webhooks/" + e.webhookID }, nil, 204},
	{access.NeedAdmin, http.MethodGet, func(e *authEnv) string { return "/admin/webhooks/" + e.webhookID + "/deliveries" }, nil, 200},
	{access.NeedAdmin, http.MethodPost, func(e *authEnv) string { return "/admin/webhooks/" + e.webhookID + "/test" }, nil, 202},
	{access.NeedMigrator, http.MethodPost, fixed("/registry/announce"), func(e *authEnv) any { return announcement(e.migrator.URL) }, 200},
	{access.NeedMigrator, http.MethodPost, fixed("/migrations/" + mig + "/candidates"), body(map[string]any{"candidates": []any{map[string]any{"id": "svc-new", "kind": "service"}}}), 200},
	{access.NeedMigrator, http.MethodPost, fixed("/event/" + mig + "__svc-c"), body(map[string]any{"stepName": "open-pr", "candidateId": "svc-c", "status": "pending", "metadata": map[string]string{"prUrl": "https://example.com/pr/1"}}), 202},
}

// expected is the status a caller gets on a route of the given need.
func expected(need access.Need, c caller, ok int) int {
	switch need {
	case access.NeedPublic:
		return ok
	case access.NeedMigrator:
		switch c {
		case migratorA:
			return ok
		case migratorB:
			return http.StatusForbidden // allowed the id, but A owns the migration
		}
		return http.StatusUnauthorized // a token is no signature
	}
	if c == anonymous || c == migratorA || c == migratorB {
		return http.StatusUnauthorized // a signature is no operator's credential
	}
	if access.Role(c).Covers(need.Role()) {
		return ok
	}
	return http.StatusForbidden
}

// TestAuthorizationMatrix calls every route as every kind of caller, each on a fresh Drover:
// the exact status, no change at all after a refusal, and an audit entry for every
// state-changing request, naming the caller and the outcome.
func TestAuthorizationMatrix(t *testing.T) {
	covered := map[string]bool{}
	for _, rt := range matrix {
		for _, c := range callers {
			e := newAuthEnv(t, handler.Config{})
			path := rt.path(e)
			covered[rt.method+" "+path] = true
			t.Run(fmt.Sprintf("%s %s as %s", rt.method, path, c), func(t *testing.T) {
				want := expected(rt.need, c, rt.ok)
				before := e.snapshot(t)
				var b any
				if rt.body != nil {
					b = rt.body(e)
				}
				r := call(t, e.as(c), rt.method, path, b)
				require.Equal(t, want, r.Status, "%s", r.Body)
				if want == http.StatusUnauthorized || want == http.StatusForbidden {
					require.Equal(t, before, e.snapshot(t), "a refused request changed something")
					require.NotEmpty(t, r.Error(), "a refusal says why")
				}
				if rt.method == http.MethodGet {
					return
				}
				entries, err := e.acc.Audit(context.Background(), access.AuditFilter{Limit: 1})
				require.NoError(t, err)
				require.Len(t, entries, 1)
				got := entries[0]
				require.Equal(t, want, got.Status)
				require.Equal(t, path, got.Path)
				wantOutcome := "allowed"
				if want == http.StatusUnauthorized || want == http.StatusForbidden {
					wantOutcome = "refused"
				}
				require.Equal(t, wantOutcome, got.Outcome, "%+v", got)
				switch c {
				case anonymous:
					require.Equal(t, "anonymous", got.Actor)
				case migratorA:
					if rt.need == access.NeedMigrator {
						require.Equal(t, "migrator:"+e.migAID, got.Actor)
					}
				case migratorB:
					if rt.need == access.NeedMigrator {
						require.Equal(t, "migrator:"+e.migBID, got.Actor, "the refused migrator is named")
					}
				case admin:
					require.Equal(t, "operator:bootstrap-admin", got.Actor)
				case operator:
					require.True(t, strings.HasPrefix(got.Actor, "operator:token:tok_"), got.Actor)
				}
			})
		}
	}
	// Every operation of the spec is in the matrix.
	for _, op := range specOperations(t) {
		found := false
		for _, rt := range matrix {
			if rt.method == op.method && matchesTemplate(op.path, rt.path(&authEnv{viewerID: "x", migAID: "x", migBID: "x"})) {
				found = true
			}
		}
		require.True(t, found, "%s %s is missing from the authorization matrix", op.method, op.path)
	}
}

func matchesTemplate(tmpl, path string) bool {
	tp, pp := strings.Split(tmpl, "/"), strings.Split(path, "/")
	if len(tp) != len(pp) {
		return false
	}
	for i := range tp {
		if !strings.HasPrefix(tp[i], "{") && tp[i] != pp[i] {
			return false
		}
	}
	return true
}

// TestForgedAndReplayedCallbacks: a callback not proven by the owner's current secret changes
// nothing and is answered 401.
func TestForgedAndReplayedCallbacks(t *testing.T) {
	e := newAuthEnv(t, handler.Config{})
	ev := []byte(`{"stepName":"open-pr","candidateId":"svc-c","status":"merged","metadata":{"prUrl":"https://evil.example/pr"}}`)
	keyA, err := signature.ParseSecret(e.secretA)
	require.NoError(t, err)
	other, _ := signature.NewSecret()
	keyOther, _ := signature.ParseSecret(other)
	post := func(h http.Header, body []byte) (int, string) {
		h.Set("Content-Type", "application/json")
		return rawPost(t, e.anon.Base+"/event/"+mig+"__svc-c", h, "", body)
	}
	signed := func(keys [][]byte, id string, at time.Time, body []byte) http.Header {
		h := http.Header{}
		signature.SignHeaders(h, keys, id, at, body)
		return h
	}
	valid := signed([][]byte{keyA}, "msg_once", time.Now(), ev)
	before := e.snapshot(t)
	cases := []struct {
		name   string
		h      http.Header
		body   []byte
		reason string
	}{
		{"unsigned", http.Header{}, ev, "not signed"},
		{"signed with another secret", signed([][]byte{keyOther}, "msg_a", time.Now(), ev), ev, "matches no active migrator credential"},
		{"expired timestamp", signed([][]byte{keyA}, "msg_b", time.Now().Add(-10*time.Minute), ev), ev, "more than 5 minutes"},
		{"body changed after signing", valid, []byte(strings.Replace(string(ev), "merged", "failed", 1)), "matches no active migrator credential"},
		{"malformed signature", func() http.Header {
			h := signed([][]byte{keyA}, "msg_c", time.Now(), ev)
			h.Set("webhook-signature", "v1,!!!")
			return h
		}(), ev, "no v1 signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := post(tc.h.Clone(), tc.body)
			require.Equal(t, http.StatusUnauthorized, code, msg)
			require.Contains(t, msg, tc.reason)
		})
	}
	require.Equal(t, before, e.snapshot(t), "a forged callback changed something")
	// The genuine one is accepted once; the same message again is a replay.
	code, msg := post(valid.Clone(), ev)
	require.Equal(t, http.StatusAccepted, code, msg)
	after := e.snapshot(t)
	code, msg = post(valid.Clone(), ev)
	require.Equal(t, http.StatusUnauthorized, code, msg)
	require.Contains(t, msg, "seen before")
	require.Equal(t, after, e.snapshot(t))
	refused, err := e.acc.Audit(context.Background(), access.AuditFilter{Migration: mig, Candidate: "svc-c"})
	require.NoError(t, err)
	n := 0
	for _, en := range refused {
		if en.Action == "postStepEvent" && en.Outcome == "refused" {
			n++
		}
	}
	require.Equal(t, len(cases)+1, n, "every refused callback is in the audit log")
}

// TestHijack: another migrator can neither re-announce the migration (with its own URL) nor
// submit candidates to it, even though its credential's prefix covers the id; a revoked owner
// cannot act either, and nobody takes its migration over.
func TestHijack(t *testing.T) {
	e := newAuthEnv(t, handler.Config{})
	evil := announcement("http://evil.example")
	before := e.snapshot(t)
	r := e.migB.Do(t, http.MethodPost, "/registry/announce", evil)
	require.Equal(t, http.StatusForbidden, r.Status, "%s", r.Body)
	require.Contains(t, r.Error(), "belongs to another migrator")
	r = e.migB.Do(t, http.MethodPost, "/migrations/"+mig+"/candidates", map[string]any{"candidates": []any{map[string]any{"id": "x", "kind": "service"}}})
	require.Equal(t, http.StatusForbidden, r.Status, "%s", r.Body)
	require.Equal(t, before, e.snapshot(t))
	// B may announce a migration of its own within its prefix.
	own := announcement(e.migrator.URL)
	own["id"] = "topic-other"
	r = e.migB.Do(t, http.MethodPost, "/registry/announce", own)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	// But not outside it.
	own["id"] = "payments"
	r = e.migB.Do(t, http.MethodPost, "/registry/announce", own)
	require.Equal(t, http.StatusForbidden, r.Status, "%s", r.Body)
	require.Contains(t, r.Error(), "may not announce")
	// A revoked owner is refused, and its migration is not up for grabs.
	r = e.admin.Do(t, http.MethodDelete, "/admin/migrators/"+e.migAID, nil)
	require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Body)
	r = e.migA.Do(t, http.MethodPost, "/registry/announce", announcement(e.migrator.URL))
	require.Equal(t, http.StatusUnauthorized, r.Status, "%s", r.Body)
	r = e.migB.Do(t, http.MethodPost, "/registry/announce", evil)
	require.Equal(t, http.StatusForbidden, r.Status, "%s", r.Body)
}

// TestRotationOverlap: after a rotation both secrets verify until the overlap ends; with no
// overlap the old one stops at once.
func TestRotationOverlap(t *testing.T) {
	e := newAuthEnv(t, handler.Config{})
	var rot api.CreatedMigratorCredential
	r := e.admin.Do(t, http.MethodPost, "/admin/migrators/"+e.migAID+"/rotate", map[string]any{"overlap": "1h"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	r.JSON(t, &rot)
	require.NotEqual(t, e.secretA, rot.Secret)
	require.Len(t, rot.Secrets, 2)
	sub := map[string]any{"candidates": []any{map[string]any{"id": "svc-z", "kind": "service"}}}
	for _, s := range []string{e.secretA, rot.Secret} {
		r = e.anon.Signed(s).Do(t, http.MethodPost, "/migrations/"+mig+"/candidates", sub)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	}
	r = e.admin.Do(t, http.MethodPost, "/admin/migrators/"+e.migAID+"/rotate", map[string]any{"overlap": "0s"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	r.JSON(t, &rot)
	r = e.anon.Signed(e.secretA).Do(t, http.MethodPost, "/migrations/"+mig+"/candidates", sub)
	require.Equal(t, http.StatusUnauthorized, r.Status, "%s", r.Body)
	r = e.anon.Signed(rot.Secret).Do(t, http.MethodPost, "/migrations/"+mig+"/candidates", sub)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	// The list never shows a secret.
	r = e.admin.Do(t, http.MethodGet, "/admin/migrators", nil)
	require.NotContains(t, string(r.Body), "whsec_")
}

// TestTokens: a revoked token stops at once; tokens are listed without their value; bad
// input is named.
func TestTokens(t *testing.T) {
	e := newAuthEnv(t, handler.Config{})
	r := e.viewer.Do(t, http.MethodGet, "/migrations", nil)
	require.Equal(t, http.StatusOK, r.Status)
	r = e.admin.Do(t, http.MethodDelete, "/admin/tokens/"+e.viewerID, nil)
	require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Body)
	r = e.viewer.Do(t, http.MethodGet, "/migrations", nil)
	require.Equal(t, http.StatusUnauthorized, r.Status)
	r = e.admin.Do(t, http.MethodDelete, "/admin/tokens/"+e.viewerID, nil)
	require.Equal(t, http.StatusNotFound, r.Status)
	r = e.admin.Do(t, http.MethodGet, "/admin/tokens", nil)
	require.NotContains(t, string(r.Body), "drv_")
	for _, tc := range []struct {
		body  any
		field string
	}{
		{map[string]any{"name": "x", "role": "root"}, "role"},
		{map[string]any{"name": "", "role": "viewer"}, "name"},
		{map[string]any{"name": "x", "role": "viewer", "expiresIn": "soon"}, "expiresIn"},
		{map[string]any{"name": "x", "role": "viewer", "expiresIn": "-1h"}, "expiresIn"},
		{map[string]any{"name": "x", "role": "viewer", "expiresIn": "400d"}, "expiresIn"},
		{map[string]any{"name": "x", "migrations": []string{}}, "migrations"},
	} {
		path := "/admin/tokens"
		if _, ok := tc.body.(map[string]any)["migrations"]; ok {
			path = "/admin/migrators"
		}
		r := e.admin.Do(t, http.MethodPost, path, tc.body)
		require.Equal(t, http.StatusBadRequest, r.Status, "%v: %s", tc.body, r.Body)
		require.Contains(t, string(r.Body), tc.field)
	}
	for _, bad := range []string{"a*b", "*x*"} {
		r := e.admin.Do(t, http.MethodPost, "/admin/migrators", map[string]any{"name": "x", "migrations": []string{bad}})
		require.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", bad, r.Body)
	}
	r = e.anon.Do(t, http.MethodGet, "/migrations", nil)
	require.Equal(t, http.StatusUnauthorized, r.Status)
	r = e.anon.As("not-a-token").Do(t, http.MethodGet, "/migrations", nil)
	require.Equal(t, http.StatusUnauthorized, r.Status)
	require.Contains(t, r.Error(), "unknown or revoked")
	// A stale token does not fail a health check or the who-am-I of a public route.
	r = e.anon.As("not-a-token").Do(t, http.MethodGet, "/healthz", nil)
	require.Equal(t, http.StatusOK, r.Status)
	var me api.Me
	e.anon.As("not-a-token").Do(t, http.MethodGet, "/auth/me", nil).JSON(t, &me)
	require.Equal(t, api.MeKindAnonymous, me.Kind)
	e.anon.Header = http.Header{"Authorization": {"Basic YWRtaW46YWRtaW4="}}
	r = e.anon.Do(t, http.MethodGet, "/migrations", nil)
	require.Equal(t, http.StatusUnauthorized, r.Status)
	require.Contains(t, r.Error(), "Bearer")
}

// TestBrowserSafety: what another origin's page could send is refused, changing nothing.
func TestBrowserSafety(t *testing.T) {
	e := newAuthEnv(t, handler.Config{AllowedHosts: []string{"127.0.0.1", "drover.example"}})
	e.beginRun("svc-d")
	before := e.snapshot(t)
	send := func(h http.Header, host string) (int, string) {
		h.Set("Authorization", "Bearer "+adminToken)
		return rawPost(t, e.anon.Base+"/migrations/"+mig+"/candidates/svc-d/cancel", h, host, []byte("x"))
	}
	for _, tc := range []struct {
		name string
		h    http.Header
		host string
		want int
	}{
		{"text/plain", http.Header{"Content-Type": {"text/plain"}}, "", http.StatusUnsupportedMediaType},
		{"form", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, "", http.StatusUnsupportedMediaType},
		{"no content type", http.Header{}, "", http.StatusUnsupportedMediaType},
		{"cross-origin JSON", http.Header{"Content-Type": {"application/json"}, "Origin": {"https://evil.example"}}, "", http.StatusForbidden},
		{"rebound host name", http.Header{"Content-Type": {"application/json"}}, "evil.example", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := send(tc.h, tc.host)
			require.Equal(t, tc.want, code, msg)
		})
	}
	require.Equal(t, before, e.snapshot(t))
	// No CORS: a preflight gets no permission.
	req, _ := http.NewRequest(http.MethodOptions, e.anon.Base+"/migrations", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
	// The allowed host, same origin, JSON: accepted.
	code, msg := send(http.Header{"Content-Type": {"application/json"}, "Origin": {"http://drover.example"}}, "drover.example")
	require.Less(t, code, 300, msg)
}

// TestNoAuthMode: with authentication off (drover dev) an anonymous caller is an admin and
// unsigned migrators may announce what nobody owns, but not what a signing migrator owns.
func TestNoAuthMode(t *testing.T) {
	e := newEnv(t) // announced unsigned: no owner
	r := e.api.Do(t, http.MethodGet, "/auth/me", nil)
	var me api.Me
	r.JSON(t, &me)
	require.Equal(t, api.Me{Actor: "anonymous", Kind: "anonymous", Name: "anonymous", Role: "admin", Via: "none"}, me)
	r = e.api.Do(t, http.MethodPost, "/admin/migrators", map[string]any{"name": "signer", "migrations": []string{"owned"}})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	var cred api.CreatedMigratorCredential
	r.JSON(t, &cred)
	own := announcement(e.migrator.URL)
	own["id"] = "owned"
	r = e.api.Signed(cred.Secret).Do(t, http.MethodPost, "/registry/announce", own)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	own["migratorUrl"] = "http://127.0.0.1:1"
	r = e.api.Do(t, http.MethodPost, "/registry/announce", own)
	require.Equal(t, http.StatusUnauthorized, r.Status, "%s", r.Body)
}

// rawPost sends body with exactly the headers h (and Host, when set), for requests the test
// API would otherwise shape, and returns the status and the error message.
func rawPost(t *testing.T, url string, h http.Header, host string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	require.NoError(t, err)
	req.Header = h
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out api.Error
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.Error
}

// TestUnsignedOnlyWhereAnAdminAllowsIt: a migrator written against the bare contract works
// when its credential allows unsigned traffic, and only for its own migrations.
func TestUnsignedOnlyWhereAnAdminAllowsIt(t *testing.T) {
	e := newAuthEnv(t, handler.Config{})
	legacy := announcement(e.migrator.URL)
	legacy["id"] = "legacy-topics"
	r := e.anon.Do(t, http.MethodPost, "/registry/announce", legacy)
	require.Equal(t, http.StatusUnauthorized, r.Status, "%s", r.Body)
	r = e.admin.Do(t, http.MethodPost, "/admin/migrators", map[string]any{"name": "legacy", "migrations": []string{"legacy-*"}, "allowUnsigned": true})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	var cred api.CreatedMigratorCredential
	r.JSON(t, &cred)
	require.True(t, cred.AllowUnsigned)
	r = e.anon.Do(t, http.MethodPost, "/registry/announce", legacy)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	entries, err := e.acc.Audit(context.Background(), access.AuditFilter{Migration: "legacy-topics", Limit: 1})
	require.NoError(t, err)
	require.Equal(t, "migrator:"+cred.Id, entries[0].Actor)
	// Not for a migration another credential owns, nor one outside its own list.
	r = e.anon.Do(t, http.MethodPost, "/registry/announce", announcement(e.migrator.URL))
	require.Equal(t, http.StatusUnauthorized, r.Status, "%s", r.Body)
	other := announcement(e.migrator.URL)
	other["id"] = "payments"
	r = e.anon.Do(t, http.MethodPost, "/registry/announce", other)
	require.Equal(t, http.StatusUnauthorized, r.Status, "%s", r.Body)
}

// TestAuditSaysWhatWasAsked: entries name the step retried, the inputs set and a mark's verdict.
func TestAuditSaysWhatWasAsked(t *testing.T) {
	e := newAuthEnv(t, handler.Config{})
	for _, tc := range []struct {
		method, path string
		body         any
		detail       string
	}{
		{http.MethodPost, "/migrations/" + mig + "/candidates/svc-b/retry-step", map[string]any{"stepName": "open-pr"}, "step open-pr"},
		{http.MethodPatch, "/migrations/" + mig + "/candidates/svc-c/inputs", map[string]any{"inputs": map[string]string{"ticket": "T-9"}}, "inputs ticket=T-9"},
		{http.MethodPost, "/migrations/" + mig + "/candidates/svc-c/steps/open-pr/complete", map[string]any{"status": "failed", "note": "CI is red"}, "failed: CI is red"},
		{http.MethodPost, "/migrations/" + mig + "/candidates/svc-a/start", map[string]any{"inputs": map[string]string{"ticket": "T-1"}}, "inputs ticket=T-1"},
	} {
		r := e.operator.Do(t, tc.method, tc.path, tc.body)
		require.Less(t, r.Status, 300, "%s", r.Body)
		got, err := e.acc.Audit(context.Background(), access.AuditFilter{Limit: 1})
		require.NoError(t, err)
		require.Equal(t, tc.detail, got[0].Detail, tc.path)
	}
	var page api.AuditPage
	e.viewer.Do(t, http.MethodGet, "/audit?candidate=svc-c&limit=1", nil).JSON(t, &page)
	require.Equal(t, "failed: CI is red", page.Entries[0].Detail)
}
