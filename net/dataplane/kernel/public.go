package kernel

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// publicPlan is what the public services of a state need: which interfaces are translated to
// which public addresses, which devices are in the public VNI, and where replies to other
// hosts' NAT port ranges are steered.
type publicPlan struct {
	vni uint32 // the public VNI; 0 when none
	// taps are the tenant interfaces with public services, sorted by name.
	taps []publicTap
	// devices are the local interfaces in the public VNI (its fvx device is added by the
	// nftables writer).
	devices []string
	// sources are this host's public addresses (VIPs, NAT and load-balancer addresses), the
	// only sources a tenant's packet may have in the public VNI. Sorted, unique.
	sources []netip.Addr
	// hops are the next hops of other hosts' NAT routes, sorted: hop k gets mark
	// NATHopMark(k) and table NATHopTable(k).
	hops  []netip.Addr
	steer []natSteer
	lbs   []lbPlan
}

// publicTap is an interface with public services.
type publicTap struct {
	name string
	vni  uint32
	addr netip.Addr     // its IPv4 address, the one translated
	vip  netip.Addr     // zero when none
	nat  *dataplane.NAT // nil when none or when it has a VIP
}

// natSteer is another host's NAT port range.
type natSteer struct {
	ip       netip.Addr
	min, max uint16
	hop      netip.Addr
}

// lbPlan is a load-balanced address with its local targets.
type lbPlan struct {
	ip      netip.Addr
	vni     uint32
	ports   []dataplane.PortRange // as the first target's interface lists them
	match   match                 // ports compiled (empty: every protocol and port)
	targets []netip.Addr          // sorted
}

// active reports whether the host needs any public chain, mark or rule.
func (pp *publicPlan) active() bool {
	return pp.vni != 0 && (len(pp.taps) > 0 || len(pp.devices) > 0 || len(pp.steer) > 0)
}

// hopIndex returns k of a NAT next hop.
func (pp *publicPlan) hopIndex(hop netip.Addr) int {
	k, _ := slices.BinarySearchFunc(pp.hops, hop, netip.Addr.Compare)
	return k
}

// addSteering plans another host's NAT route of the public VNI.
func (pp *publicPlan) addSteering(r route.Route) error {
	if !r.Prefix.Addr().Is4() || r.Prefix.Bits() != 32 {
		return fmt.Errorf("route %s: a NAT route needs an IPv4 /32 prefix here", r)
	}
	if r.PortMin > r.PortMax {
		return fmt.Errorf("route %s: NAT ports %d-%d: empty range", r, r.PortMin, r.PortMax)
	}
	if !slices.Contains(pp.hops, r.NextHop) {
		if len(pp.hops) >= MaxNATHops {
			return fmt.Errorf("route %s: more than %d NAT next hops", r, MaxNATHops)
		}
		pp.hops = append(pp.hops, r.NextHop)
		slices.SortFunc(pp.hops, netip.Addr.Compare)
	}
	pp.steer = append(pp.steer, natSteer{ip: r.Prefix.Addr(), min: r.PortMin, max: r.PortMax, hop: r.NextHop})
	return nil
}

// planPublic plans the public services of the planned interfaces. An interface whose public
// services cannot be installed keeps its place in its own VNI; each problem is named.
func (p *plan) planPublic() []error {
	pp := &p.public
	var errs []error
	lbs := map[netip.Addr]*lbPlan{}
	byName := slices.Clone(p.interfaces)
	slices.SortFunc(byName, func(a, b dataplane.Interface) int { return strings.Compare(a.Name, b.Name) })
	for _, i := range byName {
		if pp.vni != 0 && i.VNI == pp.vni {
			pp.devices = append(pp.devices, i.Name)
		}
		if !i.Public() {
			continue
		}
		switch {
		case pp.vni == 0:
			errs = append(errs, fmt.Errorf("interface %s: public services need a public VNI (none is set)", i.Name))
			continue
		case i.VNI == pp.vni:
			errs = append(errs, fmt.Errorf("interface %s: in the public VNI %d itself: public services are for tenant interfaces", i.Name, pp.vni))
			continue
		}
		tap := publicTap{name: i.Name, vni: i.VNI}
		for _, a := range i.Addresses {
			if a.Addr().Is4() && a.Bits() == 32 {
				tap.addr = a.Addr()
				break
			}
		}
		if !tap.addr.IsValid() {
			errs = append(errs, fmt.Errorf("interface %s: public services need an IPv4 /32 address on it", i.Name))
			continue
		}
		ipv6 := func(what string, a netip.Addr) bool {
			if a.Is6() {
				errs = append(errs, fmt.Errorf("interface %s: %s %s: IPv6 public services are not supported by the kernel dataplane", i.Name, what, a))
			}
			return a.Is6()
		}
		used := false
		if i.VirtualIP.IsValid() && !ipv6("virtual IP", i.VirtualIP) {
			tap.vip, used = i.VirtualIP, true
			pp.sources = append(pp.sources, tap.vip)
		}
		if n := i.NAT; n != nil && !tap.vip.IsValid() && !ipv6("nat address", n.IP) {
			tap.nat, used = n, true
			pp.sources = append(pp.sources, n.IP)
		}
		for _, lb := range i.LoadBalancers {
			if ipv6("load balancer", lb.IP) {
				continue
			}
			m, err := compileRule(dataplane.Rule{Ports: lb.Ports})
			if err != nil {
				errs = append(errs, fmt.Errorf("interface %s: load balancer %s: %w", i.Name, lb.IP, err))
				continue
			}
			have := lbs[lb.IP]
			switch {
			case have == nil:
				have = &lbPlan{ip: lb.IP, vni: i.VNI, ports: lb.Ports, match: m}
				lbs[lb.IP] = have
				pp.sources = append(pp.sources, lb.IP)
			case have.vni != i.VNI:
				errs = append(errs, fmt.Errorf("interface %s: load balancer %s: its targets here are in vni %d, not %d", i.Name, lb.IP, have.vni, i.VNI))
				continue
			case !slices.Equal(have.ports, lb.Ports):
				errs = append(errs, fmt.Errorf("interface %s: load balancer %s: ports %v differ from another target's %v", i.Name, lb.IP, lb.Ports, have.ports))
				continue
			}
			have.targets = append(have.targets, tap.addr)
			used = true
		}
		if used {
			pp.taps = append(pp.taps, tap)
		}
	}
	for _, lb := range lbs {
		slices.SortFunc(lb.targets, netip.Addr.Compare)
		lb.targets = slices.Compact(lb.targets)
		pp.lbs = append(pp.lbs, *lb)
	}
	slices.SortFunc(pp.lbs, func(a, b lbPlan) int { return a.ip.Compare(b.ip) })
	slices.SortFunc(pp.sources, netip.Addr.Compare)
	pp.sources = slices.Compact(pp.sources)
	if pp.active() {
		p.vni(pp.vni) // its fvx device receives the public traffic
	}
	return errs
}
