package handler_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/access"
	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/migrations/handler"
	"github.com/drover-dev/drover/internal/migrations/rollout"
	"github.com/drover-dev/drover/pkg/api"
)

const fixtureRollout = "ro-fixture"

func rolloutsPath(rest ...string) string {
	return strings.Join(append([]string{"/migrations/" + mig + "/rollouts"}, rest...), "/")
}

// seedRollout records a rollout of the given members in the store, as its workflow would have,
// and tells the fake engine its workflow is open (unless it has ended).
func (e *env) seedRollout(id string, status api.RolloutStatus, members map[string]api.RolloutMemberStatus) {
	e.t.Helper()
	ids := make([]string, 0, len(members))
	for cid := range members {
		ids = append(ids, cid)
	}
	slices.Sort(ids)
	state := rollout.State{Members: rollout.Assign(rollout.Plan{}, ids)}
	for i := range state.Members {
		state.Members[i].Status = rollout.Status(members[state.Members[i].ID])
	}
	in := migrations.RolloutInput{MigrationID: mig, RolloutID: id, Candidates: ids, CreatedBy: "operator:test", CreatedAt: time.Now().UTC()}
	view := migrations.RolloutSnapshot{Input: &in, MigrationID: mig, RolloutID: id, Status: status, State: state, At: time.Now().UTC()}.View()
	if status == api.RolloutStatusPaused {
		view.PausedReason = "2 runs failed"
	}
	require.NoError(e.t, e.store.PutRollout(context.Background(), view))
	open := status != api.RolloutStatusCompleted && status != api.RolloutStatusCancelled
	e.engine.set(func(f *fakeEngine) { f.openRollouts[migrations.RolloutWorkflowID(mig, id)] = open })
}

