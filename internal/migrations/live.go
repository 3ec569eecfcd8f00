package migrations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drover-dev/drover/pkg/api"
)

// LiveID is a live event's id: two numbers, "A-B", ordered by A then B (a Redis stream id; the
// embedded feed uses its start time and a sequence number).
type LiveID struct{ Hi, Lo uint64 }

// ParseLiveID reads "A-B"; ok is false for anything else.
func ParseLiveID(s string) (LiveID, bool) {
	hi, lo, found := strings.Cut(s, "-")
	if !found {
		return LiveID{}, false
	}
	a, err1 := strconv.ParseUint(hi, 10, 64)
	b, err2 := strconv.ParseUint(lo, 10, 64)
	if err1 != nil || err2 != nil {
		return LiveID{}, false
	}
	return LiveID{a, b}, true
}

func (id LiveID) String() string {
	return strconv.FormatUint(id.Hi, 10) + "-" + strconv.FormatUint(id.Lo, 10)
}

// Less reports whether id comes before o.
func (id LiveID) Less(o LiveID) bool { return id.Hi < o.Hi || (id.Hi == o.Hi && id.Lo < o.Lo) }

// mustLiveID parses an id a feed gave; a malformed one sorts first.
func mustLiveID(s string) LiveID {
	id, _ := ParseLiveID(s)
	return id
}

// Publishing returns store, which also publishes a live event on feed after each change it
// makes. A change that was stored but could not be published is logged, not failed: the
// write is what matters, and a client that missed it reads it on its next refresh.
func Publishing(store MigrationStore, feed ChangeFeed, now func() time.Time, log *slog.Logger) MigrationStore {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &publishingStore{MigrationStore: store, feed: feed, now: now, log: log}
}

type publishingStore struct {
	MigrationStore
	feed ChangeFeed
	now  func() time.Time
	log  *slog.Logger
}

func (p *publishingStore) publish(ctx context.Context, err error, ev api.LiveEvent) error {
	if err != nil {
		return err
	}
	ev.At = p.now().UTC()
	// The write is done; its notice must not be lost to the caller's deadline running out.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, perr := p.feed.Publish(pctx, ev); perr != nil {
		p.log.WarnContext(ctx, "could not publish a live event; live clients see the change on their next refresh",
			"kind", ev.Kind, "migration", ev.MigrationId, "candidate", ev.CandidateId, "error", perr)
	}
	return nil
}

func (p *publishingStore) SaveMigration(ctx context.Context, m api.Migration) error {
	return p.publish(ctx, p.MigrationStore.SaveMigration(ctx, m), api.LiveEvent{Kind: api.LiveEventKindMigration, MigrationId: m.Id})
}

func (p *publishingStore) MergeCandidates(ctx context.Context, migrationID string, cs []api.CandidateInput, at time.Time) error {
	return p.publish(ctx, p.MigrationStore.MergeCandidates(ctx, migrationID, cs, at),
		api.LiveEvent{Kind: api.LiveEventKindCandidates, MigrationId: migrationID})
}

func (p *publishingStore) MergeInputs(ctx context.Context, migrationID, candidateID string, inputs map[string]string) (map[string]string, error) {
	out, err := p.MigrationStore.MergeInputs(ctx, migrationID, candidateID, inputs)
	return out, p.publish(ctx, err, api.LiveEvent{Kind: api.LiveEventKindCandidate, MigrationId: migrationID, CandidateId: candidateID})
}

func (p *publishingStore) BeginRun(ctx context.Context, run RunRecord) error {
	return p.publish(ctx, p.MigrationStore.BeginRun(ctx, run), api.LiveEvent{Kind: api.LiveEventKindCandidate, MigrationId: run.MigrationID,
		CandidateId: run.CandidateID, CandidateStatus: api.CandidateStatusRunning, RunStatus: api.RunStatusRunning})
}

