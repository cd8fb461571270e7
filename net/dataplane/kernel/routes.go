package kernel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// throwMetric puts the throw defaults behind every other route of a table.
const throwMetric = 4278198272

// routeKey identifies a kernel route: two routes with the same key replace each other.
type routeKey struct {
	table  int
	dst    netip.Prefix
	metric int
}

// kroute is what Ferrite cares about in a kernel route.
type kroute struct {
	typ   int
	dev   int // output device
	scope netlink.Scope
	hops  []netip.Addr // on-link gateways on dev, sorted; none for a device route
}

func (r kroute) equal(o kroute) bool {
	return r.typ == o.typ && r.dev == o.dev && r.scope == o.scope && slices.Equal(r.hops, o.hops)
}

// wantRoutes lists the routes of every planned VNI's table. devs maps a VNI to its VXLAN
// device and ifindex an interface name to its device (absent interfaces get no routes).
func (d *Dataplane) wantRoutes(p *plan, devs map[uint32]int, ifindex map[string]int) map[routeKey]kroute {
	want := map[routeKey]kroute{}
	// IPv6 has no route scopes and gives metric 0 the kernel's default, 1024.
	key := func(t int, dst netip.Prefix, metric int) routeKey {
		if dst.Addr().Is6() && metric == 0 {
			metric = 1024
		}
		return routeKey{t, dst, metric}
	}
	scope := func(dst netip.Prefix) netlink.Scope {
		if dst.Addr().Is4() {
			return netlink.SCOPE_LINK
		}
		return netlink.SCOPE_UNIVERSE
	}
	for vni, vp := range p.vnis {
		t := d.Table(vni)
		// What the table does not route goes back to the rules: the device's next rule
		// (the public VNI's table, or its terminal unreachable rule).
		for _, def := range []string{"0.0.0.0/0", "::/0"} {
			want[key(t, netip.MustParsePrefix(def), throwMetric)] = kroute{typ: unix.RTN_THROW}
		}
		dev, ok := devs[vni]
		if !ok {
			continue // the device failed; its error is reported already
		}
		want[key(t, Gateway, 0)] = kroute{typ: unix.RTN_UNICAST, dev: dev, scope: netlink.SCOPE_LINK}
		for prefix, hops := range vp.remote {
			want[key(t, prefix, 0)] = kroute{typ: unix.RTN_UNICAST, dev: dev, hops: hops}
		}
		for prefix, name := range vp.local {
			if idx, ok := ifindex[name]; ok {
				want[key(t, prefix, 0)] = kroute{typ: unix.RTN_UNICAST, dev: idx, scope: scope(prefix)}
			}
		}
		// A peered VNI's prefixes leave through that VNI's own devices, as in its table.
		for prefix, im := range vp.imported {
			if im.iface != "" {
				if idx, ok := ifindex[im.iface]; ok {
					want[key(t, prefix, 0)] = kroute{typ: unix.RTN_UNICAST, dev: idx, scope: scope(prefix)}
				}
			} else if pdev, ok := devs[im.vni]; ok {
				want[key(t, prefix, 0)] = kroute{typ: unix.RTN_UNICAST, dev: pdev, hops: im.hops}
			}
		}
	}
	// Each NAT next hop's table sends everything to it through the public VNI's device.
	if dev, ok := devs[p.public.vni]; ok && p.public.active() {
		for k, hop := range p.public.hops {
			want[key(d.NATHopTable(k), netip.MustParsePrefix("0.0.0.0/0"), 0)] = kroute{typ: unix.RTN_UNICAST,
				dev: dev, hops: []netip.Addr{hop}}
		}
	}
	return want
}

