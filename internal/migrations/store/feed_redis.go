package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/drover-dev/drover/internal/migrations"
	"github.com/drover-dev/drover/pkg/api"
)

// RedisFeedKeep is about how many live events the Redis feed keeps (trimmed approximately):
// a client that was away for fewer changes than this resumes where it left off.
const RedisFeedKeep = 50_000

// RedisFeed is the change feed shared by every `drover serve` replica: the stream P:live, an
// entry per event with the event's JSON in its field "e" and the entry's id as the event's.
type RedisFeed struct {
	client redis.UniversalClient
	key    string
	keep   int64
}

// NewRedisFeed returns the feed under prefix (as the store's), keeping about keep events.
func NewRedisFeed(client redis.UniversalClient, prefix string, keep int64) *RedisFeed {
	if prefix != "" && !strings.HasSuffix(prefix, ":") {
		prefix += ":"
	}
	return &RedisFeed{client: client, key: prefix + "live", keep: max(keep, 1)}
}

// Publish implements migrations.ChangeFeed.
func (f *RedisFeed) Publish(ctx context.Context, ev api.LiveEvent) (string, error) {
	ev.Id = ""
	b, err := json.Marshal(ev)
	if err != nil {
		return "", fmt.Errorf("encode live event: %w", err)
	}
	id, err := f.client.XAdd(ctx, &redis.XAddArgs{Stream: f.key, MaxLen: f.keep, Approx: true, Values: []any{"e", b}}).Result()
	if err != nil {
		return "", backendError(fmt.Errorf("publish live event: %w", err))
	}
	return id, nil
}

// info returns the stream's newest id and the oldest it still holds, and whether it has
// trimmed any ("0-0" ids when it does not exist yet).
func (f *RedisFeed) info(ctx context.Context) (last, first string, trimmed bool, err error) {
	in, err := f.client.XInfoStream(ctx, f.key).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return "0-0", "0-0", false, nil
		}
		return "", "", false, backendError(fmt.Errorf("read live feed: %w", err))
	}
	// entries-added is Redis 7's; before, any stream is taken to have been trimmed.
	return in.LastGeneratedID, in.FirstEntry.ID, in.EntriesAdded == 0 || in.EntriesAdded > in.Length, nil
}

// Head implements migrations.ChangeFeed.
func (f *RedisFeed) Head(ctx context.Context) (string, error) {
	last, _, _, err := f.info(ctx)
	return last, err
}

// Read implements migrations.ChangeFeed.
func (f *RedisFeed) Read(ctx context.Context, after string, limit int, wait time.Duration) ([]api.LiveEvent, error) {
	id, ok := migrations.ParseLiveID(after)
	if !ok {
		return nil, migrations.Invalid("after", "%q is not a live event id", after)
	}
	_, first, trimmed, err := f.info(ctx)
	if err != nil {
		return nil, err
	}
	// Trimming drops the oldest entries: resuming from before the oldest kept one may have
	// missed some (or, when after is the last one dropped, none: a reset too many, harmless).
	if fid, ok := migrations.ParseLiveID(first); ok && trimmed && id.Less(fid) {
		return nil, migrations.ErrLiveGap
	}
	msgs, err := f.client.XRangeN(ctx, f.key, "("+after, "+", int64(limit)).Result()
	if err != nil {
		return nil, backendError(fmt.Errorf("read live feed: %w", err))
	}
	if len(msgs) == 0 && wait > 0 {
		streams, err := f.client.XRead(ctx, &redis.XReadArgs{Streams: []string{f.key, after}, Count: int64(limit), Block: wait}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			return nil, nil
		case err != nil:
			return nil, backendError(fmt.Errorf("wait on live feed: %w", err))
		}
		for _, s := range streams {
			msgs = append(msgs, s.Messages...)
		}
	}
	out := make([]api.LiveEvent, 0, len(msgs))
	for _, m := range msgs {
		raw, _ := m.Values["e"].(string)
		var ev api.LiveEvent
		if err := json.Unmarshal([]byte(raw), &ev); err != nil {
			return nil, fmt.Errorf("decode live event %s: %w", m.ID, err)
		}
		ev.Id = api.LiveEventID(m.ID)
		out = append(out, ev)
	}
	return out, nil
}