func TestCreateRolloutBadInput(t *testing.T) {
	e := newEnv(t)
	e.beginRun("svc-b", step("open-pr", api.StepStatusInProgress))
	ticket := map[string]any{"ticket": "T-7"}
	with := func(kv ...any) map[string]any {
		b := map[string]any{"inputs": ticket}
		for i := 0; i < len(kv); i += 2 {
			b[kv[i].(string)] = kv[i+1]
		}
		return b
	}
	window := func(start, end, tz string) map[string]any {
		return map[string]any{"start": start, "end": end, "timeZone": tz}
	}
	p := rolloutsPath()
	runCases(t, e, []errCase{
		{name: "unknown migration", method: "POST", path: "/migrations/no-such/rollouts", body: with(), status: 404, words: []string{"no-such", "not found"}},
		{name: "no body", method: "POST", path: p, status: 400, words: []string{"body"}},
		{name: "an empty list of ids", method: "POST", path: p, body: with("candidateIds", []string{}), status: 400, field: "candidateIds"},
		{name: "ids and a filter", method: "POST", path: p, body: with("candidateIds", []string{"svc-a"}, "filter", map[string]any{"q": "svc"}), status: 400, field: "filter", words: []string{"not both"}},
		{name: "unknown candidate", method: "POST", path: p, body: with("candidateIds", []string{"svc-a", "svc-zzz"}), status: 400, field: "candidateIds[1]", words: []string{`"svc-zzz"`, "not a candidate"}},
		{name: "candidate listed twice", method: "POST", path: p, body: with("candidateIds", []string{"svc-a", "svc-c", "svc-a"}), status: 400, field: "candidateIds[2]", words: []string{`"svc-a"`, "twice"}},
		{name: "running candidate", method: "POST", path: p, body: with("candidateIds", []string{"svc-b"}), status: 400, field: "candidateIds[0]", words: []string{"svc-b", "running", "not_started"}},
		{name: "invalid candidate id", method: "POST", path: p, body: with("candidateIds", []string{"bad id"}), status: 400, field: "candidateIds[0]"},
		{name: "filter status that selects none", method: "POST", path: p, body: with("filter", map[string]any{"status": "running"}), status: 400, field: "filter.status", words: []string{"only not_started"}},
		{name: "filter status unknown", method: "POST", path: p, body: with("filter", map[string]any{"status": "paused"}), status: 400, field: "filter.status"},
		{name: "filter that matches nothing", method: "POST", path: p, body: with("filter", map[string]any{"q": "nothing-like-this"}), status: 400, field: "filter", words: []string{"nothing to roll out"}},
		{name: "negative maxConcurrent", method: "POST", path: p, body: with("maxConcurrent", -1), status: 400, field: "maxConcurrent"},
		{name: "a wave of zero", method: "POST", path: p, body: with("waves", []int{1, 0}), status: 400, field: "waves[1]"},
		{name: "21 waves", method: "POST", path: p, body: with("waves", slices.Repeat([]int{1}, 21)), status: 400, field: "waves"},
		{name: "rate too high", method: "POST", path: p, body: with("startsPerMinute", 61), status: 400, field: "startsPerMinute"},
		{name: "two rates", method: "POST", path: p, body: with("startsPerMinute", 2, "startsPerHour", 10), status: 400, field: "startsPerHour", words: []string{"not both"}},
		{name: "failure rate above 1", method: "POST", path: p, body: with("pauseAtFailureRate", 1.5), status: 400, field: "pauseAtFailureRate"},
		{name: "window without a time zone", method: "POST", path: p, body: with("window", map[string]any{"start": "09:00", "end": "17:00"}), status: 400, field: "window.timeZone"},
		{name: "window at 25:00", method: "POST", path: p, body: with("window", window("09:00", "25:00", "UTC")), status: 400, field: "window.end", words: []string{"25:00"}},
		{name: "window in an unknown zone", method: "POST", path: p, body: with("window", window("09:00", "17:00", "Mars/Olympus")), status: 400, field: "window.timeZone", words: []string{"Mars/Olympus"}},
		{name: "window on a day that is not one", method: "POST", path: p, body: with("window", map[string]any{"days": []string{"mon", "funday"}, "start": "09:00", "end": "17:00", "timeZone": "UTC"}), status: 400, field: "window.days[1]"},
		{name: "unknown input", method: "POST", path: p, body: map[string]any{"inputs": map[string]any{"ticket": "T", "colour": "red"}}, status: 400, field: "inputs.colour", words: []string{`"colour"`, "ticket"}},
		{name: "candidate without its required input", method: "POST", path: p, body: map[string]any{"candidateIds": []string{"svc-meta", "svc-a"}}, status: 400, field: "inputs", words: []string{"svc-a", "ticket"}},
	})

	t.Run("more candidates than a rollout takes", func(t *testing.T) {
		n := migrations.MaxRolloutCandidates + 1
		ids := make([]string, n)
		cands := make([]any, n)
		for i := range n {
			ids[i] = fmt.Sprintf("bulk-%05d", i)
			cands[i] = map[string]any{"id": ids[i], "kind": "service", "metadata": map[string]any{"ticket": "T"}}
		}
		r := e.api.Do(t, http.MethodPost, "/migrations/"+mig+"/candidates", map[string]any{"candidates": cands})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		r = e.api.Do(t, http.MethodPost, p, map[string]any{"candidateIds": ids})
		requireError(t, r, http.StatusBadRequest, "candidateIds", "10000")
		r = e.api.Do(t, http.MethodPost, p, map[string]any{"filter": map[string]any{"q": "bulk-"}})
		requireError(t, r, http.StatusBadRequest, "filter", "10001 candidates", "at most 10000", "split")
	})
	require.Empty(t, e.engine.Rollouts(), "no refused rollout may reach the engine")
	rs, err := e.store.ListRollouts(context.Background(), mig)
	require.NoError(t, err)
	require.Empty(t, rs, "no refused rollout may be stored")
}

