package api

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ValidateMigratorURL checks a migrator's announced base URL: http or https, a host, an optional port
// from 1 to 65535, and no userinfo, query or fragment (a fragment or query would swallow the
// path Drover appends, pointing the call somewhere else).
func ValidateMigratorURL(raw string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("migratorUrl %q: %s", clipURL(raw), fmt.Sprintf(format, args...))
	}
	if raw == "" {
		return bad("a URL is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return bad("not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return bad("the scheme must be http or https")
	}
	if u.Opaque != "" || u.Host == "" {
		return bad("a host is required (http://host[:port][/path])")
	}
	if u.User != nil {
		return bad("userinfo (user:password@) is not allowed")
	}
	if strings.Contains(raw, "#") {
		return bad("a fragment is not allowed")
	}
	if u.ForceQuery || u.RawQuery != "" || strings.Contains(raw, "?") {
		return bad("a query is not allowed")
	}
	host := u.Hostname()
	if host == "" {
		return bad("a host is required (http://host[:port][/path])")
	}
	if strings.HasSuffix(u.Host, ":") {
		return bad("the port is empty")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("port %s is not a number from 1 to 65535", p)
		}
	}
	if NumericHost(host) {
		if a, err := netip.ParseAddr(host); err != nil || !a.Is4() {
			return bad("host %s is an IPv4 address in a non-standard notation; write it as four decimal numbers (a.b.c.d)", host)
		}
	}
	return nil
}

// NumericHost reports whether a host's last label is a number (decimal, or 0x hex), which URL
// parsers in browsers and resolvers such as inet_aton read as an IPv4 address ("127.1",
// "2130706433", "0x7f000001").
func NumericHost(host string) bool {
	if strings.Contains(host, ":") {
		return false // IPv6
	}
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	last := strings.ToLower(labels[len(labels)-1])
	if hex, ok := strings.CutPrefix(last, "0x"); ok {
		_, err := strconv.ParseUint("0"+hex, 16, 64)
		return err == nil
	}
	return last != "" && strings.Trim(last, "0123456789") == ""
}

func clipURL(s string) string {
	if utf8.RuneCountInString(s) <= 200 {
		return s
	}
	return string([]rune(s)[:200]) + "…"
}
