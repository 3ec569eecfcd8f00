package migrator

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/drover-dev/drover/pkg/api"
)

// target is a migrator that counts the requests reaching it.
type target struct {
	*httptest.Server
	hits atomic.Int32
}

func newTarget(t *testing.T, h http.HandlerFunc) *target {
	t.Helper()
	tg := &target{}
	if h == nil {
		h = func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) }
	}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(tg.Close)
	return tg
}

func (tg *target) port(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(tg.URL)
	require.NoError(t, err)
	return u.Port()
}

// fakeResolver answers for the names it knows, each call taking the next answer (the last one
// repeats), and asks the system for the others.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][][]netip.Addr
	calls   map[string]int
}

func newFakeResolver(answers map[string][][]netip.Addr) *fakeResolver {
	return &fakeResolver{answers: answers, calls: map[string]int{}}
}

func (r *fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	seq, ok := r.answers[host]
	n := r.calls[host]
	r.calls[host]++
	r.mu.Unlock()
	if !ok {
		return (&net.Resolver{}).LookupNetIP(ctx, network, host)
	}
	return seq[min(n, len(seq)-1)], nil
}

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

func dispatch(migrationID string) api.DispatchStepRequest {
	return api.DispatchStepRequest{MigrationId: migrationID, StepName: "open-pr", EventName: "open-pr", MigratorApp: "app"}
}