func TestPreviewRollout(t *testing.T) {
	e := newEnv(t)
	e.beginRun("svc-b", step("open-pr", api.StepStatusInProgress))
	r := e.api.Do(t, http.MethodPost, rolloutsPath(), map[string]any{"preview": true, "inputs": map[string]any{"ticket": "T-7"},
		"waves": []int{1, 2}, "startsPerMinute": 2})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var p api.RolloutPreview
	r.JSON(t, &p)
	require.Equal(t, []string{"svc-a", "svc-c", "svc-d", "svc-meta"}, p.CandidateIds, "every not_started candidate, svc-b is running")
	require.Equal(t, 4, p.Total)
	require.Equal(t, []int{1, 2, 1}, p.Waves)
	// Four starts at 2 a minute: the last is 90 s after the first.
	require.WithinDuration(t, time.Now().Add(90*time.Second), p.LastStartBy, 10*time.Second)

	r = e.api.Do(t, http.MethodPost, rolloutsPath(), map[string]any{"preview": true, "filter": map[string]any{"q": "META"}})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	p = api.RolloutPreview{}
	r.JSON(t, &p)
	require.Equal(t, []string{"svc-meta"}, p.CandidateIds, "the filter's q, case-insensitively; svc-meta has its input in its metadata")
	require.True(t, p.LastStartBy.IsZero(), "no rate, no window: no estimate")

	require.Empty(t, e.engine.Rollouts(), "a preview starts nothing")
	rs, err := e.store.ListRollouts(context.Background(), mig)
	require.NoError(t, err)
	require.Empty(t, rs, "a preview stores nothing")
}

func TestCreateRollout(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"candidateIds": []string{"svc-d", "svc-a", "svc-c"}, "inputs": map[string]any{"ticket": "T-8"},
		"maxConcurrent": 2, "waves": []int{1}, "pauseAfterFailures": 1,
		"window": map[string]any{"days": []string{"mon", "tue"}, "start": "09:00", "end": "17:00", "timeZone": "Europe/Berlin"}}
	r := e.api.Do(t, http.MethodPost, rolloutsPath(), body)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	var ro api.Rollout
	r.JSON(t, &ro)
	require.True(t, strings.HasPrefix(ro.Id, "ro-"), ro.Id)
	require.Equal(t, rolloutsPath(ro.Id), r.Header.Get("Location"))
	require.Equal(t, api.RolloutStatusRunning, ro.Status)
	require.Equal(t, 3, ro.Total)
	require.Equal(t, []api.RolloutWave{{Size: 1}, {Size: 2}}, ro.Waves)
	require.Equal(t, 2, ro.MaxConcurrent)
	require.Equal(t, "Europe/Berlin", ro.Window.TimeZone)
	require.Equal(t, "anonymous", strings.TrimPrefix(ro.CreatedBy, "operator:"))

	starts := e.engine.Rollouts()
	require.Len(t, starts, 1)
	in := starts[0]
	require.Equal(t, ro.Id, in.RolloutID)
	require.Equal(t, []string{"svc-d", "svc-a", "svc-c"}, in.Candidates, "in the order given")
	require.Equal(t, map[string]string{"ticket": "T-8"}, in.Inputs)
	require.Equal(t, 2, in.Plan.MaxConcurrent)
	require.Equal(t, []string{"mon", "tue"}, in.Plan.Window.Days)

	var got api.Rollout
	e.api.Do(t, http.MethodGet, rolloutsPath(ro.Id), nil).JSON(t, &got)
	require.Equal(t, ro.Id, got.Id)
	require.Len(t, got.Members, 3, "one rollout has its members")
	require.Equal(t, "svc-d", got.Members[0].Id)
	require.Equal(t, api.RolloutMemberStatusWaiting, got.Members[0].Status)
	var list []api.Rollout
	e.api.Do(t, http.MethodGet, rolloutsPath(), nil).JSON(t, &list)
	require.Len(t, list, 1)
	require.Empty(t, list[0].Members, "the list leaves the members out")
	require.Equal(t, 3, list[0].Total)

	t.Run("a rollout that cannot start is recorded as cancelled, saying why", func(t *testing.T) {
		e.engine.set(func(f *fakeEngine) { f.rolloutErr = migrations.ErrUnavailable })
		defer e.engine.set(func(f *fakeEngine) { f.rolloutErr = nil })
		r := e.api.Do(t, http.MethodPost, rolloutsPath(), map[string]any{"candidateIds": []string{"svc-meta"}})
		requireError(t, r, http.StatusServiceUnavailable, "", "unavailable")
		var list []api.Rollout
		e.api.Do(t, http.MethodGet, rolloutsPath(), nil).JSON(t, &list)
		require.Len(t, list, 2)
		require.Equal(t, api.RolloutStatusCancelled, list[1].Status)
		require.Contains(t, list[1].PausedReason, "could not start")
	})
}

