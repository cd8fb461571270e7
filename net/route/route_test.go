package route

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"testing"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

var originator = netip.MustParseAddr("192.0.2.1")

func examples() []Route {
	return []Route{
		{VNI: 100, Prefix: netip.MustParsePrefix("10.0.0.1/32"), NextHop: netip.MustParseAddr("192.0.2.1")},
		{VNI: MaxVNI, Prefix: netip.MustParsePrefix("0.0.0.0/0"), NextHop: netip.MustParseAddr("2001:db8::1"),
			Kind: KindNAT, PortMin: 1024, PortMax: 2047},
		{VNI: 1, Prefix: netip.MustParsePrefix("2001:db8:1::/64"), NextHop: netip.MustParseAddr("198.51.100.7"),
			Kind: KindLoadBalancer},
		{VNI: 7, Prefix: netip.MustParsePrefix("fd00::5/128"), NextHop: netip.MustParseAddr("fd00:1::2"),
			Kind: KindNAT, PortMin: 0, PortMax: 65535},
	}
}

// wireRoundTrip sends r through a serialized BGP UPDATE and decodes what a peer would parse.
func wireRoundTrip(r Route, orig netip.Addr) (Route, netip.Addr, error) {
	_, attrs, err := Encode(r, orig)
	if err != nil {
		return Route{}, netip.Addr{}, err
	}
	b, err := bgp.NewBGPUpdateMessage(nil, attrs, nil).Serialize()
	if err != nil {
		return Route{}, netip.Addr{}, err
	}
	msg, err := bgp.ParseBGPMessage(b)
	if err != nil {
		return Route{}, netip.Addr{}, err
	}
	update := msg.Body.(*bgp.BGPUpdate)
	for _, a := range update.PathAttributes {
		if mp, ok := a.(*bgp.PathAttributeMpReachNLRI); ok {
			return Decode(mp.Value[0], update.PathAttributes)
		}
	}
	return Route{}, netip.Addr{}, nil
}

func TestRoundTripWire(t *testing.T) {
	for _, r := range examples() {
		got, orig, err := wireRoundTrip(r, originator)
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		if got != r || orig != originator {
			t.Errorf("round trip of %s from %s gave %s from %s", r, originator, got, orig)
		}
	}
}

func TestRoundTripAPI(t *testing.T) {
	for _, r := range examples() {
		p, err := ToAPI(r, originator)
		if err != nil {
			t.Fatal(err)
		}
		got, orig, err := FromAPI(p)
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		if got != r || orig != originator {
			t.Errorf("api round trip of %s gave %s from %s", r, got, orig)
		}
	}
}

func TestDistinctKeys(t *testing.T) {
	base := examples()[1]
	other := base
	other.PortMin, other.PortMax = 2048, 4095
	lb := base
	lb.Kind, lb.PortMin, lb.PortMax = KindLoadBalancer, 0, 0
	keys := map[string]bool{}
	for _, c := range []struct {
		r    Route
		orig string
	}{{base, "192.0.2.1"}, {base, "192.0.2.2"}, {other, "192.0.2.1"}, {lb, "192.0.2.1"}} {
		n, err := NLRI(c.r, netip.MustParseAddr(c.orig))
		if err != nil {
			t.Fatal(err)
		}
		keys[n.String()] = true
	}
	if len(keys) != 4 {
		t.Errorf("want 4 distinct route keys (two originators, two port ranges, two kinds), got %v", keys)
	}
}

func TestForeignRouteIsStandard(t *testing.T) {
	// What gobgpd or FRR send: a type-5 route with a plain RD and no Ferrite community.
	rd, _ := bgp.ParseRouteDistinguisher("65001:5")
	nlri := bgp.NewEVPNIPPrefixRoute(rd, bgp.EthernetSegmentIdentifier{}, 0, 24, "10.9.0.0", "0.0.0.0", 5)
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeMpReachNLRI("203.0.113.9", []bgp.AddrPrefixInterface{nlri}),
		bgp.NewPathAttributeExtendedCommunities([]bgp.ExtendedCommunityInterface{RouteTarget(5)})}
	r, orig, err := Decode(nlri, attrs)
	if err != nil {
		t.Fatal(err)
	}
	want := Route{VNI: 5, Prefix: netip.MustParsePrefix("10.9.0.0/24"), NextHop: netip.MustParseAddr("203.0.113.9")}
	if r != want || orig.IsValid() {
		t.Errorf("got %s from %v, want %s from nobody", r, orig, want)
	}
}

func TestValidate(t *testing.T) {
	good := examples()[0]
	bad := map[string]func(*Route){
		"vni zero":         func(r *Route) { r.VNI = 0 },
		"vni too big":      func(r *Route) { r.VNI = MaxVNI + 1 },
		"host bits":        func(r *Route) { r.Prefix = netip.MustParsePrefix("10.0.0.1/24") },
		"no next hop":      func(r *Route) { r.NextHop = netip.Addr{} },
		"mapped next hop":  func(r *Route) { r.NextHop = netip.MustParseAddr("::ffff:192.0.2.1") },
		"ports on std":     func(r *Route) { r.PortMax = 10 },
		"empty nat range":  func(r *Route) { r.Kind, r.PortMin, r.PortMax = KindNAT, 10, 9 },
		"unknown kind":     func(r *Route) { r.Kind = 9 },
		"unspecified hop":  func(r *Route) { r.NextHop = netip.IPv4Unspecified() },
		"mapped prefix":    func(r *Route) { r.Prefix = netip.MustParsePrefix("::ffff:10.0.0.0/104") },
		"missing prefix":   func(r *Route) { r.Prefix = netip.Prefix{} },
		"zoned next hop":   func(r *Route) { r.NextHop = netip.MustParseAddr("fe80::1%eth0") },
		"kind out of enum": func(r *Route) { r.Kind = kindCount },
		"nat unaligned":    func(r *Route) { r.Kind, r.PortMin, r.PortMax = KindNAT, 1000, 2000 },
	}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, change := range bad {
		r := good
		change(&r)
		if r.Validate() == nil {
			t.Errorf("%s: %s validated", name, r)
		}
	}
}