// TestGuardRefusesEveryAddressClass points a call at each address class in each notation a
// URL host can hold; the migrator listens on 127.0.0.1 at the port used, so a loopback
// notation that got through would reach it.
func TestGuardRefusesEveryAddressClass(t *testing.T) {
	tg := newTarget(t, nil)
	port := tg.port(t)
	res := newFakeResolver(map[string][][]netip.Addr{
		"rebind.test":     {addrs("127.0.0.1")},
		"metadata.test":   {addrs("169.254.169.254")},
		"dual.test":       {addrs("::1", "127.0.0.1")},
		"internal.test":   {addrs("10.1.2.3", "fd00::1")},
		"nat64-loop.test": {addrs("64:ff9b::7f00:1")},
	})
	c := NewClientWith(Options{DispatchTimeout: 3 * time.Second, Guard: Guard{Resolver: res}})

	cases := []struct {
		host  string
		class string // "" when the parser or the resolver may refuse the host first
	}{
		{"127.0.0.1", "loopback"},
		{"127.1", ""},
		{"2130706433", ""},
		{"0x7f000001", ""},
		{"0177.0.0.1", ""},
		{"[::1]", "loopback"},
		{"[::ffff:127.0.0.1]", "loopback"},
		{"[::ffff:7f00:1]", "loopback"},
		{"[::127.0.0.1]", "loopback"},          // IPv4-compatible
		{"[::ffff:0:7f00:1]", "loopback"},      // IPv4-translated
		{"[64:ff9b::7f00:1]", "loopback"},      // NAT64
		{"[64:ff9b::a9fe:a9fe]", "link-local"}, // NAT64 of 169.254.169.254
		{"[2002:7f00:1::]", "loopback"},        // 6to4
		{"169.254.169.254", "link-local"},
		{"[::ffff:169.254.169.254]", "link-local"},
		{"[fe80::1]", "link-local"},
		{"[fd00:ec2::254]", "unique-local"},
		{"[fc00::1]", "unique-local"},
		{"10.0.0.1", "private"},
		{"[::ffff:10.0.0.1]", "private"},
		{"192.168.1.1", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"[fec0::1]", "private"},
		{"[64:ff9b:1::a00:1]", "private"},
		{"0.0.0.0", "unspecified"},
		{"[::]", "unspecified"},
		{"[::ffff:0.0.0.0]", "unspecified"},
		{"0.1.2.3", "reserved"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"[ff02::1]", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"240.0.0.1", "reserved"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.127.255.254", "carrier-grade NAT"},
		{"[::ffff:100.64.0.1]", "carrier-grade NAT"},
		{"localhost", "loopback"},
		{"LocalHost", "loopback"},
		{"rebind.test", "loopback"},
		{"dual.test", "loopback"},
		{"metadata.test", "link-local"},
		{"internal.test", "private"},
		{"nat64-loop.test", "loopback"},
		{"metadata.google.internal", ""},
	}
	for _, tc := range cases {
		t.Run(tc.host, func(t *testing.T) {
			t.Parallel()
			err := c.DispatchStep(t.Context(), "http://"+tc.host+":"+port, dispatch("m"))
			require.Error(t, err)
			t.Log(err)
			var me *Error
			require.True(t, errors.As(err, &me), "error %v is not a *Error", err)
			require.Zero(t, me.StatusCode)
			require.False(t, me.Timeout(), "%v", err)
			if tc.class != "" {
				require.True(t, me.Refused(), "%v", err)
				require.Contains(t, err.Error(), "is "+tc.class)
				require.Contains(t, err.Error(), "--migrator-allow")
			}
		})
	}
	t.Cleanup(func() { require.Zero(t, tg.hits.Load(), "a refused call reached the migrator") })
}

func TestGuardMessageNamesHostAndReason(t *testing.T) {
	res := newFakeResolver(map[string][][]netip.Addr{"rebind.test": {addrs("127.0.0.1")}})
	c := NewClientWith(Options{Guard: Guard{Resolver: res}})
	err := c.DispatchStep(t.Context(), "http://127.0.0.1:9", dispatch("m"))
	require.EqualError(t, err, "migrator dispatch-step at http://127.0.0.1:9/dispatch-step was not called: "+
		"migrator address 127.0.0.1 is loopback; Drover refuses to call loopback, link-local and private addresses unless an admin allows them (--migrator-allow)")
	err = c.DispatchStep(t.Context(), "http://rebind.test:9", dispatch("m"))
	require.ErrorContains(t, err, "migrator host rebind.test resolves to 127.0.0.1, which is loopback;")
	err = c.DispatchStep(t.Context(), "http://[::ffff:a9fe:a9fe]:9", dispatch("m"))
	require.ErrorContains(t, err, "migrator address ::ffff:169.254.169.254 is link-local (it embeds IPv4 169.254.169.254);")
}

// TestGuardChecksEveryDial: a name that resolved to an allowed address and then to a private
// one (DNS rebinding) is refused on the second connection.
func TestGuardChecksEveryDial(t *testing.T) {
	tg := newTarget(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close") // the next call dials again
		w.WriteHeader(http.StatusAccepted)
	})
	res := newFakeResolver(map[string][][]netip.Addr{
		"rebind.test": {addrs("127.0.0.1"), addrs("169.254.169.254"), addrs("10.0.0.1")},
	})
	c := NewClientWith(Options{DispatchTimeout: 3 * time.Second, Guard: Guard{
		Resolver:      res,
		AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	}})
	u := "http://rebind.test:" + tg.port(t)
	require.NoError(t, c.DispatchStep(t.Context(), u, dispatch("m")))
	for _, class := range []string{"link-local", "private"} {
		err := c.DispatchStep(t.Context(), u, dispatch("m"))
		var me *Error
		require.ErrorAs(t, err, &me)
		require.True(t, me.Refused(), "%v", err)
		require.ErrorContains(t, err, "which is "+class)
	}
	require.EqualValues(t, 1, tg.hits.Load())
}