func TestRolloutReadBadInput(t *testing.T) {
	e := newEnv(t)
	runCases(t, e, []errCase{
		{name: "unknown rollout", method: "GET", path: rolloutsPath("ro-nope"), status: 404, words: []string{"ro-nope", "not found"}},
		{name: "invalid rollout id", method: "GET", path: rolloutsPath("RO_1"), status: 400, field: "rolloutId", words: []string{"rollout id"}},
		{name: "unknown migration", method: "GET", path: "/migrations/no-such/rollouts", status: 404, words: []string{"no-such"}},
		{name: "unknown migration, one rollout", method: "GET", path: "/migrations/no-such/rollouts/ro-1", status: 404, words: []string{"no-such"}},
	})
}

func TestSteerRollout(t *testing.T) {
	e := newEnv(t)
	e.seedRollout("ro-run", api.RolloutStatusRunning, map[string]api.RolloutMemberStatus{"svc-a": api.RolloutMemberStatusRunning})
	e.seedRollout("ro-paused", api.RolloutStatusPaused, map[string]api.RolloutMemberStatus{"svc-a": api.RolloutMemberStatusFailed})
	e.seedRollout("ro-approve", api.RolloutStatusWaitingForApproval, map[string]api.RolloutMemberStatus{"svc-a": api.RolloutMemberStatusCompleted})
	e.seedRollout("ro-done", api.RolloutStatusCompleted, map[string]api.RolloutMemberStatus{"svc-a": api.RolloutMemberStatusCompleted})
	e.seedRollout("ro-gone", api.RolloutStatusRunning, map[string]api.RolloutMemberStatus{"svc-a": api.RolloutMemberStatusRunning})
	e.engine.set(func(f *fakeEngine) { delete(f.openRollouts, migrations.RolloutWorkflowID(mig, "ro-gone")) })

	runCases(t, e, []errCase{
		{name: "unknown rollout", method: "POST", path: rolloutsPath("ro-nope", "pause"), status: 404, words: []string{"ro-nope"}},
		{name: "invalid rollout id", method: "POST", path: rolloutsPath("x%20y", "pause"), status: 400, field: "rolloutId"},
		{name: "resume a running one", method: "POST", path: rolloutsPath("ro-run", "resume"), status: 409, words: []string{"not paused", "running"}},
		{name: "approve a running one", method: "POST", path: rolloutsPath("ro-run", "approve"), status: 409, words: []string{"not waiting for an approval"}},
		{name: "pause a paused one", method: "POST", path: rolloutsPath("ro-paused", "pause"), status: 409, words: []string{"already paused", "2 runs failed"}},
		{name: "pause a completed one", method: "POST", path: rolloutsPath("ro-done", "pause"), status: 409, words: []string{"completed"}},
		{name: "cancel a completed one", method: "POST", path: rolloutsPath("ro-done", "cancel"), status: 409, words: []string{"completed"}},
		{name: "pause one whose workflow has ended", method: "POST", path: rolloutsPath("ro-gone", "pause"), status: 409, words: []string{"no longer running"}},
		{name: "reason too long", method: "POST", path: rolloutsPath("ro-run", "pause"), body: map[string]any{"reason": strings.Repeat("x", 501)}, status: 400, field: "reason"},
		{name: "cancelRuns not a boolean", method: "POST", path: rolloutsPath("ro-run", "cancel"), body: map[string]any{"cancelRuns": "yes"}, status: 400, field: "cancelRuns"},
	})
	require.Empty(t, e.engine.RolloutCmds(), "no refused command may reach the rollout")

	for _, tc := range []struct {
		path string
		body any
		want migrations.RolloutControl
	}{
		{rolloutsPath("ro-run", "pause"), map[string]any{"reason": "CI is down"}, migrations.RolloutControl{Action: migrations.ActionPause, Reason: "paused by operator:anonymous: CI is down"}},
		{rolloutsPath("ro-paused", "resume"), nil, migrations.RolloutControl{Action: migrations.ActionResume}},
		{rolloutsPath("ro-approve", "approve"), nil, migrations.RolloutControl{Action: migrations.ActionApprove}},
		{rolloutsPath("ro-run", "cancel"), map[string]any{"cancelRuns": true}, migrations.RolloutControl{Action: migrations.ActionCancel, CancelRuns: true}},
	} {
		r := e.api.Do(t, http.MethodPost, tc.path, tc.body)
		require.Equal(t, http.StatusAccepted, r.Status, "%s: %s", tc.path, r.Body)
		cmds := e.engine.RolloutCmds()
		got := cmds[len(cmds)-1]
		if tc.want.Action == migrations.ActionPause {
			require.True(t, strings.HasPrefix(got.Reason, "paused by "), got.Reason)
			require.True(t, strings.HasSuffix(got.Reason, ": CI is down"), got.Reason)
			got.Reason = tc.want.Reason
		}
		require.Equal(t, tc.want, got, tc.path)
	}
}

