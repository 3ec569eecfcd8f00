package migrations_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/internal/migrations/store"
	"github.com/drover-dev/drover/pkg/api"
)

type liveFixture struct {
	store migrations.MigrationStore
	feed  *store.MemoryFeed
	hub   *migrations.Hub
	stop  func()
}

// newLive is a SQLite store that publishes on a memory feed, with a running hub over it and
// two migrations, m and other, each with candidates a and b.
func newLive(t *testing.T, keep int) liveFixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "drover.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	feed := store.NewMemoryFeed(keep)
	pub := migrations.Publishing(st, feed, nil, nil)
	for _, id := range []string{"m", "other"} {
		require.NoError(t, pub.SaveMigration(ctx, api.Migration{Id: id, Name: id, MigratorUrl: "http://127.0.0.1:1",
			Steps: []api.StepDefinition{{Name: "one", MigratorApp: "x"}}, CreatedAt: time.Now().UTC()}))
		require.NoError(t, pub.MergeCandidates(ctx, id, []api.CandidateInput{{Id: "a", Kind: "service"}, {Id: "b", Kind: "service"}}, time.Now().UTC()))
	}
	hub := migrations.NewHub(feed, pub, nil)
	hctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { hub.Run(hctx); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return liveFixture{store: pub, feed: feed, hub: hub, stop: stop}
}

func begin(t *testing.T, s migrations.MigrationStore, mid, cid string) {
	t.Helper()
	require.NoError(t, s.BeginRun(context.Background(), migrations.RunRecord{RunID: migrations.RunID(mid, cid), ExecutionID: "e-" + cid,
		MigrationID: mid, CandidateID: cid, Status: api.RunStatusRunning, StepNames: []string{"one"}, StartedAt: time.Now().UTC()}))
}

// next collects events from sub until it has n (failing if they do not come).
func next(t *testing.T, sub *migrations.Subscription, n int) []api.LiveEvent {
	t.Helper()
	var out []api.LiveEvent
	for len(out) < n {
		evs, err := sub.Next(context.Background(), 10*time.Second)
		require.NoError(t, err)
		require.NotEmpty(t, evs, "no event within 10 s; have %v", out)
		out = append(out, evs...)
	}
	require.Len(t, out, n)
	return out
}

func TestLiveEventsFollowEveryKindOfChange(t *testing.T) {
	ctx := context.Background()
	f := newLive(t, 1000)
	sub, err := f.hub.Watch(ctx, "m", "")
	require.NoError(t, err)
	all, err := f.hub.Watch(ctx, "", "")
	require.NoError(t, err)

	begin(t, f.store, "other", "a") // another migration's change: only the all-migrations stream hears it
	begin(t, f.store, "m", "a")
	step := api.StepState{StepName: "one", Status: api.StepStatusPending, StartedAt: time.Now().UTC()}
	require.NoError(t, f.store.PutStepState(ctx, "m", "a", "e-a", step, ""))
	require.NoError(t, f.store.FinishRun(ctx, "m", "a", "e-a", api.RunStatusCompleted, api.CandidateStatusCompleted, time.Now().UTC()))
	_, err = f.store.MergeInputs(ctx, "m", "b", map[string]string{"team": "x"})
	require.NoError(t, err)
	require.NoError(t, f.store.PutRollout(ctx, api.Rollout{Id: "r1", MigrationId: "m", Status: "running", CreatedAt: time.Now().UTC()}))
	require.NoError(t, f.store.MergeCandidates(ctx, "m", []api.CandidateInput{{Id: "c", Kind: "service"}}, time.Now().UTC()))

	evs := next(t, sub, 6)
	type seen struct {
		Kind      api.LiveEventKind
		Candidate string
		Detail    string
	}
	var got []seen
	for _, ev := range evs {
		require.Equal(t, "m", ev.MigrationId)
		require.False(t, ev.At.IsZero())
		detail := string(ev.CandidateStatus) + string(ev.RunStatus) + ev.StepName + string(ev.StepStatus) + ev.RolloutId + ev.RolloutStatus
		got = append(got, seen{ev.Kind, ev.CandidateId, detail})
	}
	require.Equal(t, []seen{
		{api.LiveEventKindCandidate, "a", "runningrunning"},
		{api.LiveEventKindStep, "a", "onepending"},
		{api.LiveEventKindCandidate, "a", "completedcompleted"},
		{api.LiveEventKindCandidate, "b", ""},
		{api.LiveEventKindRollout, "", "r1running"},
		{api.LiveEventKindCandidates, "", ""},
	}, got)

	everything := next(t, all, 7)
	require.Equal(t, "other", everything[0].MigrationId)
	require.Equal(t, evs[5].Id, everything[6].Id, "both streams give an event the same id")

	// Nothing more: Next waits out its wait and returns none.
	none, err := sub.Next(ctx, 20*time.Millisecond)
	require.NoError(t, err)
	require.Empty(t, none)
}

