package dhcp

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// ICMPv6 neighbour discovery types (RFC 4861).
const (
	icmpRouterSolicit    = 133
	icmpRouterAdvert     = 134
	icmpNeighborSolicit  = 135
	icmpNeighborAdvert   = 136
	ndOptSourceLinkAddr  = 1
	ndOptTargetLinkAddr  = 2
	ndOptMTU             = 5
	routerLifetimeSecond = 1800
)

var allNodes = netip.MustParseAddr("ff02::1")

// routerAdvert builds a router advertisement from the gateway's link-local address: default
// router for routerLifetimeSecond, no prefixes (guests hold a /128 they do not derive from
// the link), the gateway's MAC and, when mtu > 0, the link MTU.
func routerAdvert(mac net.HardwareAddr, mtu int) []byte {
	b := make([]byte, 16, 32)
	b[0] = icmpRouterAdvert
	b[4] = 64 // current hop limit guests should use
	binary.BigEndian.PutUint16(b[6:], routerLifetimeSecond)
	b = append(b, ndOptSourceLinkAddr, 1)
	b = append(b, mac...)
	if mtu > 0 {
		b = append(b, ndOptMTU, 1, 0, 0)
		b = binary.BigEndian.AppendUint32(b, uint32(mtu))
	}
	return b
}

// neighborAdvert builds the answer to a neighbour solicitation for target: the gateway
// is a router (R) and its MAC overrides any cached one (O); solicited (S) unless the
// solicitation came from the unspecified address (duplicate address detection).
func neighborAdvert(mac net.HardwareAddr, target netip.Addr, solicited bool) []byte {
	b := make([]byte, 24, 32)
	b[0] = icmpNeighborAdvert
	b[4] = 0x80 | 0x20
	if solicited {
		b[4] |= 0x40
	}
	t := target.As16()
	copy(b[8:24], t[:])
	b = append(b, ndOptTargetLinkAddr, 1)
	return append(b, mac...)
}

// answerNDP returns the frame answering a router or neighbour solicitation received by
// the gateway (link-local gw, MAC mac), or nil when the message needs no answer.
func answerNDP(m icmp6, gw netip.Addr, mac net.HardwareAddr, mtu int) []byte {
	// Neighbour discovery messages must not have crossed a router.
	if m.hopLimit != 255 || len(m.body) < 8 || m.body[1] != 0 {
		return nil
	}
	// Reply to the sender when it has an address, else to all nodes.
	dst, dstMAC := m.src, m.srcMAC
	if m.src.IsUnspecified() {
		dst, dstMAC = allNodes, multicastMAC(allNodes)
	}
	switch m.body[0] {
	case icmpRouterSolicit:
		return buildICMP6(mac, dstMAC, gw, dst, routerAdvert(mac, mtu))
	case icmpNeighborSolicit:
		if len(m.body) < 24 || netip.AddrFrom16([16]byte(m.body[8:24])) != gw {
			return nil
		}
		return buildICMP6(mac, dstMAC, gw, dst, neighborAdvert(mac, gw, !m.src.IsUnspecified()))
	}
	return nil
}