func TestRetryFailedOfRollout(t *testing.T) {
	e := newEnv(t)
	e.beginRun("svc-a", step("open-pr", api.StepStatusSucceeded), step("merge-pr", api.StepStatusFailed))
	e.beginRun("svc-c", step("open-pr", api.StepStatusInProgress))
	e.beginRun("svc-d", step("open-pr", api.StepStatusFailed)) // failed too, but not the rollout's
	e.seedRollout("ro-1", api.RolloutStatusPaused, map[string]api.RolloutMemberStatus{
		"svc-a": api.RolloutMemberStatusFailed, "svc-c": api.RolloutMemberStatusRunning, "svc-meta": api.RolloutMemberStatusWaiting})

	runCases(t, e, []errCase{
		{name: "unknown rollout", method: "POST", path: rolloutsPath("ro-nope", "retry-failed"), status: 404, words: []string{"ro-nope"}},
	})
	r := e.api.Do(t, http.MethodPost, rolloutsPath("ro-1", "retry-failed"), nil)
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	var res api.RetryFailedResult
	r.JSON(t, &res)
	require.Equal(t, 1, res.Retried)
	require.Empty(t, res.Errors)
	sigs := e.engine.Signals()
	require.Len(t, sigs, 1, "only the rollout's failed step: %+v", sigs)
	require.Equal(t, migrations.RunID(mig, "svc-a"), sigs[0].RunID)
	require.Equal(t, migrations.RetryRequest{StepName: "merge-pr"}, sigs[0].Payload)

	t.Run("a run that ended meanwhile is reported, not fatal", func(t *testing.T) {
		e.engine.set(func(f *fakeEngine) { delete(f.open, migrations.RunID(mig, "svc-a")) })
		r := e.api.Do(t, http.MethodPost, rolloutsPath("ro-1", "retry-failed"), nil)
		require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
		r.JSON(t, &res)
		require.Equal(t, 0, res.Retried)
		require.Len(t, res.Errors, 1)
		require.Equal(t, "svc-a", res.Errors[0].CandidateId)
		require.Equal(t, "merge-pr", res.Errors[0].StepName)
		require.Contains(t, res.Errors[0].Error, "not running")
	})
}

