package dhcp

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"
)

// request builds a client message of type typ from mac with the given options.
func request(mac net.HardwareAddr, typ byte, flags uint16, ciaddr netip.Addr, opts ...option) *message {
	b := make([]byte, fixedLen)
	b[0], b[1], b[2] = 1, 1, 6
	b[4], b[5], b[6], b[7] = 1, 2, 3, 4
	b[10], b[11] = byte(flags>>8), byte(flags)
	putAddr(b[12:16], ciaddr)
	copy(b[28:], mac)
	copy(b[236:], magicCookie[:])
	b = append(b, optMessageType, 1, typ)
	for _, o := range opts {
		b = append(b, o.code, byte(len(o.value)))
		b = append(b, o.value...)
	}
	b = append(b, optEnd)
	m, err := parseMessage(b)
	if err != nil {
		panic(err)
	}
	return m
}

func TestOfferCarriesTheLinkConfiguration(t *testing.T) {
	s := New(Config{DNS: []netip.Addr{netip.MustParseAddr("10.0.0.53"), netip.MustParseAddr("fd00::53")}})
	l := lease("tap0")
	r, _ := s.answer(request(l.MAC, msgDiscover, 0, netip.IPv4Unspecified()), l)
	if r == nil || r.typ != msgOffer {
		t.Fatalf("DISCOVER: want an OFFER, have %+v", r)
	}
	m, err := parseMessage(r.msg)
	if err != nil {
		t.Fatal(err)
	}
	if m.op != 2 || m.xid != 0x01020304 || m.yiaddr != l.IPv4 || !bytes.Equal(m.chaddr, l.MAC) {
		t.Errorf("OFFER header: op %d xid %#x yiaddr %s chaddr %s", m.op, m.xid, m.yiaddr, m.chaddr)
	}
	if len(r.msg) < minLen {
		t.Errorf("OFFER is %d bytes, shorter than BOOTP's %d", len(r.msg), minLen)
	}
	want := map[byte][]byte{
		optMessageType:  {msgOffer},
		optServerID:     {169, 254, 1, 1},
		optLeaseTime:    {0, 0, 0x0e, 0x10},
		optRenewalTime:  {0, 0, 0x07, 0x08},
		optSubnetMask:   {255, 255, 255, 255},
		optRouter:       {169, 254, 1, 1},
		optStaticRoutes: {32, 169, 254, 1, 1, 0, 0, 0, 0, 0, 169, 254, 1, 1},
		optMTU:          {0x05, 0x78},
		optHostname:     []byte("vm-a"),
		optDNS:          {10, 0, 0, 53},
	}
	for code, v := range want {
		if !bytes.Equal(m.options[code], v) {
			t.Errorf("option %d: want %v, have %v", code, v, m.options[code])
		}
	}
	// No broadcast flag and no ciaddr: unicast to the offered address at the client's MAC.
	if r.dst != l.IPv4 || !bytes.Equal(r.dstMAC, l.MAC) {
		t.Errorf("OFFER sent to %s at %s, want %s at %s", r.dst, r.dstMAC, l.IPv4, l.MAC)
	}
}

func TestBroadcastFlagAndRenewAddressing(t *testing.T) {
	s := New(Config{LeaseTime: 10 * time.Minute})
	l := lease("tap0")
	r, _ := s.answer(request(l.MAC, msgDiscover, flagBroadcast, netip.IPv4Unspecified()), l)
	if r.dst != netip.MustParseAddr("255.255.255.255") || !bytes.Equal(r.dstMAC, broadcastMAC) {
		t.Errorf("broadcast flag: reply to %s at %s", r.dst, r.dstMAC)
	}
	r, _ = s.answer(request(l.MAC, msgRequest, 0, l.IPv4), l) // renewing: ciaddr set
	if r == nil || r.typ != msgAck || r.dst != l.IPv4 || !bytes.Equal(r.dstMAC, l.MAC) {
		t.Fatalf("renewal: want an ACK to %s, have %+v", l.IPv4, r)
	}
	m, _ := parseMessage(r.msg)
	if !bytes.Equal(m.options[optLeaseTime], []byte{0, 0, 0x02, 0x58}) || m.ciaddr != l.IPv4 {
		t.Errorf("renewal ACK: lease time %v ciaddr %s", m.options[optLeaseTime], m.ciaddr)
	}
}

func TestRequestForWrongAddressIsRefused(t *testing.T) {
	s := New(Config{})
	l := lease("tap0")
	r, event := s.answer(request(l.MAC, msgRequest, 0, netip.IPv4Unspecified(),
		addrOption(optRequestedIP, netip.MustParseAddr("10.1.2.4"))), l)
	if r == nil || r.typ != msgNak || !bytes.Equal(r.dstMAC, broadcastMAC) {
		t.Fatalf("REQUEST for another address: want a broadcast NAK, have %+v (%s)", r, event)
	}
	m, _ := parseMessage(r.msg)
	if m.yiaddr.IsValid() && !m.yiaddr.IsUnspecified() || m.options[optLeaseTime] != nil {
		t.Errorf("NAK carries a lease: yiaddr %s, options %v", m.yiaddr, m.options)
	}
	r, _ = s.answer(request(l.MAC, msgRequest, 0, netip.IPv4Unspecified(),
		addrOption(optRequestedIP, l.IPv4), addrOption(optServerID, netip.MustParseAddr("10.9.9.9"))), l)
	if r != nil {
		t.Errorf("REQUEST that chose another server: want no answer, have type %d", r.typ)
	}
	for _, typ := range []byte{msgRelease, msgDecline} {
		if r, event := s.answer(request(l.MAC, typ, 0, l.IPv4), l); r != nil || event == "" {
			t.Errorf("message %d: want a logged event and no answer, have %+v %q", typ, r, event)
		}
	}
}

func TestFramesRoundTrip(t *testing.T) {
	src, _ := net.ParseMAC("02:fe:00:00:00:01")
	l := lease("tap0")
	payload := []byte("dhcp payload, odd length")
	f := buildUDP4(src, l.MAC, netip.MustParseAddr("169.254.1.1"), l.IPv4, 67, 68, payload)
	d, err := parseUDP4(f)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.payload, payload) || d.srcPort != 67 || d.dstPort != 68 || d.dst != l.IPv4 {
		t.Errorf("UDP round trip: %+v", d)
	}
	if checksum(0, f[ethHeaderLen:ethHeaderLen+ipv4HeaderLen]) != 0xffff {
		t.Error("IPv4 header checksum does not verify")
	}
	gw := netip.MustParseAddr("fe80::1")
	rs := buildICMP6(l.MAC, multicastMAC(allNodes), netip.MustParseAddr("fe80::2"), netip.MustParseAddr("ff02::2"),
		[]byte{icmpRouterSolicit, 0, 0, 0, 0, 0, 0, 0})
	m, err := parseICMP6(rs)
	if err != nil {
		t.Fatal(err)
	}
	ra := answerNDP(m, gw, src, 1400)
	if ra == nil {
		t.Fatal("no answer to a router solicitation")
	}
	a, err := parseICMP6(ra)
	if err != nil {
		t.Fatal(err)
	}
	if a.src != gw || a.dst != m.src || a.body[0] != icmpRouterAdvert || !bytes.Equal(ra[0:6], l.MAC) {
		t.Errorf("router advertisement from %s to %s type %d", a.src, a.dst, a.body[0])
	}
	if !bytes.HasSuffix(a.body, []byte{ndOptMTU, 1, 0, 0, 0, 0, 0x05, 0x78}) {
		t.Errorf("router advertisement lacks the MTU option: %x", a.body)
	}
}
