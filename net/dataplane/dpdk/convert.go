package dpdk

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

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
	a, err := AddrFromProto(p.GetAddress())
	if err != nil {
		return netip.Prefix{}, err
	}
	return a.Prefix(int(p.GetLength()))
}

// AddrFromProto converts an address from its wire form (4 or 16 bytes; IPv4-mapped IPv6 is
// read as IPv4).
func AddrFromProto(b []byte) (netip.Addr, error) {
	a, ok := netip.AddrFromSlice(b)
	if !ok {
		return netip.Addr{}, fmt.Errorf("bad address %x", b)
	}
	return a.Unmap(), nil
}

func comparePrefixes(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

// InterfaceToProto converts an interface to its wire form. The interface's name is both its id
// and its device: a Ferrite interface is named after its host device.
func InterfaceToProto(i dataplane.Interface) *pb.Interface {
	out := &pb.Interface{Id: i.Name, Device: i.Name, Vni: i.VNI}
	addrs := slices.SortedFunc(slices.Values(i.Addresses), comparePrefixes)
	for _, a := range slices.Compact(addrs) {
		out.Addresses = append(out.Addresses, PrefixToProto(a))
	}
	return out
}

// InterfaceFromProto converts an interface from its wire form (a fast path in Go uses it).
func InterfaceFromProto(i *pb.Interface) (dataplane.Interface, error) {
	out := dataplane.Interface{Name: i.GetId(), VNI: i.GetVni()}
	for _, a := range i.GetAddresses() {
		p, err := PrefixFromProto(a)
		if err != nil {
			return out, fmt.Errorf("interface %s: %w", i.GetId(), err)
		}
		out.Addresses = append(out.Addresses, p)
	}
	if i.GetDevice() == "" {
		return out, fmt.Errorf("interface %s without a device", i.GetId())
	}
	return out, out.Validate()
}

var kinds = map[route.Kind]pb.NextHopKind{
	route.KindStandard:     pb.NextHopKind_NEXT_HOP_KIND_STANDARD,
	route.KindNAT:          pb.NextHopKind_NEXT_HOP_KIND_NAT,
	route.KindLoadBalancer: pb.NextHopKind_NEXT_HOP_KIND_LOAD_BALANCER,
}

// RouteToProto converts a route to its wire form; the next hop is in the route's own VNI with
// the default weight.
func RouteToProto(r route.Route) *pb.Route {
	out := &pb.Route{Vni: r.VNI, Prefix: PrefixToProto(r.Prefix), NextHop: r.NextHop.AsSlice(), Kind: kinds[r.Kind]}
	if r.PortMin != 0 || r.PortMax != 0 {
		out.Ports = &pb.PortRange{Min: uint32(r.PortMin), Max: uint32(r.PortMax)}
	}
	return out
}

// RouteFromProto converts a route from its wire form and validates it. Next-hop VNI and weight
// have no place in route.Route and are dropped.
func RouteFromProto(r *pb.Route) (route.Route, error) {
	p, err := PrefixFromProto(r.GetPrefix())
	if err != nil {
		return route.Route{}, err
	}
	hop, err := AddrFromProto(r.GetNextHop())
	if err != nil {
		return route.Route{}, fmt.Errorf("next hop: %w", err)
	}
	ports := r.GetPorts()
	if ports.GetMin() > 0xffff || ports.GetMax() > 0xffff {
		return route.Route{}, fmt.Errorf("port range %d-%d out of range", ports.GetMin(), ports.GetMax())
	}
	out := route.Route{VNI: r.GetVni(), Prefix: p, NextHop: hop, PortMin: uint16(ports.GetMin()), PortMax: uint16(ports.GetMax())}
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
