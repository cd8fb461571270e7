package route

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// Key is what BGP keys a route by: the EVPN type-5 route key (route distinguisher, Ethernet tag
// and prefix) in Ferrite's terms. An originator has one route per key; announcing a route with
// the key of an earlier one replaces it.
type Key struct {
	// Originator is the router ID of the speaker that announced the route.
	Originator netip.Addr
	// VNI is the Ethernet tag (RFC 8365 VLAN-aware bundle style: the tag names the broadcast
	// domain, so one originator can announce the same prefix in two VNIs).
	VNI    uint32
	Prefix netip.Prefix
	// Kind and Slot are the route distinguisher's number: Slot is PortMin/NATPortAlign.
	Kind Kind
	Slot uint16
}

// KeyOf returns the key r has when originator announces it.
func KeyOf(r Route, originator netip.Addr) Key {
	return Key{Originator: originator, VNI: r.VNI, Prefix: r.Prefix, Kind: r.Kind, Slot: r.PortMin / NATPortAlign}
}

// The route distinguisher is originator:(kind<<14 | PortMin>>6) (RFC 4364 type 1): two bits of
// kind and ten of NAT port slot, so a standard, a load-balancer and every NAT range of one
// originator are routes of their own, and every originator's next hop for a prefix is too
// (ECMP without ADD-PATH).
const rdKindShift = 14

// rdNumber is the assigned-number half of the route distinguisher of r.
func rdNumber(r Route) uint16 {
	return uint16(r.Kind)<<rdKindShift | r.PortMin/NATPortAlign
}

// RouteDistinguisher returns the route distinguisher of r announced by originator.
func RouteDistinguisher(r Route, originator netip.Addr) (bgp.RouteDistinguisherInterface, error) {
	if !originator.Is4() {
		return nil, fmt.Errorf("originator %s: want an IPv4 router ID", originator)
	}
	return bgp.NewRouteDistinguisherIPAddressAS(originator.String(), rdNumber(r)), nil
}

// RouterMAC is the MAC address of the VTEP at underlay address a: 02:fe followed by the IPv4
// address (for IPv6, its last four bytes). Every Ferrite VTEP uses it as the inner destination
// MAC of traffic it receives, and every route carries it in the EVPN Router's MAC extended
// community (RFC 9135) so that other EVPN speakers address their frames to it.
func RouterMAC(a netip.Addr) net.HardwareAddr {
	b := a.As16()
	if a.Is4() {
		v4 := a.As4()
		copy(b[12:], v4[:])
	}
	return net.HardwareAddr{0x02, 0xfe, b[12], b[13], b[14], b[15]}
}

// RouterMACOf returns the Router's MAC an announcement carries, if any.
func RouterMACOf(attrs []bgp.PathAttributeInterface) (net.HardwareAddr, bool) {
	for _, a := range attrs {
		ec, ok := a.(*bgp.PathAttributeExtendedCommunities)
		if !ok {
			continue
		}
		for _, c := range ec.Value {
			if m, ok := c.(*bgp.RouterMacExtended); ok {
				return m.Mac, true
			}
		}
	}
	return nil, false
}
