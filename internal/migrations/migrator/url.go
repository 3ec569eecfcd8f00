package migrator

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/drover-dev/drover/pkg/api"
)

// ValidateURL checks a migrator's announced base URL (api.ValidateMigratorURL); calls are
// checked again before they are sent, for URLs stored before the check existed.
func ValidateURL(raw string) error { return api.ValidateMigratorURL(raw) }

// ParseAllow reads an admin's allow list (--migrator-allow): each entry is a CIDR, a single IP
// address, a host name, or "*." and a domain for its subdomains. AllowLoopback is left false.
func ParseAllow(entries []string) (Guard, error) {
	var g Guard
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if p, err := netip.ParsePrefix(e); err == nil {
			g.AllowPrefixes = append(g.AllowPrefixes, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(e, "["), "]")); err == nil {
			if a.Zone() != "" {
				return Guard{}, fmt.Errorf("allowed migrator address %q: a zone is not allowed", e)
			}
			g.AllowPrefixes = append(g.AllowPrefixes, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		name := normalizeHost(e)
		if err := checkHostName(strings.TrimPrefix(name, "*.")); err != nil {
			return Guard{}, fmt.Errorf("allowed migrator host %q is not a CIDR, an IP address or a host name: %w", e, err)
		}
		g.AllowHosts = append(g.AllowHosts, name)
	}
	return g, nil
}

// checkHostName accepts letters, digits, '-' and '_' in non-empty dot-separated labels.
func checkHostName(name string) error {
	if name == "" {
		return errors.New("it is empty")
	}
	if api.NumericHost(name) {
		return errors.New("it looks like an IPv4 address in a non-standard notation")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" {
			return errors.New("it has an empty label")
		}
		if strings.Trim(label, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return fmt.Errorf("label %q holds a character other than a letter, digit, '-' or '_'", label)
		}
	}
	return nil
}