func TestCancelRuns(t *testing.T) {
	e := newEnv(t)
	e.beginRun("svc-b", step("open-pr", api.StepStatusInProgress))
	e.beginRun("svc-c", step("open-pr", api.StepStatusFailed))
	p := "/migrations/" + mig + "/cancel-runs"
	runCases(t, e, []errCase{
		{name: "unknown migration", method: "POST", path: "/migrations/no-such/cancel-runs", body: map[string]any{"candidateIds": []string{"svc-b"}}, status: 404, words: []string{"no-such"}},
		{name: "no ids", method: "POST", path: p, body: map[string]any{"candidateIds": []string{}}, status: 400, field: "candidateIds"},
		{name: "unknown candidate", method: "POST", path: p, body: map[string]any{"candidateIds": []string{"svc-b", "svc-zzz"}}, status: 400, field: "candidateIds[1]", words: []string{"svc-zzz"}},
		{name: "listed twice", method: "POST", path: p, body: map[string]any{"candidateIds": []string{"svc-b", "svc-b"}}, status: 400, field: "candidateIds[1]", words: []string{"twice"}},
	})
	require.Empty(t, e.engine.Cancels(), "a refused bulk cancel cancels nothing")

	r := e.api.Do(t, http.MethodPost, p, map[string]any{"candidateIds": []string{"svc-a", "svc-b", "svc-c"}})
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	var acc api.CancelRunsAccepted
	r.JSON(t, &acc)
	require.Equal(t, 2, acc.Requested, "svc-a is not running")
	require.Eventually(t, func() bool {
		got := e.engine.Cancels()
		slices.Sort(got)
		return slices.Equal(got, []string{migrations.RunID(mig, "svc-b"), migrations.RunID(mig, "svc-c")})
	}, 10*time.Second, 10*time.Millisecond, "both runs are cancelled in the background")
}

func TestRolloutAudit(t *testing.T) {
	e := newAuthEnv(t, handler.Config{})
	r := e.operator.Do(t, http.MethodPost, rolloutsPath(), map[string]any{"filter": map[string]any{"q": "svc-a"}, "maxConcurrent": 2,
		"waves": []int{1}, "startsPerMinute": 1, "inputs": map[string]string{"ticket": "T-5"}})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	var ro api.Rollout
	r.JSON(t, &ro)
	require.True(t, strings.HasPrefix(ro.CreatedBy, "operator:token:tok_"), "the rollout names who created it: %q", ro.CreatedBy)
	got, err := e.acc.Audit(context.Background(), access.AuditFilter{Limit: 1})
	require.NoError(t, err)
	require.Equal(t, "createRollout", got[0].Action)
	require.Equal(t, "rollout "+ro.Id+" of 1 candidates; filter q=svc-a; maxConcurrent 2; waves [1]; 1/min; inputs ticket=T-5", got[0].Detail)
	require.Equal(t, ro.CreatedBy, got[0].Actor)

	r = e.operator.Do(t, http.MethodPost, rolloutsPath(ro.Id, "pause"), map[string]any{"reason": "release freeze"})
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	got, err = e.acc.Audit(context.Background(), access.AuditFilter{Limit: 1})
	require.NoError(t, err)
	require.Equal(t, "pauseRollout", got[0].Action)
	require.Equal(t, "reason release freeze", got[0].Detail)
	cmds := e.engine.RolloutCmds()
	require.Equal(t, "paused by "+ro.CreatedBy+": release freeze", cmds[len(cmds)-1].Reason)

	r = e.viewer.Do(t, http.MethodPost, rolloutsPath(ro.Id, "resume"), nil)
	require.Equal(t, http.StatusForbidden, r.Status, "a viewer may not steer a rollout: %s", r.Body)
}