func TestJSON(t *testing.T) {
	for _, r := range examples() {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var got Route
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if got != r {
			t.Errorf("json %s gave %s", b, got)
		}
	}
}

func TestMembership(t *testing.T) {
	for _, vni := range []uint32{0, 1, MaxVNI} {
		if _, err := Membership(vni, originator); err != nil {
			t.Errorf("vni %d: %v", vni, err)
		}
	}
	if _, err := Membership(MaxVNI+1, originator); err == nil {
		t.Error("membership for a VNI out of range accepted")
	}
}

func TestValidatePrefix(t *testing.T) {
	for _, p := range []string{"10.0.0.1/32", "0.0.0.0/0", "2001:db8::/32"} {
		if err := ValidatePrefix(netip.MustParsePrefix(p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	for _, p := range []netip.Prefix{{}, netip.MustParsePrefix("10.0.0.1/24"), netip.MustParsePrefix("::ffff:10.0.0.0/104")} {
		if ValidatePrefix(p) == nil {
			t.Errorf("%s validated", p)
		}
	}
}

// TestWireFormat checks what other EVPN speakers see: RD originator:(kind<<14|PortMin>>6),
// Ethernet tag and label = VNI, the route target, VXLAN and the Router's MAC of the next hop.
func TestWireFormat(t *testing.T) {
	r := Route{VNI: 300, Prefix: netip.MustParsePrefix("0.0.0.0/0"), NextHop: netip.MustParseAddr("192.0.2.7"),
		Kind: KindNAT, PortMin: 2048, PortMax: 4095}
	nlri, attrs, err := Encode(r, originator)
	if err != nil {
		t.Fatal(err)
	}
	p := nlri.(*bgp.EVPNNLRI).RouteTypeData.(*bgp.EVPNIPPrefixRoute)
	if got, want := p.RD.String(), "192.0.2.1:16416"; got != want { // 1<<14 | 2048/64
		t.Errorf("rd %s, want %s", got, want)
	}
	if p.ETag != 300 || p.Label != 300 {
		t.Errorf("tag %d label %d, want the vni", p.ETag, p.Label)
	}
	mac, ok := RouterMACOf(attrs)
	if !ok || mac.String() != "02:fe:c0:00:02:07" {
		t.Errorf("router's mac %v %v, want 02:fe:c0:00:02:07", mac, ok)
	}
	var ecs []string
	for _, a := range attrs {
		if ec, ok := a.(*bgp.PathAttributeExtendedCommunities); ok {
			for _, c := range ec.Value {
				ecs = append(ecs, c.String())
			}
		}
	}
	if want := "[65000:300 VXLAN router's mac: 02:fe:c0:00:02:07]"; fmt.Sprint(ecs) != want {
		t.Errorf("extended communities %v, want %s", ecs, want)
	}
	if got := KeyOf(r, originator); got != (Key{Originator: originator, VNI: 300, Prefix: r.Prefix, Kind: KindNAT, Slot: 32}) {
		t.Errorf("key %+v", got)
	}
	if RouterMAC(netip.MustParseAddr("2001:db8::a:b")).String() != "02:fe:00:0a:00:0b" {
		t.Errorf("ipv6 router mac %s", RouterMAC(netip.MustParseAddr("2001:db8::a:b")))
	}
}

// TestDecodeRefuses checks that routes whose parts disagree are refused rather than guessed.
func TestDecodeRefuses(t *testing.T) {
	r := examples()[0]
	nlri, attrs, err := Encode(r, originator)
	if err != nil {
		t.Fatal(err)
	}
	p := nlri.(*bgp.EVPNNLRI).RouteTypeData.(*bgp.EVPNIPPrefixRoute)
	withEC := func(ecs ...bgp.ExtendedCommunityInterface) []bgp.PathAttributeInterface {
		out := []bgp.PathAttributeInterface{attrs[1], attrs[3], bgp.NewPathAttributeExtendedCommunities(ecs)}
		return out
	}
	cases := map[string]struct {
		nlri  bgp.AddrPrefixInterface
		attrs []bgp.PathAttributeInterface
	}{
		"no route target": {nlri, withEC(bgp.NewEncapExtended(Encapsulation))},
		"two vnis":        {nlri, withEC(RouteTarget(100), RouteTarget(101))},
		"label differs":   {nlri, withEC(RouteTarget(101))},
		"not vxlan":       {nlri, withEC(RouteTarget(100), bgp.NewEncapExtended(bgp.TUNNEL_TYPE_MPLS))},
		"rd not kind/ports": {bgp.NewEVPNIPPrefixRoute(bgp.NewRouteDistinguisherIPAddressAS("192.0.2.1", 5),
			p.ESI, p.ETag, p.IPPrefixLength, p.IPPrefix.String(), "0.0.0.0", p.Label), attrs},
		"tag neither 0 nor vni": {bgp.NewEVPNIPPrefixRoute(p.RD, p.ESI, 7, p.IPPrefixLength, p.IPPrefix.String(), "0.0.0.0", p.Label), attrs},
	}
	for name, c := range cases {
		if got, _, err := Decode(c.nlri, c.attrs); err == nil {
			t.Errorf("%s: decoded as %s", name, got)
		}
	}
}
