package route

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// ASN is the private AS that Ferrite's reflectors and agents share (one iBGP domain) and the
// namespace of its route targets and large communities.
const ASN = 65000

// Family is the BGP family routes travel in: EVPN (type-5 IP prefix routes).
var Family = &api.Family{Afi: api.Family_AFI_L2VPN, Safi: api.Family_SAFI_EVPN}

// SubscriptionFamily is the route-target constraint family (RFC 4684) agents subscribe with.
var SubscriptionFamily = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_ROUTE_TARGET_CONSTRAINTS}

// Encapsulation is the tunnel type every route announces in the BGP encapsulation extended
// community (RFC 9012): Ferrite's dataplanes speak VXLAN.
const Encapsulation = bgp.TUNNEL_TYPE_VXLAN

// RouteTarget is the route target of a VNI, ASN:VNI. Every route in the VNI carries it and an
// agent subscribes to the VNI by announcing a membership for it.
func RouteTarget(vni uint32) bgp.ExtendedCommunityInterface {
	return bgp.NewTwoOctetAsSpecificExtended(bgp.EC_SUBTYPE_ROUTE_TARGET, ASN, vni, true)
}

// NLRI builds the type-5 route key of r as announced by originator (an IPv4 router ID): the
// route distinguisher is originator:(kind<<14|PortMin>>6), the Ethernet tag and the label are
// the VNI, the ESI and gateway are zero (see Key).
func NLRI(r Route, originator netip.Addr) (*bgp.EVPNNLRI, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	rd, err := RouteDistinguisher(r, originator)
	if err != nil {
		return nil, err
	}
	gateway := "0.0.0.0"
	if r.Prefix.Addr().Is6() {
		gateway = "::"
	}
	return bgp.NewEVPNIPPrefixRoute(rd, bgp.EthernetSegmentIdentifier{}, r.VNI,
		uint8(r.Prefix.Bits()), r.Prefix.Addr().String(), gateway, r.VNI), nil
}

// Encode turns r into the NLRI and path attributes of an EVPN type-5 route: the VNI in the
// label and the route target, the encapsulation and the next hop's Router's MAC in extended
// communities, the next-hop kind and NAT port range in a large community
// ASN:kind:(PortMin<<16|PortMax).
func Encode(r Route, originator netip.Addr) (bgp.AddrPrefixInterface, []bgp.PathAttributeInterface, error) {
	nlri, err := NLRI(r, originator)
	if err != nil {
		return nil, nil, err
	}
	attrs := []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgp.NewPathAttributeMpReachNLRI(r.NextHop.String(), []bgp.AddrPrefixInterface{nlri}),
		bgp.NewPathAttributeExtendedCommunities([]bgp.ExtendedCommunityInterface{
			RouteTarget(r.VNI),
			bgp.NewEncapExtended(Encapsulation),
			&bgp.RouterMacExtended{Mac: RouterMAC(r.NextHop)},
		}),
		bgp.NewPathAttributeLargeCommunities([]*bgp.LargeCommunity{
			bgp.NewLargeCommunity(ASN, uint32(r.Kind), uint32(r.PortMin)<<16|uint32(r.PortMax)),
		}),
	}
	return nlri, attrs, nil
}

// Decode reads a route back from an EVPN type-5 NLRI and its attributes and returns it with
// the originator named in the route distinguisher (invalid when a foreign speaker used another
// kind of distinguisher). The VNI is the one of the route target ASN:VNI; the label must agree.
// A route without Ferrite's large community is a standard route, so routes from other speakers
// (gobgpd, FRR) are understood too. RouterMACOf reads the Router's MAC.
func Decode(nlri bgp.AddrPrefixInterface, attrs []bgp.PathAttributeInterface) (Route, netip.Addr, error) {
	var r Route
	evpn, ok := nlri.(*bgp.EVPNNLRI)
	if !ok {
		return r, netip.Addr{}, fmt.Errorf("not an EVPN route: %T", nlri)
	}
	prefix, ok := evpn.RouteTypeData.(*bgp.EVPNIPPrefixRoute)
	if !ok {
		return r, netip.Addr{}, fmt.Errorf("not an EVPN IP prefix (type-5) route: type %d", evpn.RouteType)
	}
	addr, ok := addrFrom(prefix.IPPrefix)
	if !ok {
		return r, netip.Addr{}, fmt.Errorf("bad prefix address %v", prefix.IPPrefix)
	}
	if int(prefix.IPPrefixLength) > addr.BitLen() {
		return r, netip.Addr{}, fmt.Errorf("prefix length %d too long for %s", prefix.IPPrefixLength, addr)
	}
	r.Prefix = netip.PrefixFrom(addr, int(prefix.IPPrefixLength))
	var originator netip.Addr
	rd, typed := prefix.RD.(*bgp.RouteDistinguisherIPAddressAS)
	if typed {
		originator, _ = addrFrom(rd.Admin)
	}
	ferrite, err := decodeAttrs(&r, attrs)
	if err != nil {
		return r, originator, fmt.Errorf("route for %s: %w", r.Prefix, err)
	}
	if prefix.Label != r.VNI {
		return r, originator, fmt.Errorf("route for %s: label %d disagrees with route target vni %d", r.Prefix, prefix.Label, r.VNI)
	}
	if prefix.ETag != 0 && prefix.ETag != r.VNI {
		return r, originator, fmt.Errorf("route for %s: ethernet tag %d is neither 0 nor vni %d", r.Prefix, prefix.ETag, r.VNI)
	}
	if ferrite && typed && rd.Assigned != rdNumber(r) {
		return r, originator, fmt.Errorf("route for %s: route distinguisher %s does not match %s %d-%d", r.Prefix, rd, r.Kind, r.PortMin, r.PortMax)
	}
	if err := r.Validate(); err != nil {
		return r, originator, fmt.Errorf("decoded route invalid: %w", err)
	}
	return r, originator, nil
}

