package dhcp

import (
	"net"
	"net/netip"
)

// reply is a DHCP answer ready to frame: the message and where it goes on the link.
type reply struct {
	typ    byte
	msg    []byte
	dst    netip.Addr
	dstMAC net.HardwareAddr
}

// answer decides the reply to a client's message about lease l, or nil when there is none
// (the client chose another server, or the message needs no answer). event, when not
// empty, describes the message for the log.
func (s *Server) answer(req *message, l Lease) (r *reply, event string) {
	gw := s.cfg.Gateway
	switch req.typ() {
	case msgDiscover:
		return s.lease(req, l, msgOffer), ""
	case msgRequest:
		if sid := req.addr(optServerID); sid.IsValid() && sid != gw {
			return nil, "request for server " + sid.String()
		}
		want := req.addr(optRequestedIP)
		if !want.IsValid() {
			want = req.ciaddr // renewing or rebinding: the address is in ciaddr
		}
		if want != l.IPv4 {
			return s.nak(req), "NAK: requested " + want.String() + ", lease is " + l.IPv4.String()
		}
		return s.lease(req, l, msgAck), ""
	case msgInform:
		r := s.lease(req, l, msgAck)
		return r, ""
	case msgRelease:
		return nil, "release of " + req.ciaddr.String()
	case msgDecline:
		return nil, "decline of " + req.addr(optRequestedIP).String()
	}
	return nil, "unknown message type"
}

// lease builds an OFFER or ACK carrying the lease and the link's configuration: a /32,
// the gateway as router and as an on-link classless route, and the default route via it.
func (s *Server) lease(req *message, l Lease, typ byte) *reply {
	gw := s.cfg.Gateway
	m := &message{xid: req.xid, flags: req.flags, chaddr: req.chaddr, yiaddr: l.IPv4}
	inform := req.typ() == msgInform
	if typ == msgAck {
		m.ciaddr = req.ciaddr
	}
	if inform {
		m.yiaddr = netip.Addr{} // RFC 2131: an INFORM assigns no address
	}
	opts := []option{
		{code: optMessageType, value: []byte{typ}},
		addrOption(optServerID, gw),
	}
	if !inform {
		secs := uint32(s.cfg.LeaseTime.Seconds())
		opts = append(opts,
			u32Option(optLeaseTime, secs),
			u32Option(optRenewalTime, secs/2),
			u32Option(optRebindTime, secs/8*7))
	}
	opts = append(opts,
		addrOption(optSubnetMask, netip.AddrFrom4([4]byte{255, 255, 255, 255})),
		addrOption(optRouter, gw),
		classlessRoutes([]staticRoute{
			{dst: netip.PrefixFrom(gw, 32), via: netip.IPv4Unspecified()},
			{dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), via: gw},
		}))
	if l.MTU > 0 {
		opts = append(opts, option{code: optMTU, value: []byte{byte(l.MTU >> 8), byte(l.MTU)}})
	}
	if l.Hostname != "" {
		opts = append(opts, option{code: optHostname, value: []byte(l.Hostname)})
	}
	var dns []netip.Addr
	for _, a := range s.cfg.DNS {
		if a.Is4() {
			dns = append(dns, a)
		}
	}
	if len(dns) > 0 {
		opts = append(opts, addrOption(optDNS, dns...))
	}
	r := &reply{typ: typ, msg: m.encode(opts)}
	// RFC 2131 4.1: a client with an address gets unicast there; one that asked for
	// broadcast gets it; otherwise unicast to the offered address at its MAC.
	switch {
	case req.ciaddr.IsValid() && !req.ciaddr.IsUnspecified():
		r.dst, r.dstMAC = req.ciaddr, req.chaddr
	case req.flags&flagBroadcast != 0 || inform:
		r.dst, r.dstMAC = netip.IPv4Unspecified(), broadcastMAC
	default:
		r.dst, r.dstMAC = l.IPv4, req.chaddr
	}
	if r.dst.IsUnspecified() {
		r.dst = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	return r
}

// nak refuses a request; it is always broadcast, as the client may hold no address.
func (s *Server) nak(req *message) *reply {
	m := &message{xid: req.xid, flags: req.flags | flagBroadcast, chaddr: req.chaddr}
	opts := []option{
		{code: optMessageType, value: []byte{msgNak}},
		addrOption(optServerID, s.cfg.Gateway),
	}
	return &reply{typ: msgNak, msg: m.encode(opts),
		dst: netip.AddrFrom4([4]byte{255, 255, 255, 255}), dstMAC: broadcastMAC}
}
