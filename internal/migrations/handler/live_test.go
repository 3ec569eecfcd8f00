package handler_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/access"
	"github.com/drover-dev/drover/internal/migrations/handler"
	"github.com/drover-dev/drover/internal/testsupport"
	"github.com/drover-dev/drover/pkg/api"
)

func liveEvent(t *testing.T, ev testsupport.SSE) api.LiveEvent {
	t.Helper()
	var out api.LiveEvent
	require.NoError(t, json.Unmarshal([]byte(ev.Data), &out), "data: %s", ev.Data)
	require.Equal(t, ev.ID, string(out.Id), "the SSE id is the event's")
	return out
}

func TestEventsStreamAMigrationsChanges(t *testing.T) {
	e := newEnv(t)
	s := e.api.Stream(t, "/migrations/"+mig+"/events", nil)
	require.Equal(t, http.StatusOK, s.Status, "%s", s.Body)
	require.Equal(t, "text/event-stream", s.Header.Get("Content-Type"))
	require.Equal(t, "no-cache", s.Header.Get("Cache-Control"))

	e.beginRun("svc-b", step("open-pr", api.StepStatusPending))
	r := e.api.Do(t, http.MethodPatch, "/migrations/"+mig+"/candidates/svc-c/inputs", map[string]any{"inputs": map[string]string{"ticket": "T-9"}})
	require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Body)

	begun := liveEvent(t, s.NextEvent(t, 10*time.Second))
	require.Equal(t, api.LiveEventKindCandidate, begun.Kind)
	require.Equal(t, "svc-b", begun.CandidateId)
	require.Equal(t, api.CandidateStatusRunning, begun.CandidateStatus)
	stepEv := liveEvent(t, s.NextEvent(t, 10*time.Second))
	require.Equal(t, api.LiveEventKindStep, stepEv.Kind)
	require.Equal(t, "open-pr", stepEv.StepName)
	require.Equal(t, api.StepStatusPending, stepEv.StepStatus)
	inputs := liveEvent(t, s.NextEvent(t, 10*time.Second))
	require.Equal(t, "svc-c", inputs.CandidateId, "an operator's change through the API is an event too")

	// Resuming after the first event, by header or by query, replays the rest in order.
	for name, open := range map[string]func() *testsupport.Stream{
		"Last-Event-ID": func() *testsupport.Stream {
			return e.api.Stream(t, "/migrations/"+mig+"/events", http.Header{"Last-Event-Id": {string(begun.Id)}})
		},
		"after": func() *testsupport.Stream {
			return e.api.Stream(t, "/migrations/"+mig+"/events?after="+string(begun.Id), nil)
		},
	} {
		t.Run(name, func(t *testing.T) {
			again := open()
			require.Equal(t, http.StatusOK, again.Status, "%s", again.Body)
			require.Equal(t, stepEv, liveEvent(t, again.NextEvent(t, 10*time.Second)))
			require.Equal(t, inputs, liveEvent(t, again.NextEvent(t, 10*time.Second)))
			again.Close()
		})
	}
}

func TestEventsOfEveryMigration(t *testing.T) {
	e := newEnv(t)
	all := e.api.Stream(t, "/events", nil)
	require.Equal(t, http.StatusOK, all.Status, "%s", all.Body)
	one := e.api.Stream(t, "/migrations/"+mig+"/events", nil)
	require.Equal(t, http.StatusOK, one.Status, "%s", one.Body)

	other := announcement(e.migrator.URL)
	other["id"] = "other-migration"
	r := e.api.Do(t, http.MethodPost, "/registry/announce", other)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	e.beginRun("svc-a")

	var kinds []string
	for range 3 { // the new migration's definition and candidates, then mig's run
		ev := liveEvent(t, all.NextEvent(t, 10*time.Second))
		kinds = append(kinds, ev.MigrationId+" "+string(ev.Kind))
	}
	require.Equal(t, []string{"other-migration migration", "other-migration candidates", mig + " candidate"}, kinds)
	ev := liveEvent(t, one.NextEvent(t, 10*time.Second))
	require.Equal(t, mig, ev.MigrationId, "a migration's stream has only its own events")
	require.Equal(t, "svc-a", ev.CandidateId)
}

func TestEventsKeepAlive(t *testing.T) {
	e := startEnv(t, handler.Config{Access: openAccess(t, access.Config{UnsignedUnowned: true}), KeepAlive: 20 * time.Millisecond})
	s := e.api.Stream(t, "/events", nil)
	require.Equal(t, http.StatusOK, s.Status, "%s", s.Body)
	ev, ok := s.Next(t, 10*time.Second)
	require.True(t, ok)
	require.Equal(t, "keep-alive", ev.Comment, "an idle stream says it is alive")
}

func TestEventsRefuseBadInput(t *testing.T) {
	e := newEnv(t)
	for _, bad := range []string{"abc", "1-2-3", "-1", "1_2", "123456789012345678901-1"} {
		t.Run(bad, func(t *testing.T) {
			s := e.api.Stream(t, "/migrations/"+mig+"/events", http.Header{"Last-Event-Id": {bad}})
			requireError(t, testsupport.Response{Status: s.Status, Body: s.Body}, http.StatusBadRequest, "Last-Event-ID", "Last-Event-ID")
			s = e.api.Stream(t, "/events?after="+bad, nil)
			requireError(t, testsupport.Response{Status: s.Status, Body: s.Body}, http.StatusBadRequest, "after", "after")
		})
	}
	s := e.api.Stream(t, "/migrations/no-such/events", nil)
	requireError(t, testsupport.Response{Status: s.Status, Body: s.Body}, http.StatusNotFound, "", "no-such")

	// An id from before what is kept (here: of another process) is not an error but a reset.
	s = e.api.Stream(t, "/migrations/"+mig+"/events", http.Header{"Last-Event-Id": {"1-1"}})
	require.Equal(t, http.StatusOK, s.Status, "%s", s.Body)
	reset := liveEvent(t, s.NextEvent(t, 10*time.Second))
	require.Equal(t, api.LiveEventKindReset, reset.Kind)
	head, err := e.feed.Head(context.Background())
	require.NoError(t, err)
	require.Equal(t, head, string(reset.Id))
}