func (p *publishingStore) PutStepState(ctx context.Context, migrationID, candidateID, executionID string, step api.StepState, attention api.Attention) error {
	return p.publish(ctx, p.MigrationStore.PutStepState(ctx, migrationID, candidateID, executionID, step, attention),
		api.LiveEvent{Kind: api.LiveEventKindStep, MigrationId: migrationID, CandidateId: candidateID, StepName: step.StepName, StepStatus: step.Status})
}

func (p *publishingStore) FinishRun(ctx context.Context, migrationID, candidateID, executionID string, status api.RunStatus, cs api.CandidateStatus, at time.Time) error {
	return p.publish(ctx, p.MigrationStore.FinishRun(ctx, migrationID, candidateID, executionID, status, cs, at),
		api.LiveEvent{Kind: api.LiveEventKindCandidate, MigrationId: migrationID, CandidateId: candidateID, CandidateStatus: cs, RunStatus: status})
}

func (p *publishingStore) ReconcileRun(ctx context.Context, migrationID, candidateID, executionID string, at time.Time) error {
	return p.publish(ctx, p.MigrationStore.ReconcileRun(ctx, migrationID, candidateID, executionID, at),
		api.LiveEvent{Kind: api.LiveEventKindCandidate, MigrationId: migrationID, CandidateId: candidateID})
}

func (p *publishingStore) PutCancellation(ctx context.Context, migrationID, candidateID, executionID string, c api.RunCancellation) error {
	return p.publish(ctx, p.MigrationStore.PutCancellation(ctx, migrationID, candidateID, executionID, c),
		api.LiveEvent{Kind: api.LiveEventKindCandidate, MigrationId: migrationID, CandidateId: candidateID})
}

func (p *publishingStore) PutRollout(ctx context.Context, r api.Rollout) error {
	return p.publish(ctx, p.MigrationStore.PutRollout(ctx, r),
		api.LiveEvent{Kind: api.LiveEventKindRollout, MigrationId: r.MigrationId, RolloutId: r.Id, RolloutStatus: string(r.Status)})
}

// Hub sizes: the recent events each replica keeps in memory for its subscribers, and the most
// events one read returns.
const (
	hubRecent = 4096
	liveBatch = 512
)

// Hub follows the change feed (one reader per replica, however many clients) and serves
// subscriptions from the events it has read; a subscription resuming from further back reads
// the feed itself.
type Hub struct {
	feed  ChangeFeed
	store MigrationStore
	log   *slog.Logger

	mu     sync.Mutex
	ready  bool
	head   LiveID          // the newest event read
	from   LiveID          // recent holds every event after from
	recent []api.LiveEvent // oldest first
	wake   chan struct{}   // closed when events arrive (then replaced)
	done   chan struct{}   // closed when Run ends
}

// NewHub returns a hub over feed; store answers whether a watched migration exists.
func NewHub(feed ChangeFeed, store MigrationStore, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{feed: feed, store: store, log: log, wake: make(chan struct{}), done: make(chan struct{})}
}

// Run follows the feed until ctx ends; then every subscription ends with ErrLiveClosed.
func (h *Hub) Run(ctx context.Context) {
	defer close(h.done)
	backoff := func(err error) bool {
		if ctx.Err() != nil {
			return false
		}
		h.log.WarnContext(ctx, "live updates: cannot read the change feed; retrying", "error", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Second):
			return true
		}
	}
	var head LiveID
	for {
		s, err := h.feed.Head(ctx)
		if err == nil {
			head = mustLiveID(s)
			break
		}
		if !backoff(err) {
			return
		}
	}
	h.reset(head)
	for {
		evs, err := h.feed.Read(ctx, head.String(), liveBatch, 10*time.Second)
		switch {
		case errors.Is(err, ErrLiveGap): // fell behind the feed's retention: start over at its head
			s, herr := h.feed.Head(ctx)
			if herr != nil {
				if !backoff(herr) {
					return
				}
				continue
			}
			head = mustLiveID(s)
			h.reset(head)
			continue
		case err != nil:
			if !backoff(err) {
				return
			}
			continue
		}
		if len(evs) > 0 {
			head = mustLiveID(string(evs[len(evs)-1].Id))
			h.add(evs)
		}
	}
}