// decodeAttrs reads the next hop, VNI (route target), encapsulation, kind and ports into r and
// says whether the route carries Ferrite's large community.
func decodeAttrs(r *Route, attrs []bgp.PathAttributeInterface) (ferrite bool, err error) {
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeMpReachNLRI:
			r.NextHop, _ = addrFrom(a.Nexthop)
		case *bgp.PathAttributeNextHop:
			if !r.NextHop.IsValid() {
				r.NextHop, _ = addrFrom(a.Value)
			}
		case *bgp.PathAttributeExtendedCommunities:
			for _, c := range a.Value {
				switch c := c.(type) {
				case *bgp.TwoOctetAsSpecificExtended:
					if c.SubType != bgp.EC_SUBTYPE_ROUTE_TARGET || c.AS != ASN {
						continue
					}
					if r.VNI != 0 && r.VNI != c.LocalAdmin {
						return ferrite, fmt.Errorf("route targets of two vnis (%d, %d)", r.VNI, c.LocalAdmin)
					}
					r.VNI = c.LocalAdmin
				case *bgp.EncapExtended:
					if c.TunnelType != Encapsulation {
						return ferrite, fmt.Errorf("encapsulation %s, want %s", c.TunnelType, Encapsulation)
					}
				}
			}
		case *bgp.PathAttributeLargeCommunities:
			for _, c := range a.Values {
				if c.ASN == ASN {
					ferrite = true
					r.Kind = Kind(c.LocalData1)
					r.PortMin, r.PortMax = uint16(c.LocalData2>>16), uint16(c.LocalData2)
				}
			}
		}
	}
	if r.VNI == 0 {
		return ferrite, fmt.Errorf("no route target %d:VNI", ASN)
	}
	return ferrite, nil
}

// addrFrom converts a net.IP from the BGP packet library, in which IPv4 may be 4 or 16 bytes.
func addrFrom(ip net.IP) (netip.Addr, bool) {
	if v4 := ip.To4(); v4 != nil {
		return netip.AddrFrom4([4]byte(v4)), true
	}
	a, ok := netip.AddrFromSlice(ip)
	return a, ok && a.Is6()
}

// ToAPI encodes r as a GoBGP API path, ready for AddPath or DeletePath.
func ToAPI(r Route, originator netip.Addr) (*api.Path, error) {
	nlri, attrs, err := Encode(r, originator)
	if err != nil {
		return nil, err
	}
	return apiutil.NewPath(nlri, false, attrs, time.Now())
}

// FromAPI decodes a GoBGP API path (from ListPath or WatchEvent) into a route and its originator.
func FromAPI(p *api.Path) (Route, netip.Addr, error) {
	nlri, err := apiutil.GetNativeNlri(p)
	if err != nil {
		return Route{}, netip.Addr{}, err
	}
	attrs, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		return Route{}, netip.Addr{}, err
	}
	return Decode(nlri, attrs)
}

// Membership builds the route-target membership (RFC 4684) path that subscribes a speaker to a
// VNI, with nexthop its router ID; vni 0 is the default membership, which asks for every route (reflectors announce it so
// that clients send them all their routes).
func Membership(vni uint32, nexthop netip.Addr) (*api.Path, error) {
	if vni > MaxVNI {
		return nil, fmt.Errorf("vni %d out of range", vni)
	}
	if !nexthop.IsValid() {
		return nil, errors.New("membership needs a next hop")
	}
	nlri := bgp.NewRouteTargetMembershipNLRI(0, nil)
	if vni != 0 {
		nlri = bgp.NewRouteTargetMembershipNLRI(ASN, RouteTarget(vni))
	}
	attrs := []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgp.NewPathAttributeMpReachNLRI(nexthop.String(), []bgp.AddrPrefixInterface{nlri}),
	}
	return apiutil.NewPath(nlri, false, attrs, time.Now())
}
