package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// DefaultDeny is the operator deny-list every worker starts from: link-local
// addresses (where cloud metadata services answer) and the metadata
// services' names. The worker adds its own listen addresses and its
// coordinator's.
var DefaultDeny = []string{
	"169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128",
	"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal",
}

// NetPolicy is the operator's word on where guests may connect, checked on
// every dial after the pipeline's own allow-list (which a pipeline may set
// to "*"). An entry is a CIDR ("169.254.0.0/16"), a host name or pattern
// ("metadata.google.internal", "*.internal"), or host:port, where the host
// may be an IP, and 0.0.0.0 or [::] stand for every address of this machine
// ("0.0.0.0:7071": the worker's own port).
type NetPolicy struct {
	// Deny lists what no guest may dial. Names are checked as written and
	// addresses after resolution, so a name resolving into a denied range
	// is denied too.
	Deny []string
	// Allow, when set, lists the only places guests may dial. Default none:
	// anything not denied.
	Allow []string
}

// netRule is one parsed NetPolicy entry.
type netRule struct {
	prefix netip.Prefix // CIDR or single address; invalid when a name
	name   string       // lower-case host name or "*.suffix"; "" for addresses
	port   string       // "" = any port
	local  bool         // host was 0.0.0.0 / :: : any address of this machine
}

// netPolicy is a parsed NetPolicy.
type netPolicy struct {
	deny, allow []netRule
	resolver    *net.Resolver
}

func parseNetRules(entries []string) ([]netRule, error) {
	var rules []netRule
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "" {
			continue
		}
		if p, err := netip.ParsePrefix(e); err == nil {
			rules = append(rules, netRule{prefix: p.Masked()})
			continue
		}
		host, port := e, ""
		if h, p, err := net.SplitHostPort(e); err == nil {
			host, port = h, p
		}
		r := netRule{port: port}
		if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
			if a.IsUnspecified() {
				r.local = true
			} else {
				r.prefix = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
			}
		} else if host == "" {
			r.local = true
		} else if strings.ContainsAny(host, "/ ") {
			return nil, fmt.Errorf("network policy entry %q: want a CIDR, a host name or host:port", e)
		} else {
			r.name = host
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func newNetPolicy(p NetPolicy) (*netPolicy, error) {
	deny, err := parseNetRules(p.Deny)
	if err != nil {
		return nil, err
	}
	allow, err := parseNetRules(p.Allow)
	if err != nil {
		return nil, err
	}
	return &netPolicy{deny: deny, allow: allow, resolver: net.DefaultResolver}, nil
}

// errPolicyDenied marks a dial refused by the operator's network policy.
var errPolicyDenied = errors.New("denied by the worker's network policy")

// matchName reports whether rule r (a name rule) matches host.
func (r netRule) matchName(host string) bool {
	return r.name == "*" || r.name == host || strings.HasPrefix(r.name, "*.") && strings.HasSuffix(host, r.name[1:])
}

// matchAddr reports whether rule r (an address rule) matches ip:port.
func (r netRule) matchAddr(ip netip.Addr, port string) bool {
	if r.port != "" && r.port != port {
		return false
	}
	if r.local {
		return isLocal(ip)
	}
	return r.prefix.IsValid() && r.prefix.Contains(ip)
}

// isLocal reports whether ip is an address of this machine.
func isLocal(ip netip.Addr) bool {
	if ip.IsLoopback() || ip.IsUnspecified() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if local, ok := netip.AddrFromSlice(n.IP); ok && local.Unmap() == ip {
				return true
			}
		}
	}
	return false
}

// check applies the policy to addr ("host:port") and returns the address to
// dial: the checked IP, so a name cannot resolve elsewhere between the check
// and the dial.
func (p *netPolicy) check(ctx context.Context, addr string) (string, error) {
	if p == nil {
		return addr, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", addr, err)
	}
	host = strings.ToLower(host)
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip.Unmap()}
	} else {
		for _, r := range p.deny {
			if r.name != "" && (r.port == "" || r.port == port) && r.matchName(host) {
				return "", errPolicyDenied
			}
		}
		found, err := p.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return "", err
		}
		for _, ip := range found {
			ips = append(ips, ip.Unmap())
		}
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("%s has no address", host)
	}
	for _, ip := range ips {
		for _, r := range p.deny {
			if r.name == "" && r.matchAddr(ip, port) {
				return "", errPolicyDenied
			}
		}
	}
	if len(p.allow) > 0 && !p.allowed(host, ips, port) {
		return "", errPolicyDenied
	}
	return net.JoinHostPort(ips[0].String(), port), nil
}

// allowed reports whether the allow-list admits host (by name) or every one
// of its addresses.
func (p *netPolicy) allowed(host string, ips []netip.Addr, port string) bool {
	for _, r := range p.allow {
		if r.name != "" && (r.port == "" || r.port == port) && r.matchName(host) {
			return true
		}
	}
	for _, ip := range ips {
		ok := false
		for _, r := range p.allow {
			if r.name == "" && r.matchAddr(ip, port) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
