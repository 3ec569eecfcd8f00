package migrator

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/pkg/api"
	"github.com/drover-dev/drover/pkg/migrator/signature"
)

// loopbackClient reaches httptest servers, which listen on 127.0.0.1.
func loopbackClient(opts Options) *Client {
	opts.Guard.AllowPrefixes = append(opts.Guard.AllowPrefixes, netip.MustParsePrefix("127.0.0.0/8"))
	if opts.DispatchTimeout == 0 {
		opts.DispatchTimeout = 5 * time.Second
	}
	if opts.DryRunTimeout == 0 {
		opts.DryRunTimeout = 5 * time.Second
	}
	return NewClientWith(opts)
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	elsewhere := newTarget(t, nil)
	var other *target
	for _, tc := range []struct {
		name     string
		location func() string
		code     int
	}{
		{"to loopback", func() string { return elsewhere.URL + "/dispatch-step" }, http.StatusTemporaryRedirect},
		{"to another path", func() string { return other.URL + "/elsewhere" }, http.StatusFound},
		{"permanent", func() string { return elsewhere.URL + "/dispatch-step" }, http.StatusPermanentRedirect},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other = newTarget(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/elsewhere" {
					w.WriteHeader(http.StatusAccepted)
					return
				}
				http.Redirect(w, r, tc.location(), tc.code)
			})
			for _, c := range []*Client{
				loopbackClient(Options{}),
				NewClient(&http.Client{}, time.Second, time.Second), // an explicit client is still kept from redirects
			} {
				err := c.DispatchStep(t.Context(), other.URL, dispatch("m"))
				var me *Error
				require.ErrorAs(t, err, &me)
				require.Equal(t, tc.code, me.StatusCode)
				require.Contains(t, err.Error(), "redirects are not followed")
				require.ErrorContains(t, err, "answered "+strconv.Itoa(tc.code)+" (redirects are not followed)")
				_, err = c.DryRun(t.Context(), other.URL, api.DryRunRequest{MigrationId: "m"})
				require.ErrorAs(t, err, &me)
				require.Equal(t, tc.code, me.StatusCode)
			}
			require.EqualValues(t, 4, other.hits.Load(), "only the first requests")
			require.Zero(t, elsewhere.hits.Load())
		})
	}
}

func TestErrorBodyComesBackAsABoundedExcerpt(t *testing.T) {
	huge := strings.Repeat("x", 1<<20)
	cases := []struct {
		name   string
		ctype  string
		body   string
		want   string // exact, or "" to check only the bounds
		prefix string
	}{
		{"1 MiB of text", "text/plain", huge, "", "xxxx"},
		{"1 MiB JSON error", "application/json", `{"error":"` + huge + `"}`, "", `{"error":"xxx`},
		{"JSON error", "application/json", `{"error":"candidate svc-a\nis\tlocked\u0007"}`, "candidate svc-a is locked", ""},
		{"JSON message", "application/json", `{"message":"not today"}`, "not today", ""},
		{"JSON nested error", "application/json", `{"error":{"message":"quota"}}`, "quota", ""},
		{"text with control and bidi characters", "text/plain", "evil\x1b[31m\u202eredtext\r\nline two", "evil [31m redtext line two", ""},
		{"invalid UTF-8", "text/plain", "caf\xc3\x28 ok", "caf\uFFFD( ok", ""},
		{"empty", "text/plain", "", "Internal Server Error", ""},
		{"long multibyte text", "text/plain", strings.Repeat("é", 3000), "", "éé"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = io.WriteString(w, tc.body)
			})
			c := loopbackClient(Options{})
			check := func(err error) {
				t.Helper()
				var me *Error
				require.ErrorAs(t, err, &me)
				require.Equal(t, http.StatusInternalServerError, me.StatusCode)
				msg := me.Message
				require.True(t, utf8.ValidString(msg))
				require.LessOrEqual(t, utf8.RuneCountInString(msg), 200)
				require.Less(t, len(err.Error()), 1200)
				for _, r := range msg {
					require.False(t, unicode.IsControl(r) || unicode.Is(unicode.Cf, r), "control character %U in %q", r, msg)
				}
				if tc.want != "" {
					require.Equal(t, tc.want, msg)
				}
				if tc.prefix != "" {
					require.True(t, strings.HasPrefix(msg, tc.prefix), msg)
					require.True(t, strings.HasSuffix(msg, "…"), msg)
					require.Equal(t, 200, utf8.RuneCountInString(msg))
				}
			}
			check(c.DispatchStep(t.Context(), tg.URL, dispatch("m")))
			_, err := c.DryRun(t.Context(), tg.URL, api.DryRunRequest{MigrationId: "m"})
			check(err)
		})
	}
}

