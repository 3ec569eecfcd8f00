package store

import (
	"context"
	"sync"
	"time"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

// MemoryFeed is the change feed of a single process (`drover dev`): the last events in
// memory. Its ids are "<start in Unix ms>-<sequence>", so an id from before a restart is
// recognised as a gap rather than mistaken for a later event.
type MemoryFeed struct {
	mu      sync.Mutex
	epoch   uint64
	seq     uint64 // of the newest event
	dropped uint64 // sequence of the newest event no longer kept
	events  []api.LiveEvent
	keep    int
	wake    chan struct{}
}

// NewMemoryFeed returns a feed keeping at least the last keep events (up to twice as many).
func NewMemoryFeed(keep int) *MemoryFeed {
	return &MemoryFeed{epoch: uint64(time.Now().UnixMilli()), keep: max(keep, 1), wake: make(chan struct{})}
}

func (f *MemoryFeed) id(seq uint64) string {
	return migrations.LiveID{Hi: f.epoch, Lo: seq}.String()
}

// Publish implements migrations.ChangeFeed.
func (f *MemoryFeed) Publish(_ context.Context, ev api.LiveEvent) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	ev.Id = api.LiveEventID(f.id(f.seq))
	f.events = append(f.events, ev)
	// Trimmed to keep once it holds twice as many: a copy per keep events, not per event.
	if n := len(f.events) - f.keep; n >= f.keep {
		f.dropped = f.seq - uint64(f.keep)
		f.events = append(make([]api.LiveEvent, 0, 2*f.keep), f.events[n:]...)
	}
	close(f.wake)
	f.wake = make(chan struct{})
	return string(ev.Id), nil
}

// Head implements migrations.ChangeFeed.
func (f *MemoryFeed) Head(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.id(f.seq), nil
}

// Read implements migrations.ChangeFeed.
func (f *MemoryFeed) Read(ctx context.Context, after string, limit int, wait time.Duration) ([]api.LiveEvent, error) {
	id, ok := migrations.ParseLiveID(after)
	if !ok {
		return nil, migrations.Invalid("after", "%q is not a live event id", after)
	}
	var timer <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timer = t.C
	}
	for {
		f.mu.Lock()
		if id.Hi != f.epoch || id.Lo < f.dropped || id.Lo > f.seq {
			f.mu.Unlock()
			return nil, migrations.ErrLiveGap
		}
		if id.Lo < f.seq {
			first := len(f.events) - int(f.seq-id.Lo)
			out := append([]api.LiveEvent(nil), f.events[first:min(len(f.events), first+limit)]...)
			f.mu.Unlock()
			return out, nil
		}
		wake := f.wake
		f.mu.Unlock()
		if timer == nil {
			return nil, nil
		}
		select {
		case <-wake:
		case <-timer:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
