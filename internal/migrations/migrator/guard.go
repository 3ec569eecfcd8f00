package migrator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Guard decides which addresses the client may connect to. The zero Guard refuses loopback,
// link-local, private, unique-local, CGNAT, unspecified, multicast, broadcast and reserved
// addresses, also in IPv4-mapped, IPv4-compatible, NAT64 and 6to4 forms, so that a migratorUrl
// cannot point Drover at itself, its network or a cloud metadata service. The check is on the
// address actually dialled, so DNS names and rebinding cannot get around it.
type Guard struct {
	// AllowPrefixes are address ranges an admin allows (--migrator-allow CIDRs).
	AllowPrefixes []netip.Prefix
	// AllowHosts are host names an admin allows: exact and case-insensitive, or "*.example.com"
	// for its subdomains. Connections to them skip the address check.
	AllowHosts []string
	// AllowLoopback allows loopback addresses, for drover dev.
	AllowLoopback bool
	// Resolver looks up host names; nil is the system resolver. Tests inject their own.
	Resolver Resolver
}

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Address classes the guard refuses.
const (
	classLoopback    = "loopback"
	classLinkLocal   = "link-local"
	classPrivate     = "private"
	classUniqueLocal = "unique-local"
	classUnspecified = "unspecified"
	classMulticast   = "multicast"
	classBroadcast   = "broadcast"
	classCGNAT       = "carrier-grade NAT (100.64.0.0/10)"
	classReserved    = "reserved"
)

// classify names the class of a refused address, with the IPv4 address it embeds if that is
// what decided; class is "" for an address the guard lets through.
func classify(a netip.Addr) (class string, embedded netip.Addr) {
	a = a.WithZone("")
	if a.Is4In6() {
		v4 := a.Unmap()
		return classify4(v4), v4
	}
	if a.Is4() {
		return classify4(a), netip.Addr{}
	}
	if class := classify6(a); class != "" {
		return class, netip.Addr{}
	}
	if v4, ok := embeddedIPv4(a); ok {
		if class := classify4(v4); class != "" {
			return class, v4
		}
		if isV4Compatible(a) {
			return classReserved, v4 // deprecated IPv4-compatible form, never legitimately dialled
		}
	}
	return "", netip.Addr{}
}

func classify4(a netip.Addr) string {
	b := a.As4()
	switch {
	case b == [4]byte{}:
		return classUnspecified
	case b == [4]byte{255, 255, 255, 255}:
		return classBroadcast
	case b[0] == 0: // 0.0.0.0/8, "this network"
		return classReserved
	case b[0] == 10, b[0] == 172 && b[1]&0xf0 == 16, b[0] == 192 && b[1] == 168:
		return classPrivate
	case b[0] == 100 && b[1]&0xc0 == 64:
		return classCGNAT
	case b[0] == 127:
		return classLoopback
	case b[0] == 169 && b[1] == 254:
		return classLinkLocal
	case b[0]&0xf0 == 224:
		return classMulticast
	case b[0]&0xf0 == 240, // 240.0.0.0/4, future use
		b[0] == 192 && b[1] == 0 && b[2] == 0, // 192.0.0.0/24, IETF protocol assignments
		b[0] == 198 && b[1]&0xfe == 18:        // 198.18.0.0/15, benchmarking
		return classReserved
	}
	return ""
}

// classify6 names the class of a native IPv6 address (IPv4 embeddings are checked apart).
func classify6(a netip.Addr) string {
	b := a.As16()
	switch {
	case a.IsUnspecified():
		return classUnspecified
	case a.IsLoopback():
		return classLoopback
	case a.IsLinkLocalUnicast():
		return classLinkLocal
	case a.IsMulticast():
		return classMulticast
	case a.IsPrivate(): // fc00::/7
		return classUniqueLocal
	case b[0] == 0xfe && b[1]&0xc0 == 0xc0, // fec0::/10, deprecated site-local
		[6]byte(b[:6]) == [6]byte{0, 0x64, 0xff, 0x9b, 0, 1}: // 64:ff9b:1::/48, local-use NAT64
		return classPrivate
	case [8]byte(b[:8]) == [8]byte{0x01}: // 100::/64, discard-only
		return classReserved
	}
	return ""
}

