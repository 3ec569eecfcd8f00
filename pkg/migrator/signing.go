package migrator

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/drover-dev/drover/pkg/migrator/signature"
)

const (
	// replayWindow is how long a verified webhook-id is remembered: a timestamp is valid for
	// signature.Tolerance either side of the clock, so a message cannot outlive twice that.
	replayWindow = 2 * signature.Tolerance
	// maxSeen bounds the remembered ids; beyond it the oldest are forgotten first.
	maxSeen = 100_000
	// maxSecrets is how many signatures Drover reads from one header.
	maxSecrets = 8
	maxBody    = 16 << 20
)

// parseSecrets decodes Config.Secret: empty, or one or more space-separated "whsec_" secrets.
func parseSecrets(s string) ([][]byte, error) {
	if s == "" {
		return nil, nil
	}
	fields := strings.Fields(s)
	switch {
	case len(fields) == 0:
		return nil, errors.New("migrator: Config.Secret holds only spaces: leave it empty, or give a whsec_ secret")
	case len(fields) > maxSecrets:
		return nil, fmt.Errorf("migrator: Config.Secret holds %d secrets, at most %d", len(fields), maxSecrets)
	}
	keys := make([][]byte, 0, len(fields))
	for i, f := range fields {
		k, err := signature.ParseSecret(f)
		if err != nil {
			return nil, fmt.Errorf("migrator: Config.Secret (secret %d of %d): %w", i+1, len(fields), err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// verified reads r's body and, when the migrator has a secret, checks that Drover signed it
// and that its webhook-id is new. Otherwise it answers (401 for a bad signature or a replay)
// and returns false, so that no handler runs.
func (m *Migrator) verified(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("%s: body is larger than %d bytes", r.URL.Path, tooLarge.Limit))
			return nil, false
		}
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s: read body: %v", r.URL.Path, err))
		return nil, false
	}
	if len(m.keys) == 0 {
		return body, true
	}
	now := time.Now()
	msg, err := signature.Verify(m.keys, r.Header, body, now)
	if err == nil && !m.seen.add(msg.ID, now) {
		err = errors.New("webhook-id was already received: a replayed request is refused")
	}
	if err != nil {
		m.log.Warn("refused a request not signed by Drover", "path", r.URL.Path, "remote", r.RemoteAddr, "error", err)
		writeError(w, http.StatusUnauthorized, fmt.Sprintf("%s refused: %v", r.URL.Path, err))
		return nil, false
	}
	return body, true
}

// sign sets the scheme's headers on req for body, with a fresh webhook-id (Drover refuses a
// repeated one, so every attempt gets its own), signed with each of the migrator's secrets.
func (m *Migrator) sign(req *http.Request, body []byte) {
	if len(m.keys) > 0 {
		signature.SignHeaders(req.Header, m.keys, signature.NewID(), time.Now(), body)
	}
}

// seenIDs remembers verified webhook-ids for ttl, at most max of them (the oldest forgotten
// first), so that a replayed request is refused while its timestamp is still valid.
type seenIDs struct {
	ttl time.Duration
	max int

	mu    sync.Mutex
	ids   map[string]struct{}
	order []seenID // oldest first
}

type seenID struct {
	id string
	at time.Time
}

func newSeenIDs(ttl time.Duration, max int) *seenIDs {
	return &seenIDs{ttl: ttl, max: max, ids: map[string]struct{}{}}
}

// add records id as seen at now; it reports false when id was seen within ttl.
func (s *seenIDs) add(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.order) > 0 && now.Sub(s.order[0].at) >= s.ttl {
		s.dropOldest()
	}
	if _, ok := s.ids[id]; ok {
		return false
	}
	for len(s.order) >= s.max {
		s.dropOldest()
	}
	s.ids[id] = struct{}{}
	s.order = append(s.order, seenID{id, now})
	return true
}

func (s *seenIDs) dropOldest() {
	delete(s.ids, s.order[0].id)
	s.order[0] = seenID{}
	s.order = s.order[1:]
}
