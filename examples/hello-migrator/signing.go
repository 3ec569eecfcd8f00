package main

// The Standard Webhooks scheme on the standard library alone: a secret is "whsec_" plus the
// base64 of an HMAC key; a message carries webhook-id, webhook-timestamp (Unix seconds) and
// webhook-signature ("v1,"+base64 of HMAC-SHA256 over id.timestamp.body, several separated by
// spaces while a secret rotates). Drover signs its dispatches and dry runs with this
// migrator's secret; the migrator signs its announcement and events with it.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	tolerance    = 5 * time.Minute  // how far a timestamp may be from our clock
	replayWindow = 10 * time.Minute // how long a received webhook-id is remembered
)

// parseSecret decodes a "whsec_" secret into its HMAC key.
func parseSecret(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, errors.New(`the secret does not start with "whsec_"`)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("the secret is not whsec_ plus base64: %w", err)
	}
	if len(key) < 16 {
		return nil, fmt.Errorf("the secret is too short: %d bytes", len(key))
	}
	return key, nil
}

// mac is the scheme's HMAC-SHA256 over "id.timestamp.body".
func mac(key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	return m.Sum(nil)
}

// sign sets the scheme's headers on h for body, with a new webhook-id: Drover refuses an id it
// has seen, so every attempt, retries too, is signed afresh.
func sign(h http.Header, key, body []byte, now time.Time) {
	id := make([]byte, 16)
	_, _ = rand.Read(id) // never fails
	msgID, ts := "msg_"+hex.EncodeToString(id), strconv.FormatInt(now.Unix(), 10)
	h.Set("webhook-id", msgID)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac(key, msgID, ts, body)))
}

// verifier checks Drover's signatures and refuses a webhook-id received before.
type verifier struct {
	key []byte

	mu   sync.Mutex
	seen map[string]time.Time
}

// verify reports why h does not sign body with v's key at now, or nil; a verified id is
// remembered so that its replay fails.
func (v *verifier) verify(h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("the request is not signed (webhook-id, webhook-timestamp and webhook-signature are required)")
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is not a number of seconds")
	}
	if d := now.Sub(time.Unix(secs, 0)); d > tolerance || d < -tolerance {
		return errors.New("webhook-timestamp is more than 5 minutes from now")
	}
	want := mac(v.key, id, ts, body)
	ok := false
	for _, s := range strings.Fields(sigs) {
		enc, isV1 := strings.CutPrefix(s, "v1,")
		raw, err := base64.StdEncoding.DecodeString(enc)
		if isV1 && err == nil && hmac.Equal(raw, want) {
			ok = true
		}
	}
	if !ok {
		return errors.New("no signature matches this migrator's secret")
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	// Only verified ids are kept, so the map holds at most Drover's last 10 minutes of requests.
	for seenID, at := range v.seen {
		if now.Sub(at) >= replayWindow {
			delete(v.seen, seenID)
		}
	}
	if _, dup := v.seen[id]; dup {
		return errors.New("webhook-id was received before: a replayed request is refused")
	}
	v.seen[id] = now
	return nil
}