// TestControlHookChecksTheDialledAddress: the hook on the socket refuses by itself, whatever
// resolved the name.
func TestControlHookChecksTheDialledAddress(t *testing.T) {
	d := newDialer(newGuard(Guard{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}))
	hook := d.control("example.test")
	err := hook(t.Context(), "tcp4", "127.0.0.1:80", nil)
	_, refused := isRefused(err)
	require.True(t, refused, "%v", err)
	require.ErrorContains(t, err, "migrator host example.test resolves to 127.0.0.1, which is loopback")
	require.NoError(t, hook(t.Context(), "tcp4", "10.2.3.4:80", nil))
	require.NoError(t, hook(t.Context(), "tcp6", "[2606:4700::1111]:443", nil))
	require.Error(t, hook(t.Context(), "tcp6", "[::ffff:127.0.0.1]:80", nil))

	// A dialer whose own resolution is bypassed still hits the hook.
	tg := newTarget(t, nil)
	dl := d.base
	dl.ControlContext = hook
	_, err = dl.DialContext(t.Context(), "tcp", tg.Listener.Addr().String())
	_, refused = isRefused(err)
	require.True(t, refused, "%v", err)
	require.Zero(t, tg.hits.Load())
}

// TestDialerRefusesOddNotationsWithoutURLValidation: the notations ValidateURL refuses do not
// get through the dialer either, whether the resolver fails on them or reads them as IPv4.
func TestDialerRefusesOddNotationsWithoutURLValidation(t *testing.T) {
	tg := newTarget(t, nil)
	port := tg.port(t)
	d := newDialer(newGuard(Guard{}))
	for _, host := range []string{"127.1", "2130706433", "0x7f000001", "0177.0.0.1", "127.0.0.1", "localhost", "[::1]", "metadata.google.internal"} {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		conn, err := d.DialContext(ctx, "tcp", host+":"+port)
		cancel()
		if conn != nil {
			_ = conn.Close()
		}
		require.Error(t, err, host)
		t.Logf("%s: %v", host, err)
	}
	// A resolver that reads them as inet_aton does (glibc's getaddrinfo) meets the check.
	loop := [][]netip.Addr{addrs("127.0.0.1")}
	d = newDialer(newGuard(Guard{Resolver: newFakeResolver(map[string][][]netip.Addr{
		"127.1": loop, "2130706433": loop, "0x7f000001": loop, "0177.0.0.1": loop,
	})}))
	for _, host := range []string{"127.1", "2130706433", "0x7f000001", "0177.0.0.1"} {
		_, err := d.DialContext(t.Context(), "tcp", host+":"+port)
		_, refused := isRefused(err)
		require.True(t, refused, "%s: %v", host, err)
	}
	require.Zero(t, tg.hits.Load())
}

