// Package route defines Ferrite's overlay route: a destination prefix inside a virtual network
// (VNI), reached through a next hop on the underlay, with a next-hop kind that tells the dataplane
// what the next hop does with the traffic.
package route

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Kind says what the next hop does with traffic for the prefix.
type Kind uint8

const (
	// KindStandard is a plain next hop: the hypervisor that hosts the destination.
	KindStandard Kind = iota
	// KindNAT is a NAT gateway that owns a range of source ports of a shared public address.
	KindNAT
	// KindLoadBalancer is one target of a load-balanced (virtual) address.
	KindLoadBalancer

	kindCount
)

var kindNames = [kindCount]string{"standard", "nat", "loadbalancer"}

// String returns the lower-case name used in configs and JSON.
func (k Kind) String() string {
	if k < kindCount {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// MarshalText writes the kind by name so configs stay readable.
func (k Kind) MarshalText() ([]byte, error) {
	if k >= kindCount {
		return nil, fmt.Errorf("unknown next-hop kind %d", uint8(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText reads a kind by name; the empty string means standard.
func (k *Kind) UnmarshalText(b []byte) error {
	s := strings.ToLower(string(b))
	if s == "" {
		*k = KindStandard
		return nil
	}
	for i, n := range kindNames {
		if n == s {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("unknown next-hop kind %q (want standard, nat or loadbalancer)", s)
}

// MaxVNI is the largest VXLAN network identifier (24 bits).
const MaxVNI = 1<<24 - 1

// Route is one overlay route. Two routes are the same route exactly when they are == equal:
// Route values are the identity the agent, the dataplanes and the tests compare and key maps by.
// On the wire an originator's route is keyed by its Key (see KeyOf); an originator announces
// one next hop (its own) and NAT ranges that start apart, so the two identities agree.
type Route struct {
	// VNI is the virtual network the prefix lives in.
	VNI uint32 `json:"vni"`
	// Prefix is the destination inside the virtual network, in canonical (masked) form.
	Prefix netip.Prefix `json:"prefix"`
	// NextHop is the underlay address that traffic is tunnelled to.
	NextHop netip.Addr `json:"nextHop"`
	// Kind is what the next hop does with the traffic.
	Kind Kind `json:"kind"`
	// PortMin and PortMax bound the NAT source-port range (inclusive); zero for other kinds.
	PortMin uint16 `json:"portMin,omitempty"`
	PortMax uint16 `json:"portMax,omitempty"`
}

// NATPortAlign is the alignment of a NAT route's PortMin: the route distinguisher carries
// PortMin/64 in 10 bits next to the kind, so every port range of one originator has its own key.
const NATPortAlign = 64

// ValidatePrefix reports why p cannot be an overlay destination or interface address: it must
// be valid, in canonical (masked) form, without an IPv6 zone and not IPv4-mapped IPv6.
func ValidatePrefix(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return errors.New("prefix missing or invalid")
	case p.Addr().Zone() != "" || p.Addr().Is4In6():
		return fmt.Errorf("prefix %s: zones and IPv4-mapped IPv6 are not allowed", p)
	case p.Masked() != p:
		return fmt.Errorf("prefix %s has host bits set (want %s)", p, p.Masked())
	}
	return nil
}

// Validate reports why a route cannot be carried; only valid routes round-trip through BGP.
func (r Route) Validate() error {
	var errs []error
	if r.VNI == 0 || r.VNI > MaxVNI {
		errs = append(errs, fmt.Errorf("vni %d out of range 1..%d", r.VNI, MaxVNI))
	}
	if err := ValidatePrefix(r.Prefix); err != nil {
		errs = append(errs, err)
	}
	switch {
	case !r.NextHop.IsValid() || r.NextHop.IsUnspecified():
		errs = append(errs, errors.New("next hop missing"))
	case r.NextHop.Zone() != "" || r.NextHop.Is4In6():
		errs = append(errs, fmt.Errorf("next hop %s: zones and IPv4-mapped IPv6 are not allowed", r.NextHop))
	}
	switch {
	case r.Kind >= kindCount:
		errs = append(errs, fmt.Errorf("unknown next-hop kind %d", uint8(r.Kind)))
	case r.Kind == KindNAT && r.PortMin > r.PortMax:
		errs = append(errs, fmt.Errorf("nat port range %d-%d is empty", r.PortMin, r.PortMax))
	case r.Kind == KindNAT && r.PortMin%NATPortAlign != 0:
		errs = append(errs, fmt.Errorf("nat port range %d-%d: the first port must be a multiple of %d", r.PortMin, r.PortMax, NATPortAlign))
	case r.Kind != KindNAT && (r.PortMin != 0 || r.PortMax != 0):
		errs = append(errs, fmt.Errorf("port range only applies to nat routes, not %s", r.Kind))
	}
	return errors.Join(errs...)
}

// String renders the route for logs, e.g. "vni 100 10.0.0.0/24 via 192.0.2.1 nat 1024-2047".
func (r Route) String() string {
	s := fmt.Sprintf("vni %d %s via %s %s", r.VNI, r.Prefix, r.NextHop, r.Kind)
	if r.Kind == KindNAT {
		s += fmt.Sprintf(" %d-%d", r.PortMin, r.PortMax)
	}
	return s
}