func (h *Hub) reset(head LiveID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready, h.head, h.from, h.recent = true, head, head, nil
	h.notifyLocked()
}

func (h *Hub) add(evs []api.LiveEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recent = append(h.recent, evs...)
	// Trimmed to hubRecent once it holds twice as many: a copy per hubRecent events, not per batch.
	if n := len(h.recent) - hubRecent; n >= hubRecent {
		h.from = mustLiveID(string(h.recent[n-1].Id))
		h.recent = append(make([]api.LiveEvent, 0, 2*hubRecent), h.recent[n:]...)
	}
	h.head = mustLiveID(string(evs[len(evs)-1].Id))
	h.notifyLocked()
}

func (h *Hub) notifyLocked() {
	close(h.wake)
	h.wake = make(chan struct{})
}

// since returns the events after cursor (at most liveBatch) and a channel closed when more
// may have arrived.
func (h *Hub) since(ctx context.Context, cursor LiveID) ([]api.LiveEvent, <-chan struct{}, error) {
	h.mu.Lock()
	wake := h.wake
	if h.ready && !cursor.Less(h.from) && !h.head.Less(cursor) {
		i := sort.Search(len(h.recent), func(i int) bool { return cursor.Less(mustLiveID(string(h.recent[i].Id))) })
		out := h.recent[i:min(len(h.recent), i+liveBatch)]
		h.mu.Unlock()
		return out, wake, nil
	}
	h.mu.Unlock()
	evs, err := h.feed.Read(ctx, cursor.String(), liveBatch, 0)
	return evs, wake, err
}

// Watch subscribes to the live events of one migration (all of them when migrationID is
// empty) after the id after, or from now when after is empty.
func (h *Hub) Watch(ctx context.Context, migrationID, after string) (*Subscription, error) {
	if migrationID != "" {
		if _, err := h.store.GetMigration(ctx, migrationID); err != nil {
			return nil, fmt.Errorf("watch migration %s: %w", migrationID, err)
		}
	}
	var cursor LiveID
	if after != "" {
		id, ok := ParseLiveID(after)
		if !ok {
			return nil, Invalid("Last-Event-ID", "%q is not a live event id (two numbers joined by a dash)", after)
		}
		cursor = id
	} else {
		s, err := h.feed.Head(ctx)
		if err != nil {
			return nil, fmt.Errorf("watch: read the change feed: %w", err)
		}
		cursor = mustLiveID(s)
	}
	return &Subscription{hub: h, migrationID: migrationID, cursor: cursor}, nil
}

// Subscription is one client's place in the live events.
type Subscription struct {
	hub         *Hub
	migrationID string
	cursor      LiveID
}

// Next returns the subscription's next events, waiting up to wait for one (none when it ran
// out). When events were missed it returns a single reset event, whose id is where the
// subscription goes on from. It fails with ErrLiveClosed once the hub has stopped.
func (s *Subscription) Next(ctx context.Context, wait time.Duration) ([]api.LiveEvent, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-s.hub.done:
			return nil, ErrLiveClosed
		default:
		}
		evs, wake, err := s.hub.since(ctx, s.cursor)
		if errors.Is(err, ErrLiveGap) {
			head, herr := s.hub.feed.Head(ctx)
			if herr != nil {
				return nil, fmt.Errorf("live: read the change feed: %w", herr)
			}
			s.cursor = mustLiveID(head)
			return []api.LiveEvent{{Id: api.LiveEventID(head), Kind: api.LiveEventKindReset, At: time.Now().UTC()}}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("live: read the change feed: %w", err)
		}
		if len(evs) > 0 {
			s.cursor = mustLiveID(string(evs[len(evs)-1].Id))
			out := make([]api.LiveEvent, 0, len(evs))
			for _, ev := range evs {
				if s.migrationID == "" || ev.MigrationId == s.migrationID {
					out = append(out, ev)
				}
			}
			if len(out) > 0 {
				return out, nil
			}
			continue
		}
		select {
		case <-wake:
		case <-timer.C:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.hub.done:
			return nil, ErrLiveClosed
		}
	}
}