func TestAllowedPrefixAndHostLetTheCallThrough(t *testing.T) {
	tg := newTarget(t, nil)
	port := tg.port(t)
	res := newFakeResolver(map[string][][]netip.Addr{
		"migrator.corp.test": {addrs("127.0.0.1")},
		"other.test":         {addrs("127.0.0.1")},
	})
	cases := []struct {
		name  string
		guard Guard
		host  string
		ok    bool
	}{
		{"cidr", Guard{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, "127.0.0.1", true},
		{"cidr covers a name's address", Guard{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, "other.test", true},
		{"cidr covers mapped form", Guard{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, "[::ffff:127.0.0.1]", true},
		{"other cidr", Guard{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, "127.0.0.1", false},
		{"exact host, any case", Guard{AllowHosts: []string{"Migrator.Corp.Test"}}, "migrator.CORP.test", true},
		{"wildcard host", Guard{AllowHosts: []string{"*.corp.test"}}, "migrator.corp.test", true},
		{"wildcard is not the apex", Guard{AllowHosts: []string{"*.migrator.corp.test"}}, "migrator.corp.test", false},
		{"host allow is for that name only", Guard{AllowHosts: []string{"migrator.corp.test"}}, "other.test", false},
		{"host allow is not for its address", Guard{AllowHosts: []string{"migrator.corp.test"}}, "127.0.0.1", false},
		{"loopback", Guard{AllowLoopback: true}, "127.0.0.1", true},
		{"loopback by name", Guard{AllowLoopback: true}, "localhost", true},
		{"loopback mapped", Guard{AllowLoopback: true}, "[::ffff:127.0.0.1]", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tg.hits.Load()
			tc.guard.Resolver = res
			c := NewClientWith(Options{DispatchTimeout: 3 * time.Second, Guard: tc.guard})
			err := c.DispatchStep(t.Context(), "http://"+tc.host+":"+port, dispatch("m"))
			if tc.ok {
				require.NoError(t, err)
				require.Equal(t, before+1, tg.hits.Load())
				return
			}
			var me *Error
			require.ErrorAs(t, err, &me)
			require.True(t, me.Refused(), "%v", err)
			require.Equal(t, before, tg.hits.Load())
		})
	}
}

func TestAllowLoopbackStillRefusesTheRest(t *testing.T) {
	c := NewClientWith(Options{DispatchTimeout: 3 * time.Second, Guard: Guard{AllowLoopback: true}})
	for _, host := range []string{"169.254.169.254", "10.0.0.1", "[fd00:ec2::254]", "[64:ff9b::a9fe:a9fe]", "0.0.0.0"} {
		err := c.DispatchStep(t.Context(), "http://"+host+":9", dispatch("m"))
		var me *Error
		require.ErrorAs(t, err, &me, host)
		require.True(t, me.Refused(), "%s: %v", host, err)
	}
}

func TestNewClientKeepsReachingLoopbackOnly(t *testing.T) {
	tg := newTarget(t, nil)
	c := NewClient(nil, 3*time.Second, 0)
	require.NoError(t, c.DispatchStep(t.Context(), tg.URL, dispatch("m")))
	err := c.DispatchStep(t.Context(), "http://169.254.169.254", dispatch("m"))
	var me *Error
	require.ErrorAs(t, err, &me)
	require.True(t, me.Refused(), "%v", err)
}

func TestTransportUsesNoProxy(t *testing.T) {
	c := NewClientWith(Options{})
	tr, ok := c.http.Transport.(*http.Transport)
	require.True(t, ok)
	require.Nil(t, tr.Proxy)
}

func TestClassify(t *testing.T) {
	public := []string{"8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.0", "172.15.255.255", "172.32.0.0",
		"169.253.0.1", "223.255.255.255", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1", "2001:4860:4860::8888"}
	for _, s := range public {
		class, _ := classify(netip.MustParseAddr(s))
		require.Empty(t, class, s)
	}
	refused := map[string]string{
		"127.255.255.254": "loopback", "::1": "loopback", "::ffff:7f00:1": "loopback", "fe80::1%eth0": "link-local",
		"::8.8.8.8": "reserved", "100::1": "reserved", "192.0.0.8": "reserved", "198.18.0.1": "reserved",
		"2002:a9fe:a9fe::": "link-local", "::ffff:0:a00:1": "private",
	}
	for s, want := range refused {
		class, _ := classify(netip.MustParseAddr(s))
		require.Equal(t, want, class, s)
	}
}

func TestHostAllowed(t *testing.T) {
	g := newGuard(Guard{AllowHosts: []string{"Migrator.Example.com.", "*.apps.example.com", " "}})
	for host, want := range map[string]bool{
		"migrator.example.com":     true,
		"MIGRATOR.example.com.":    true,
		"x.migrator.example.com":   false,
		"a.apps.example.com":       true,
		"a.b.apps.example.com":     true,
		"apps.example.com":         false,
		"evilapps.example.com":     false,
		"apps.example.com.evil.io": false,
		"":                         false,
	} {
		require.Equal(t, want, g.hostAllowed(host), host)
	}
}

func TestErrorOfARefusalIsNotATimeout(t *testing.T) {
	c := NewClientWith(Options{})
	_, err := c.DryRun(t.Context(), "http://127.0.0.1:9", api.DryRunRequest{MigrationId: "m"})
	var me *Error
	require.ErrorAs(t, err, &me)
	require.True(t, me.Refused())
	require.False(t, me.Timeout())
	require.Zero(t, me.MigratorStatus())
	require.True(t, strings.HasPrefix(err.Error(), "migrator dry-run at http://127.0.0.1:9/dry-run was not called: migrator address 127.0.0.1 is loopback"), err.Error())
}