func TestLiveResumesAfterTheLastEventSeen(t *testing.T) {
	ctx := context.Background()
	f := newLive(t, 10_000)
	head, err := f.feed.Head(ctx)
	require.NoError(t, err)
	begin(t, f.store, "m", "a")
	begin(t, f.store, "m", "b")
	first, err := f.hub.Watch(ctx, "m", head)
	require.NoError(t, err)
	evs := next(t, first, 2)

	// A client that saw only the first event resumes with the second.
	resumed, err := f.hub.Watch(ctx, "m", string(evs[0].Id))
	require.NoError(t, err)
	again := next(t, resumed, 1)
	require.Equal(t, evs[1], again[0])

	// From further back than the hub keeps in memory, the feed itself is read.
	from, err := f.feed.Head(ctx)
	require.NoError(t, err)
	for range 5000 {
		_, err := f.feed.Publish(ctx, api.LiveEvent{Kind: api.LiveEventKindCandidates, MigrationId: "other"})
		require.NoError(t, err)
	}
	require.NoError(t, f.store.MergeCandidates(ctx, "m", nil, time.Now().UTC()))
	old, err := f.hub.Watch(ctx, "", from)
	require.NoError(t, err)
	got := next(t, old, 5001)
	require.Equal(t, "m", got[5000].MigrationId)
	for i := 1; i < len(got); i++ {
		a, _ := migrations.ParseLiveID(string(got[i-1].Id))
		b, _ := migrations.ParseLiveID(string(got[i].Id))
		require.True(t, a.Less(b), "in order, each once")
	}
}

func TestLiveSaysResetWhenEventsWereMissed(t *testing.T) {
	ctx := context.Background()
	f := newLive(t, 10)
	begin(t, f.store, "m", "a")
	sub, err := f.hub.Watch(ctx, "m", "")
	require.NoError(t, err)
	for range 20 { // more than the feed keeps
		require.NoError(t, f.store.MergeCandidates(ctx, "m", nil, time.Now().UTC()))
	}
	next(t, sub, 20)
	// The fixture's first event, from before the hub started: neither the hub nor the feed has
	// what came after it any more.
	head, err := f.feed.Head(ctx)
	require.NoError(t, err)
	h, _ := migrations.ParseLiveID(head)
	late, err := f.hub.Watch(ctx, "m", migrations.LiveID{Hi: h.Hi, Lo: 1}.String())
	require.NoError(t, err)
	evs, err := late.Next(ctx, time.Second)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, api.LiveEventKindReset, evs[0].Kind)
	require.Equal(t, head, string(evs[0].Id), "a reset carries the id to go on from")
	require.NoError(t, f.store.MergeCandidates(ctx, "m", nil, time.Now().UTC()))
	require.Equal(t, api.LiveEventKindCandidates, next(t, late, 1)[0].Kind, "and goes on from there")

	f.stop()

	_, err = sub.Next(ctx, time.Second)
	require.ErrorIs(t, err, migrations.ErrLiveClosed, "the hub stopped: subscriptions end")
}

func TestWatchRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	f := newLive(t, 10)
	_, err := f.hub.Watch(ctx, "nope", "")
	require.ErrorIs(t, err, migrations.ErrMigrationNotFound)
	for _, bad := range []string{"x", "1-", "-1", "1-2-3", "18446744073709551616-0"} {
		_, err = f.hub.Watch(ctx, "m", bad)
		var ve *migrations.ValidationError
		require.ErrorAs(t, err, &ve, bad)
		require.Equal(t, "Last-Event-ID", ve.Field)
	}
}

type failingFeed struct{ migrations.ChangeFeed }

func (failingFeed) Publish(context.Context, api.LiveEvent) (string, error) {
	return "", errors.New("redis is down")
}

func TestAChangeIsKeptWhenItsLiveEventCannotBePublished(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "drover.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	var logs bytes.Buffer
	pub := migrations.Publishing(st, failingFeed{store.NewMemoryFeed(10)}, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, pub.SaveMigration(ctx, api.Migration{Id: "m", Name: "m", MigratorUrl: "http://127.0.0.1:1",
		Steps: []api.StepDefinition{{Name: "one", MigratorApp: "x"}}, CreatedAt: time.Now().UTC()}))
	_, err = st.GetMigration(ctx, "m")
	require.NoError(t, err, "stored")
	require.Contains(t, logs.String(), "could not publish a live event")
	require.Contains(t, logs.String(), "redis is down")

	// A write that fails publishes nothing and returns its own error.
	err = pub.MergeCandidates(ctx, "missing", []api.CandidateInput{{Id: "a", Kind: "service"}}, time.Now().UTC())
	require.ErrorIs(t, err, migrations.ErrMigrationNotFound)
}
