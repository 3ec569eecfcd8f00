package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

// NewFeed returns an empty change feed keeping at least keep events (and about that many).
type NewFeed func(tb testing.TB, keep int) migrations.ChangeFeed

// RunFeedConformance checks the behaviour every migrations.ChangeFeed must have.
func RunFeedConformance(t *testing.T, newFeed NewFeed) {
	t.Run("publish then read in order", func(t *testing.T) {
		ctx := context.Background()
		f := newFeed(t, 1000)
		start, err := f.Head(ctx)
		require.NoError(t, err)
		var ids []string
		for i, cid := range []string{"a", "b", "c"} {
			id, err := f.Publish(ctx, api.LiveEvent{Kind: api.LiveEventKindStep, MigrationId: "m", CandidateId: cid, StepName: "s",
				StepStatus: api.StepStatusPending, At: time.Unix(int64(i), 0).UTC()})
			require.NoError(t, err)
			if len(ids) > 0 {
				require.True(t, parse(t, ids[len(ids)-1]).Less(parse(t, id)), "ids grow: %s then %s", ids[len(ids)-1], id)
			}
			ids = append(ids, id)
		}
		head, err := f.Head(ctx)
		require.NoError(t, err)
		require.Equal(t, ids[2], head)

		evs, err := f.Read(ctx, start, 10, 0)
		require.NoError(t, err)
		require.Len(t, evs, 3)
		for i, ev := range evs {
			require.Equal(t, ids[i], string(ev.Id))
			require.Equal(t, []string{"a", "b", "c"}[i], ev.CandidateId)
			require.Equal(t, api.LiveEventKindStep, ev.Kind)
			require.Equal(t, api.StepStatusPending, ev.StepStatus)
			require.True(t, time.Unix(int64(i), 0).Equal(ev.At))
		}
		evs, err = f.Read(ctx, ids[0], 1, 0)
		require.NoError(t, err)
		require.Len(t, evs, 1, "limit")
		require.Equal(t, ids[1], string(evs[0].Id))
		evs, err = f.Read(ctx, head, 10, 0)
		require.NoError(t, err)
		require.Empty(t, evs, "nothing after the head")
	})

	t.Run("a waiting read returns when an event is published", func(t *testing.T) {
		ctx := context.Background()
		f := newFeed(t, 1000)
		head, err := f.Head(ctx)
		require.NoError(t, err)
		var wg sync.WaitGroup
		var got []api.LiveEvent
		var rerr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(got) == 0 && rerr == nil {
				got, rerr = f.Read(ctx, head, 10, 30*time.Second)
			}
		}()
		_, err = f.Publish(ctx, api.LiveEvent{Kind: api.LiveEventKindCandidate, MigrationId: "m", CandidateId: "x"})
		require.NoError(t, err)
		wg.Wait()
		require.NoError(t, rerr)
		require.Len(t, got, 1)
		require.Equal(t, "x", got[0].CandidateId)
	})

	t.Run("a waiting read ends with its context or its wait", func(t *testing.T) {
		f := newFeed(t, 1000)
		head, err := f.Head(context.Background())
		require.NoError(t, err)
		evs, err := f.Read(context.Background(), head, 10, 50*time.Millisecond)
		require.NoError(t, err)
		require.Empty(t, evs)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err = f.Read(ctx, head, 10, time.Minute)
		require.Error(t, err)
	})

	t.Run("resuming from before what is kept is a gap", func(t *testing.T) {
		ctx := context.Background()
		f := newFeed(t, 10)
		start, err := f.Head(ctx)
		require.NoError(t, err)
		first, err := f.Publish(ctx, api.LiveEvent{Kind: api.LiveEventKindCandidates, MigrationId: "m"})
		require.NoError(t, err)
		for range 500 { // well past any approximate trimming
			_, err := f.Publish(ctx, api.LiveEvent{Kind: api.LiveEventKindCandidates, MigrationId: "m"})
			require.NoError(t, err)
		}
		for _, from := range []string{start, first} {
			_, err = f.Read(ctx, from, 10, 0)
			require.ErrorIs(t, err, migrations.ErrLiveGap, "from %s", from)
		}
		head, err := f.Head(ctx)
		require.NoError(t, err)
		evs, err := f.Read(ctx, head, 10, 0)
		require.NoError(t, err, "the head is never a gap")
		require.Empty(t, evs)
	})
}

func parse(t *testing.T, s string) migrations.LiveID {
	t.Helper()
	id, ok := migrations.ParseLiveID(s)
	require.True(t, ok, "%q is a live id", s)
	return id
}
