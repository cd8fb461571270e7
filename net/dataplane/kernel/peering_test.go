package kernel

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// Two hypervisors; VNI 100 and VNI 200 peer (or not).
//
//	a1 10.1.0.1 (vni 100) ─ fra ┐
//	b1 10.2.0.1 (vni 200) ─ frb ┴ hv1 192.0.2.1 ─ hv2 192.0.2.2 ─ frc ─ b2 10.2.0.2 (vni 200)
//
// hv2 has no interface in VNI 100, only its routes: it makes fvx100 for them.
func TestPeeringPackets(t *testing.T) {
	needRoot(t)
	hv1, hv2, d1, d2 := hypervisors(t)
	a1 := newGuest(t, hv1, "fra", "10.1.0.1")
	b1 := newGuest(t, hv1, "frb", "10.2.0.1")
	b2 := newGuest(t, hv2, "frc", "10.2.0.2")
	s1 := dataplane.State{
		Interfaces: []dataplane.Interface{iface("fra", 100, "10.1.0.1/32"), iface("frb", 200, "10.2.0.1/32")},
		Routes: []route.Route{
			rt(200, "10.2.0.2/32", "192.0.2.2", route.KindStandard),
			rt(100, "10.9.0.0/24", "192.0.2.2", route.KindStandard),
			// Prefixes VNI 100 has itself: never replaced by VNI 200's.
			rt(200, "10.1.0.1/32", "192.0.2.2", route.KindStandard),
			rt(200, "10.9.0.0/24", "192.0.2.3", route.KindStandard),
		},
		VTEPs: []netip.Addr{netip.MustParseAddr("192.0.2.2")},
	}
	s2 := dataplane.State{
		Interfaces: []dataplane.Interface{iface("frc", 200, "10.2.0.2/32")},
		Routes: []route.Route{rt(100, "10.1.0.1/32", "192.0.2.1", route.KindStandard),
			rt(200, "10.2.0.1/32", "192.0.2.1", route.KindStandard)},
		VTEPs: []netip.Addr{netip.MustParseAddr("192.0.2.1")},
	}
	apply := func(p map[uint32][]uint32) {
		t.Helper()
		s1.Peerings, s2.Peerings = p, p
		hv1.mustApply(d1, s1)
		hv2.mustApply(d2, s2)
	}

	// Both directions: a1 reaches b2 across hosts and b1 on its own host, and b2 reaches a1.
	apply(map[uint32][]uint32{100: {200}, 200: {100}})
	want100 := []string{
		"10.1.0.1/32 dev fra",
		"10.2.0.1/32 dev frb",
		"10.2.0.2/32 via 192.0.2.2 dev fvx200",
		"10.9.0.0/24 via 192.0.2.2 dev fvx100",
	}
	if got := peeringRoutes(t, hv1.h, 100); !slices.Equal(got, want100) {
		t.Errorf("hv1 table 100 with the peering:\n got %q\nwant %q", got, want100)
	}
	if got, want := peeringRoutes(t, hv2.h, 200), []string{
		"10.1.0.1/32 via 192.0.2.1 dev fvx100", "10.2.0.1/32 via 192.0.2.1 dev fvx200", "10.2.0.2/32 dev frc",
	}; !slices.Equal(got, want) {
		t.Errorf("hv2 table 200 with the peering:\n got %q\nwant %q", got, want)
	}
	for _, c := range []struct {
		from *node
		what string
		addr string
	}{{a1, "a1 → b2 (across hosts)", "10.2.0.2"}, {a1, "a1 → b1 (same host)", "10.2.0.1"}, {b2, "b2 → a1", "10.1.0.1"}, {b1, "b1 → a1", "10.1.0.1"}} {
		if !c.from.ping(c.addr) {
			t.Errorf("peered: %s: no ping", c.what)
		}
	}

	// One way only (VNI 100 imports VNI 200, not back): requests arrive, replies do not.
	apply(map[uint32][]uint32{100: {200}})
	got := listenUDP(t, b2, 7777)
	sendUDP(t, a1, "10.1.0.1", "10.2.0.2:7777", []byte("one way"))
	if !received(got) {
		t.Error("one-way peering: a1's datagram did not reach b2")
	}
	if a1.ping("10.2.0.2") || a1.ping("10.2.0.1") {
		t.Error("one-way peering: a1 got a reply from VNI 200")
	}
	if got := peeringRoutes(t, hv2.h, 200); slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "10.1.") }) {
		t.Errorf("hv2 table 200 without importing VNI 100 routes a1: %q", got)
	}

	// No peering: the imported routes are swept and nothing crosses.
	apply(nil)
	if got, want := peeringRoutes(t, hv1.h, 100), []string{"10.1.0.1/32 dev fra", "10.9.0.0/24 via 192.0.2.2 dev fvx100"}; !slices.Equal(got, want) {
		t.Errorf("hv1 table 100 after the peering went:\n got %q\nwant %q", got, want)
	}
	sendUDP(t, a1, "10.1.0.1", "10.2.0.2:7777", []byte("no peering"))
	if received(got) {
		t.Error("without a peering a1's datagram reached b2")
	}
	if a1.ping("10.2.0.1") {
		t.Error("without a peering a1 reaches b1")
	}
}

// peeringRoutes lists the unicast routes of a VNI's table other than the gateway's as
// "dst [via hops] dev name", sorted.
func peeringRoutes(t *testing.T, h *netlink.Handle, vni uint32) []string {
	t.Helper()
	rs, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: DefaultTableBase + int(vni)}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		k, kr := fromKernel(netlink.FAMILY_V4, r)
		if kr.dev == 0 || k.dst == Gateway {
			continue
		}
		s := k.dst.String()
		for i, hop := range kr.hops {
			if i == 0 {
				s += " via"
			}
			s += " " + hop.String()
		}
		l, err := h.LinkByIndex(kr.dev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s+" dev "+l.Attrs().Name)
	}
	slices.Sort(out)
	return out
}
