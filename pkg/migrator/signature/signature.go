// Package signature signs and verifies Drover's HTTP traffic on the Standard Webhooks scheme:
// headers webhook-id, webhook-timestamp and webhook-signature, the signature an HMAC-SHA256
// over "id.timestamp.body" keyed with a secret written "whsec_" plus base64. Drover signs its
// dispatches and dry runs; migrators sign their announcements, submissions and events.
package signature

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
	"time"
)

// The scheme's headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Tolerance is how far a message's timestamp may be from the receiver's clock.
const Tolerance = 5 * time.Minute

const (
	secretPrefix  = "whsec_"
	maxSignatures = 8
)

// Errors of Verify; each says what is wrong with the message.
var (
	ErrUnsigned  = errors.New("the request is not signed: webhook-id, webhook-timestamp and webhook-signature are required")
	ErrMalformed = errors.New("malformed signature headers")
	ErrStale     = errors.New("the signature's timestamp is more than 5 minutes from now")
	ErrMismatch  = errors.New("no signature matches")
)

// NewSecret returns a new random secret in the scheme's form ("whsec_" plus base64 of 32
// bytes).
func NewSecret() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// ParseSecret decodes a "whsec_" secret into its key.
func ParseSecret(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return nil, fmt.Errorf("secret does not start with %q", secretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("secret is not %s plus base64: %w", secretPrefix, err)
	}
	if len(key) < 16 {
		return nil, fmt.Errorf("secret is too short: %d bytes, at least 16 needed", len(key))
	}
	return key, nil
}

// NewID returns a new random message id.
func NewID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return "msg_" + hex.EncodeToString(b)
}

// Sign returns the signature of one message under one key, as "v1,<base64>".
func Sign(key []byte, id string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, strconv.FormatInt(ts.Unix(), 10), body))
}

// SignHeaders sets the scheme's headers on h for body, signed with every key (a receiver
// accepts any one; several keys let a secret be rotated without a gap).
func SignHeaders(h http.Header, keys [][]byte, id string, ts time.Time, body []byte) {
	sigs := make([]string, 0, len(keys))
	for _, k := range keys {
		sigs = append(sigs, Sign(k, id, ts, body))
	}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, strings.Join(sigs, " "))
}

// Signed reports whether h carries any of the scheme's headers.
func Signed(h http.Header) bool {
	return h.Get(HeaderID) != "" || h.Get(HeaderTimestamp) != "" || h.Get(HeaderSignature) != ""
}

// Message is a verified message's identity, for replay checks.
type Message struct {
	ID        string
	Timestamp time.Time
	// Key is the index, in the keys given to Verify, of the key that verified it.
	Key int
}

// Verify checks h's signature of body against keys at time now: the headers are present and
// well formed, the timestamp is within Tolerance, and a v1 signature matches one of the keys.
// Refusing a repeated id is the caller's job (it needs memory of the ids seen).
func Verify(keys [][]byte, h http.Header, body []byte, now time.Time) (Message, error) {
	id, tsRaw, sigRaw := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" && tsRaw == "" && sigRaw == "" {
		return Message{}, ErrUnsigned
	}
	if id == "" || tsRaw == "" || sigRaw == "" {
		return Message{}, fmt.Errorf("%w: webhook-id, webhook-timestamp and webhook-signature must all be present", ErrMalformed)
	}
	if len(id) > 256 {
		return Message{}, fmt.Errorf("%w: webhook-id is longer than 256 characters", ErrMalformed)
	}
	secs, err := strconv.ParseInt(tsRaw, 10, 64)
	if err != nil {
		return Message{}, fmt.Errorf("%w: webhook-timestamp %q is not a number of seconds", ErrMalformed, clip(tsRaw))
	}
	ts := time.Unix(secs, 0)
	if d := now.Sub(ts); d > Tolerance || d < -Tolerance {
		return Message{}, fmt.Errorf("%w (it is %s)", ErrStale, ts.UTC().Format(time.RFC3339))
	}
	var sigs [][]byte
	for i, part := range strings.Fields(sigRaw) {
		if i >= maxSignatures {
			break
		}
		v, enc, ok := strings.Cut(part, ",")
		if !ok || v != "v1" {
			continue
		}
		if raw, err := base64.StdEncoding.DecodeString(enc); err == nil {
			sigs = append(sigs, raw)
		}
	}
	if len(sigs) == 0 {
		return Message{}, fmt.Errorf("%w: webhook-signature holds no v1 signature", ErrMalformed)
	}
	for k, key := range keys {
		want := mac(key, id, tsRaw, body)
		for _, s := range sigs {
			if hmac.Equal(want, s) {
				return Message{ID: id, Timestamp: ts, Key: k}, nil
			}
		}
	}
	return Message{}, ErrMismatch
}

func mac(key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
