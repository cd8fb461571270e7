package route

import (
	"net/netip"
	"testing"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// FuzzRoundTrip checks that every valid route survives encoding, the wire and decoding
// unchanged, whatever its VNI, prefix, next hop, kind and port range.
func FuzzRoundTrip(f *testing.F) {
	for _, r := range examples() {
		p, n := r.Prefix.Addr().AsSlice(), r.NextHop.AsSlice()
		f.Add(r.VNI, p, uint8(r.Prefix.Bits()), n, uint8(r.Kind), r.PortMin, r.PortMax, []byte{192, 0, 2, 1})
	}
	f.Fuzz(func(t *testing.T, vni uint32, prefix []byte, bits uint8, nexthop []byte, kind uint8,
		portMin, portMax uint16, orig []byte) {
		addr, ok := netip.AddrFromSlice(prefix)
		hop, ok2 := netip.AddrFromSlice(nexthop)
		o, ok3 := netip.AddrFromSlice(orig)
		if !ok || !ok2 || !ok3 || !o.Is4() {
			return
		}
		p, err := addr.Prefix(int(bits))
		if err != nil {
			return
		}
		r := Route{VNI: vni, Prefix: p, NextHop: hop, Kind: Kind(kind), PortMin: portMin, PortMax: portMax}
		if r.Validate() != nil {
			if _, _, err := Encode(r, o); err == nil {
				t.Fatalf("invalid route %s encoded", r)
			}
			return
		}
		got, gotOrig, err := wireRoundTrip(r, o)
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		if got != r || gotOrig != o {
			t.Fatalf("round trip of %s from %s gave %s from %s", r, o, got, gotOrig)
		}
	})
}

// FuzzDecode feeds arbitrary type-5 payloads and large communities to the decoder: it must
// never panic, and whatever it accepts must validate and encode back to the same route.
func FuzzDecode(f *testing.F) {
	for _, r := range examples() {
		n, _ := NLRI(r, originator)
		b, _ := n.RouteTypeData.Serialize()
		f.Add(b, uint32(ASN), uint32(r.Kind), uint32(r.PortMin)<<16|uint32(r.PortMax), r.NextHop.AsSlice(), r.VNI)
	}
	f.Fuzz(func(t *testing.T, data []byte, asn, d1, d2 uint32, nexthop []byte, vni uint32) {
		var prefix bgp.EVPNIPPrefixRoute
		if prefix.DecodeFromBytes(data) != nil {
			return
		}
		nlri := bgp.NewEVPNNLRI(bgp.EVPN_IP_PREFIX, &prefix)
		attrs := []bgp.PathAttributeInterface{
			&bgp.PathAttributeMpReachNLRI{Nexthop: nexthop, Value: []bgp.AddrPrefixInterface{nlri}},
			bgp.NewPathAttributeLargeCommunities([]*bgp.LargeCommunity{bgp.NewLargeCommunity(asn, d1, d2)}),
			bgp.NewPathAttributeExtendedCommunities([]bgp.ExtendedCommunityInterface{RouteTarget(vni)}),
		}
		r, _, err := Decode(nlri, attrs)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("decoded invalid route %s: %v", r, err)
		}
		if _, _, err := Encode(r, originator); err != nil {
			t.Fatalf("decoded route %s does not encode: %v", r, err)
		}
	})
}
