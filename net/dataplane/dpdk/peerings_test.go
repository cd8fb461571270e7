package dpdk_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/dataplane/dpdk"
	"github.com/ferrite-dev/ferrite/net/route"
)

// routeList lists the fast path's routes as "vni prefix via hop [vni n]", sorted.
func (f *fastPath) routeList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.routes {
		pr, _ := dpdk.PrefixFromProto(r.GetPrefix())
		hop, _ := dpdk.AddrFromProto(r.GetNextHop())
		s := fmt.Sprintf("%d %s via %s", r.GetVni(), pr, hop)
		if r.GetNextHopVni() != 0 && r.GetNextHopVni() != r.GetVni() {
			s += fmt.Sprintf(" vni %d", r.GetNextHopVni())
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// A peering makes the peered VNI's remote routes routes of the importing VNI that carry the
// peered VNI; the importing VNI's own prefixes and NAT routes are not imported; removing the
// peering removes them.
func TestPeeringsBecomeRoutesWithNextHopVNI(t *testing.T) {
	fp := newFastPath()
	d := dial(t, fp.serve(t))
	s := dataplane.State{
		Interfaces: []dataplane.Interface{{Name: "tap0", VNI: 100, Addresses: []netip.Prefix{p("10.1.0.1/32")}}},
		Routes: []route.Route{
			{VNI: 200, Prefix: p("10.2.0.2/32"), NextHop: ip("192.0.2.2")},
			{VNI: 200, Prefix: p("10.2.0.2/32"), NextHop: ip("192.0.2.3")},
			{VNI: 200, Prefix: p("10.1.0.1/32"), NextHop: ip("192.0.2.2")}, // tap0's address in 100
			{VNI: 200, Prefix: p("0.0.0.0/0"), NextHop: ip("192.0.2.9"), Kind: route.KindNAT, PortMin: 1024, PortMax: 2047},
			{VNI: 300, Prefix: p("10.2.0.2/32"), NextHop: ip("192.0.2.4")}, // loses to vni 200's
			{VNI: 300, Prefix: p("10.3.0.3/32"), NextHop: ip("192.0.2.4")},
		},
		Peerings: map[uint32][]uint32{100: {300, 200}},
	}
	apply(t, d, s, dpdk.Services{})
	imported := []string{
		"100 10.2.0.2/32 via 192.0.2.2 vni 200",
		"100 10.2.0.2/32 via 192.0.2.3 vni 200",
		"100 10.3.0.3/32 via 192.0.2.4 vni 300",
	}
	got := fp.routeList()
	var have []string
	for _, r := range got {
		if r[:4] == "100 " {
			have = append(have, r)
		}
	}
	if !slices.Equal(have, imported) {
		t.Errorf("routes of vni 100:\n got %q\nwant %q", have, imported)
	}
	fp.count() // forget the first apply's calls
	apply(t, d, s, dpdk.Services{})
	if c := changes(fp.count()); c != "" {
		t.Errorf("second apply of the same peering changed: %s", c)
	}

	s.Peerings = nil
	apply(t, d, s, dpdk.Services{})
	if got := fp.routeList(); len(got) != len(s.Routes) || slices.ContainsFunc(got, func(r string) bool { return r[:4] == "100 " }) {
		t.Errorf("after the peering went the fast path holds %q", got)
	}
}