func TestDryRunDecodesTheAnswer(t *testing.T) {
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/base/dry-run", r.URL.Path)
		_, _ = io.WriteString(w, `{"steps":[{"stepName":"open-pr"}]}`)
	})
	out, err := loopbackClient(Options{}).DryRun(t.Context(), tg.URL+"/base/", api.DryRunRequest{MigrationId: "m"})
	require.NoError(t, err)
	require.Len(t, out.Steps, 1)
}

// keySigner gives each migration its keys.
type keySigner struct {
	mu    sync.Mutex
	keys  map[string][][]byte
	err   error
	asked []string
}

func (s *keySigner) Keys(_ context.Context, migrationID string) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, migrationID)
	return s.keys[migrationID], s.err
}

func newKey(t *testing.T) []byte {
	t.Helper()
	s, err := signature.NewSecret()
	require.NoError(t, err)
	k, err := signature.ParseSecret(s)
	require.NoError(t, err)
	return k
}

// received is what a migrator got.
type received struct {
	header http.Header
	body   []byte
}

func recordingTarget(t *testing.T, got chan<- received) *target {
	return newTarget(t, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		got <- received{header: r.Header.Clone(), body: body}
		if strings.HasSuffix(r.URL.Path, "/dry-run") {
			_, _ = io.WriteString(w, `{"steps":[]}`)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
}

func TestDispatchAndDryRunAreSigned(t *testing.T) {
	oldKey, newKey_ := newKey(t), newKey(t)
	otherKey := newKey(t)
	signer := &keySigner{keys: map[string][][]byte{"m-rotating": {oldKey, newKey_}, "m-one": {otherKey}}}
	got := make(chan received, 8)
	tg := recordingTarget(t, got)
	c := loopbackClient(Options{Signer: signer})

	require.NoError(t, c.DispatchStep(t.Context(), tg.URL, dispatch("m-rotating")))
	first := <-got
	for _, keys := range [][][]byte{{oldKey}, {newKey_}, {oldKey, newKey_}} {
		m, err := signature.Verify(keys, first.header, first.body, time.Now())
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(m.ID, "msg_"))
	}
	_, err := signature.Verify([][]byte{otherKey}, first.header, first.body, time.Now())
	require.ErrorIs(t, err, signature.ErrMismatch)
	var sent api.DispatchStepRequest
	require.NoError(t, json.Unmarshal(first.body, &sent))
	require.Equal(t, "m-rotating", sent.MigrationId)

	// A fresh id per call.
	require.NoError(t, c.DispatchStep(t.Context(), tg.URL, dispatch("m-rotating")))
	second := <-got
	require.NotEqual(t, first.header.Get(signature.HeaderID), second.header.Get(signature.HeaderID))

	_, err = c.DryRun(t.Context(), tg.URL, api.DryRunRequest{MigrationId: "m-one", Steps: []api.StepDefinition{}})
	require.NoError(t, err)
	dry := <-got
	_, err = signature.Verify([][]byte{otherKey}, dry.header, dry.body, time.Now())
	require.NoError(t, err)
	_, err = signature.Verify([][]byte{oldKey}, dry.header, dry.body, time.Now())
	require.ErrorIs(t, err, signature.ErrMismatch)

	require.Equal(t, []string{"m-rotating", "m-rotating", "m-one"}, signer.asked)
}

func TestSignatureUsesTheClock(t *testing.T) {
	key := newKey(t)
	at := time.Unix(1_800_000_000, 0)
	got := make(chan received, 1)
	tg := recordingTarget(t, got)
	c := loopbackClient(Options{Signer: &keySigner{keys: map[string][][]byte{"m": {key}}}, Now: func() time.Time { return at }})
	require.NoError(t, c.DispatchStep(t.Context(), tg.URL, dispatch("m")))
	r := <-got
	require.Equal(t, "1800000000", r.header.Get(signature.HeaderTimestamp))
	_, err := signature.Verify([][]byte{key}, r.header, r.body, at)
	require.NoError(t, err)
	_, err = signature.Verify([][]byte{key}, r.header, r.body, at.Add(10*time.Minute))
	require.ErrorIs(t, err, signature.ErrStale)
}

func TestNoKeysSendsUnsigned(t *testing.T) {
	got := make(chan received, 2)
	tg := recordingTarget(t, got)
	for _, c := range []*Client{
		loopbackClient(Options{Signer: &keySigner{}}),
		loopbackClient(Options{}),
	} {
		require.NoError(t, c.DispatchStep(t.Context(), tg.URL, dispatch("m")))
		r := <-got
		require.False(t, signature.Signed(r.header), "headers: %v", r.header)
	}
}

func TestSignerFailureFailsTheCall(t *testing.T) {
	tg := newTarget(t, nil)
	for _, signer := range []*keySigner{
		{err: errors.New("store is down")},
		{keys: map[string][][]byte{"m": {nil}}},
	} {
		c := loopbackClient(Options{Signer: signer})
		err := c.DispatchStep(t.Context(), tg.URL, dispatch("m"))
		var me *Error
		require.ErrorAs(t, err, &me)
		require.Zero(t, me.StatusCode)
		require.False(t, me.Timeout())
		require.False(t, me.Refused())
		require.ErrorContains(t, err, "was not called: cannot sign the request for migration m")
		_, err = c.DryRun(t.Context(), tg.URL, api.DryRunRequest{MigrationId: "m"})
		require.ErrorAs(t, err, &me)
	}
	require.ErrorContains(t, loopbackClient(Options{Signer: &keySigner{err: errors.New("store is down")}}).
		DispatchStep(t.Context(), tg.URL, dispatch("m")), "store is down")
	require.Zero(t, tg.hits.Load())
}

func TestTimeoutIsStillATimeout(t *testing.T) {
	release := make(chan struct{})
	tg := newTarget(t, func(http.ResponseWriter, *http.Request) { <-release })
	defer close(release)
	c := loopbackClient(Options{DispatchTimeout: 100 * time.Millisecond})
	err := c.DispatchStep(t.Context(), tg.URL, dispatch("m"))
	var me *Error
	require.ErrorAs(t, err, &me)
	require.True(t, me.Timeout(), "%v", err)
	require.False(t, me.Refused())
}

func TestInvalidURLIsNotCalled(t *testing.T) {
	tg := newTarget(t, nil)
	err := loopbackClient(Options{}).DispatchStep(t.Context(), tg.URL+"/registry/announce#", dispatch("m"))
	require.ErrorContains(t, err, "a fragment is not allowed")
	require.Zero(t, tg.hits.Load())
}

func TestValidateURL(t *testing.T) {
	for _, ok := range []string{
		"http://migrator:8080", "https://migrator.example.com/base/", "http://10.0.0.1:1", "http://[::1]:65535/x",
		"HTTP://Example.COM", "http://1.2.3.4", "http://123.example.com",
	} {
		require.NoError(t, ValidateURL(ok), ok)
	}
	for raw, why := range map[string]string{
		"":                            "a URL is required",
		"http://x/#a":                 "a fragment is not allowed",
		"http://x/#":                  "a fragment is not allowed",
		"http://x/?a=1":               "a query is not allowed",
		"http://x/?":                  "a query is not allowed",
		"http://x?#":                  "a fragment is not allowed",
		"ftp://x/":                    "the scheme must be http or https",
		"x:8080":                      "the scheme must be http or https",
		"migrator:8080":               "the scheme must be http or https",
		"/relative":                   "the scheme must be http or https",
		"http:opaque":                 "a host is required",
		"http:///path":                "a host is required",
		"http://:80":                  "a host is required",
		"http://user:pw@x/":           "userinfo (user:password@) is not allowed",
		"http://@x/":                  "userinfo",
		"http://x:/":                  "the port is empty",
		"http://x:0/":                 "port 0 is not a number from 1 to 65535",
		"http://x:65536/":             "port 65536 is not a number",
		"http://x:99999999999999999/": "port 99999999999999999 is not a number",
		"http://x:http/":              "not a URL",
		"http://127.1/":               "non-standard notation",
		"http://2130706433/":          "non-standard notation",
		"http://0x7f000001/":          "non-standard notation",
		"http://0177.0.0.1/":          "non-standard notation",
		"http://a.0x10/":              "non-standard notation",
		"http://x y/":                 "not a URL",
		"http://[::1/":                "not a URL",
	} {
		err := ValidateURL(raw)
		require.Error(t, err, raw)
		require.ErrorContains(t, err, why, raw)
		require.True(t, strings.HasPrefix(err.Error(), "migratorUrl "), err.Error())
	}
	require.EqualError(t, ValidateURL("http://x/#a"), `migratorUrl "http://x/#a": a fragment is not allowed`)
}

func TestParseAllow(t *testing.T) {
	g, err := ParseAllow([]string{"10.0.0.0/8", " 192.168.1.7 ", "fd00::/8", "[::1]", "10.1.2.3/8", "Migrator.Corp.", "*.apps.corp"})
	require.NoError(t, err)
	require.Equal(t, []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("fd00::/8"),
		netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("10.0.0.0/8"),
	}, g.AllowPrefixes)
	require.Equal(t, []string{"migrator.corp", "*.apps.corp"}, g.AllowHosts)
	require.False(t, g.AllowLoopback)
	for _, bad := range []string{"", "a b", "*.", "x..y", "10.0.0.0/33", "127.1", "http://x", "fe80::1%eth0", "*"} {
		_, err := ParseAllow([]string{bad})
		require.Error(t, err, bad)
	}
}

func TestClipRunes(t *testing.T) {
	require.Equal(t, "abc", clipRunes("abc", 3))
	require.Equal(t, "ab…", clipRunes("abcd", 3))
	require.Equal(t, "éé…", clipRunes("éééé", 3))
}
