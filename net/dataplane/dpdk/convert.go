package dpdk

import (
	"fmt"
	"net/netip"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	pb "github.com/ferrite-dev/ferrite/net/dataplane/dpdk/fastpathpb"
	"github.com/ferrite-dev/ferrite/net/route"
)

// PrefixToProto converts a prefix to its wire form.
func PrefixToProto(p netip.Prefix) *pb.Prefix {
	return &pb.Prefix{Address: p.Addr().AsSlice(), Length: uint32(p.Bits())}
}

// PrefixFromProto converts a prefix from its wire form.
func PrefixFromProto(p *pb.Prefix) (netip.Prefix, error) {
	a, ok := netip.AddrFromSlice(p.GetAddress())
	if !ok {
		return netip.Prefix{}, fmt.Errorf("bad address %x", p.GetAddress())
	}
	return a.Prefix(int(p.GetLength()))
}

// InterfaceToProto converts an interface to its wire form.
func InterfaceToProto(i dataplane.Interface) *pb.Interface {
	out := &pb.Interface{Name: i.Name, Vni: i.VNI}
	for _, a := range i.Addresses {
		out.Addresses = append(out.Addresses, PrefixToProto(a))
	}
	return out
}

// InterfaceFromProto converts an interface from its wire form (a fast path in Go uses it).
func InterfaceFromProto(i *pb.Interface) (dataplane.Interface, error) {
	out := dataplane.Interface{Name: i.GetName(), VNI: i.GetVni()}
	for _, a := range i.GetAddresses() {
		p, err := PrefixFromProto(a)
		if err != nil {
			return out, err
		}
		out.Addresses = append(out.Addresses, p)
	}
	return out, out.Validate()
}

var kinds = map[route.Kind]pb.NextHopKind{
	route.KindStandard:     pb.NextHopKind_NEXT_HOP_KIND_STANDARD,
	route.KindNAT:          pb.NextHopKind_NEXT_HOP_KIND_NAT,
	route.KindLoadBalancer: pb.NextHopKind_NEXT_HOP_KIND_LOAD_BALANCER,
}

// RouteToProto converts a route to its wire form.
func RouteToProto(r route.Route) *pb.Route {
	return &pb.Route{
		Vni: r.VNI, Prefix: PrefixToProto(r.Prefix), NextHop: r.NextHop.AsSlice(),
		Kind: kinds[r.Kind], PortMin: uint32(r.PortMin), PortMax: uint32(r.PortMax),
	}
}

// RouteFromProto converts a route from its wire form and validates it.
func RouteFromProto(r *pb.Route) (route.Route, error) {
	p, err := PrefixFromProto(r.GetPrefix())
	if err != nil {
		return route.Route{}, err
	}
	hop, ok := netip.AddrFromSlice(r.GetNextHop())
	if !ok {
		return route.Route{}, fmt.Errorf("bad next hop %x", r.GetNextHop())
	}
	if r.GetPortMin() > 0xffff || r.GetPortMax() > 0xffff {
		return route.Route{}, fmt.Errorf("port range %d-%d out of range", r.GetPortMin(), r.GetPortMax())
	}
	out := route.Route{VNI: r.GetVni(), Prefix: p, NextHop: hop, PortMin: uint16(r.GetPortMin()), PortMax: uint16(r.GetPortMax())}
	found := false
	for k, v := range kinds {
		if v == r.GetKind() {
			out.Kind, found = k, true
		}
	}
	if !found {
		return out, fmt.Errorf("unknown next-hop kind %v", r.GetKind())
	}
	return out, out.Validate()
}