// embeddedIPv4 returns the IPv4 address an IPv6 address carries in its IPv4-compatible (::/96),
// IPv4-translated (::ffff:0:0:0/96), NAT64 (64:ff9b::/96) or 6to4 (2002::/16) form.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	b := a.As16()
	head := [12]byte(b[:12])
	switch {
	case isV4Compatible(a),
		head == [12]byte{8: 0xff, 9: 0xff},
		head == [12]byte{0, 0x64, 0xff, 0x9b}:
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case b[0] == 0x20 && b[1] == 0x02:
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

func isV4Compatible(a netip.Addr) bool {
	b := a.As16()
	return [12]byte(b[:12]) == [12]byte{}
}

// refusedError is a connection the guard refused.
type refusedError struct {
	host     string // the URL's host name; "" for a literal address
	addr     netip.Addr
	class    string
	embedded netip.Addr
}

func (e *refusedError) Error() string {
	var b strings.Builder
	a := e.addr.String()
	if e.host != "" {
		fmt.Fprintf(&b, "migrator host %s resolves to %s, which is %s", e.host, a, e.class)
	} else {
		fmt.Fprintf(&b, "migrator address %s is %s", a, e.class)
	}
	if e.embedded.IsValid() {
		fmt.Fprintf(&b, " (it embeds IPv4 %s)", e.embedded)
	}
	b.WriteString("; Drover refuses to call loopback, link-local and private addresses unless an admin allows them (--migrator-allow)")
	return b.String()
}

// guard is a Guard fixed at construction: host names normalised, slices copied.
type guard struct {
	prefixes      []netip.Prefix
	exact         map[string]bool
	suffixes      []string // ".example.com" for "*.example.com"
	allowLoopback bool
	resolver      Resolver
}

func newGuard(g Guard) *guard {
	out := &guard{
		prefixes:      append([]netip.Prefix(nil), g.AllowPrefixes...),
		exact:         map[string]bool{},
		allowLoopback: g.AllowLoopback,
		resolver:      g.Resolver,
	}
	if out.resolver == nil {
		out.resolver = &net.Resolver{}
	}
	for _, h := range g.AllowHosts {
		h = normalizeHost(h)
		if rest, ok := strings.CutPrefix(h, "*."); ok {
			out.suffixes = append(out.suffixes, "."+rest)
		} else if h != "" {
			out.exact[h] = true
		}
	}
	return out
}

func normalizeHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
}

// hostAllowed reports whether an admin allowed this host name.
func (g *guard) hostAllowed(host string) bool {
	host = normalizeHost(host)
	if g.exact[host] {
		return true
	}
	for _, s := range g.suffixes {
		if strings.HasSuffix(host, s) && len(host) > len(s) {
			return true
		}
	}
	return false
}

// check refuses addr (dialled for host) unless it is public or allowed.
func (g *guard) check(host string, addr netip.Addr) error {
	class, embedded := classify(addr)
	if class == "" || (g.allowLoopback && class == classLoopback) {
		return nil
	}
	plain := addr.WithZone("").Unmap()
	for _, p := range g.prefixes {
		if p.Contains(plain) || (embedded.IsValid() && p.Contains(embedded)) {
			return nil
		}
	}
	return &refusedError{host: host, addr: addr.WithZone(""), class: class, embedded: embedded}
}

// dialer resolves the host itself, checks each address, and dials it with a Control hook that
// checks again the address the socket is about to connect to.
type dialer struct {
	guard *guard
	base  net.Dialer
}

func newDialer(g *guard) *dialer {
	return &dialer{guard: g, base: net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}}
}

// DialContext is the transport's dial function; address is the URL's host:port, since the
// transport uses no proxy.
func (d *dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("migrator address %q: %w", address, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("migrator address %q: port is not a number", address)
	}
	allowed := d.guard.hostAllowed(host)
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
		host = "" // a literal: the refusal names the address
	} else {
		host = strings.ToLower(host)
		addrs, err = d.guard.resolver.LookupNetIP(ctx, ipNetwork(network), host)
		if err != nil {
			return nil, fmt.Errorf("resolve migrator host %s: %w", host, err)
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("resolve migrator host %s: no addresses", host)
		}
		for i, a := range addrs {
			addrs[i] = a.Unmap() // resolvers may answer IPv4 in its mapped form
		}
	}
	dl := d.base
	if !allowed {
		dl.ControlContext = d.control(host)
	}
	var first error
	for _, a := range addrs {
		if !allowed {
			if err := d.guard.check(host, a); err != nil {
				first = firstErr(first, err)
				continue
			}
		}
		conn, err := dl.DialContext(ctx, network, netip.AddrPortFrom(a, uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		first = firstErr(first, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// control checks the address the socket is about to connect to.
func (d *dialer) control(host string) func(ctx context.Context, network, address string, _ syscall.RawConn) error {
	return func(_ context.Context, _, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("migrator address %q cannot be checked: %w", address, err)
		}
		return d.guard.check(host, ap.Addr())
	}
}

// firstErr keeps the first error.
func firstErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func ipNetwork(network string) string {
	switch network {
	case "tcp4":
		return "ip4"
	case "tcp6":
		return "ip6"
	}
	return "ip"
}

// isRefused reports whether err is, or wraps, a guard refusal, and returns it.
func isRefused(err error) (*refusedError, bool) {
	var r *refusedError
	ok := errors.As(err, &r)
	return r, ok
}
