package signature

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// The Standard Webhooks specification's published example: a receiver written against the
// scheme elsewhere computes the same signature.
func TestSignMatchesTheSchemesExample(t *testing.T) {
	key, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s1, _ := NewSecret()
	s2, _ := NewSecret()
	k1, _ := ParseSecret(s1)
	k2, _ := ParseSecret(s2)
	body := []byte(`{"stepName":"open-pr"}`)
	signed := func(keys [][]byte, at time.Time, b []byte) http.Header {
		h := http.Header{}
		SignHeaders(h, keys, "msg_1", at, b)
		return h
	}
	cases := []struct {
		name string
		h    http.Header
		body []byte
		keys [][]byte
		want error
		key  int
	}{
		{"valid", signed([][]byte{k1}, now, body), body, [][]byte{k1}, nil, 0},
		{"second of two receiver keys", signed([][]byte{k2}, now, body), body, [][]byte{k1, k2}, nil, 1},
		{"signed with two keys during rotation", signed([][]byte{k1, k2}, now, body), body, [][]byte{k2}, nil, 0},
		{"clock skew within tolerance", signed([][]byte{k1}, now.Add(-4*time.Minute), body), body, [][]byte{k1}, nil, 0},
		{"stale", signed([][]byte{k1}, now.Add(-6*time.Minute), body), body, [][]byte{k1}, ErrStale, 0},
		{"from the future", signed([][]byte{k1}, now.Add(6*time.Minute), body), body, [][]byte{k1}, ErrStale, 0},
		{"other key", signed([][]byte{k2}, now, body), body, [][]byte{k1}, ErrMismatch, 0},
		{"body changed", signed([][]byte{k1}, now, body), []byte(`{"stepName":"merge"}`), [][]byte{k1}, ErrMismatch, 0},
		{"unsigned", http.Header{}, body, [][]byte{k1}, ErrUnsigned, 0},
		{"id missing", func() http.Header { h := signed([][]byte{k1}, now, body); h.Del(HeaderID); return h }(), body, [][]byte{k1}, ErrMalformed, 0},
		{"timestamp not a number", func() http.Header { h := signed([][]byte{k1}, now, body); h.Set(HeaderTimestamp, "soon"); return h }(), body, [][]byte{k1}, ErrMalformed, 0},
		{"no v1 signature", func() http.Header { h := signed([][]byte{k1}, now, body); h.Set(HeaderSignature, "v2,abc"); return h }(), body, [][]byte{k1}, ErrMalformed, 0},
		{"no keys", signed([][]byte{k1}, now, body), body, nil, ErrMismatch, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Verify(tc.keys, tc.h, tc.body, now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if err == nil && (m.ID != "msg_1" || m.Key != tc.key) {
				t.Fatalf("message = %+v, want id msg_1 and key %d", m, tc.key)
			}
		})
	}
}

func TestParseSecretRefusesWhatIsNotASecret(t *testing.T) {
	for _, s := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_c2hvcnQ="} {
		if _, err := ParseSecret(s); err == nil {
			t.Errorf("ParseSecret(%q) accepted", s)
		}
	}
}