// syncRoutes makes the kernel's routes in Ferrite's tables, and its routes with Ferrite's
// protocol anywhere, exactly want.
func (d *Dataplane) syncRoutes(want map[routeKey]kroute) error {
	have := map[routeKey]kroute{}
	var errs []error
	for _, fam := range families {
		rs, err := d.nl.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return fmt.Errorf("routes: list: %w", err)
		}
		for _, r := range rs {
			if r.Protocol != Protocol && !d.ownTable(r.Table) {
				continue
			}
			k, kr := fromKernel(fam, r)
			if _, dup := have[k]; dup || want[k].typ == 0 {
				if err := d.nl.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
					errs = append(errs, fmt.Errorf("delete stale route %s table %d: %w", k.dst, k.table, err))
				}
				continue
			}
			have[k] = kr
		}
	}
	for k, kr := range want {
		if old, ok := have[k]; ok && old.equal(kr) {
			continue
		}
		if err := d.nl.RouteReplace(toKernel(k, kr)); err != nil {
			errs = append(errs, fmt.Errorf("route %s table %d via %v: %w", k.dst, k.table, kr.hops, err))
		}
	}
	return errors.Join(errs...)
}

func fromKernel(fam int, r netlink.Route) (routeKey, kroute) {
	k := routeKey{table: r.Table, metric: r.Priority}
	if r.Dst != nil {
		a, _ := netip.AddrFromSlice(r.Dst.IP)
		ones, _ := r.Dst.Mask.Size()
		k.dst = netip.PrefixFrom(a.Unmap(), ones)
		if fam == unix.AF_INET6 {
			k.dst = netip.PrefixFrom(a, ones)
		}
	} else if fam == unix.AF_INET {
		k.dst = netip.MustParsePrefix("0.0.0.0/0")
	} else {
		k.dst = netip.MustParsePrefix("::/0")
	}
	kr := kroute{typ: r.Type, dev: r.LinkIndex, scope: r.Scope}
	if r.Type != unix.RTN_UNICAST {
		return k, kroute{typ: r.Type} // the kernel attaches these to lo or nothing
	}
	if hop, ok := gateway(r.Gw); ok {
		kr.hops = append(kr.hops, hop)
	}
	for _, nh := range r.MultiPath {
		kr.dev = nh.LinkIndex
		if hop, ok := gateway(nh.Gw); ok {
			kr.hops = append(kr.hops, hop)
		}
	}
	slices.SortFunc(kr.hops, netip.Addr.Compare)
	return k, kr
}

// gateway returns the remote hypervisor a kernel gateway stands for (see gateway6).
func gateway(gw net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(gw)
	if !ok {
		return a, false
	}
	if a.Is6() && !a.Is4In6() {
		b := a.As16()
		return netip.AddrFrom4([4]byte{b[10], b[13], b[14], b[15]}), true
	}
	return a.Unmap(), true
}

// gateway6 is the link-local address IPv6 routes use for a remote hypervisor (Linux has no
// IPv6 route via an IPv4 gateway): the EUI-64 address of its router MAC, which a permanent
// neighbour entry resolves to that MAC.
func gateway6(hop netip.Addr) netip.Addr {
	m := RouterMAC(hop)
	return netip.AddrFrom16([16]byte{0xfe, 0x80, 8: m[0] ^ 2, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]})
}

// toKernel builds the netlink route for a planned route.
func toKernel(k routeKey, kr kroute) *netlink.Route {
	r := &netlink.Route{Table: k.table, Dst: ipNet(k.dst), Priority: k.metric, Type: kr.typ,
		Protocol: Protocol, Scope: kr.scope}
	if kr.typ != unix.RTN_UNICAST {
		return r
	}
	v6 := k.dst.Addr().Is6()
	hop := func(a netip.Addr) net.IP {
		if v6 {
			return gateway6(a).AsSlice()
		}
		return a.AsSlice()
	}
	switch len(kr.hops) {
	case 0:
		r.LinkIndex = kr.dev
	case 1:
		r.LinkIndex, r.Flags = kr.dev, int(netlink.FLAG_ONLINK)
		r.Gw = hop(kr.hops[0])
	default:
		for _, a := range kr.hops {
			nh := &netlink.NexthopInfo{LinkIndex: kr.dev, Flags: int(netlink.FLAG_ONLINK)}
			nh.Gw = hop(a)
			r.MultiPath = append(r.MultiPath, nh)
		}
	}
	return r
}
