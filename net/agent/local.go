package agent

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// Local is the part of the desired state that this hypervisor owns.
type Local struct {
	// Interfaces are the local network interfaces. Each is installed in the dataplane; once
	// the dataplane reports its device present, a standard route for each of its addresses is
	// announced with this hypervisor as next hop, and its VNI is subscribed. Its public
	// services are announced in the public VNI at the same time (see Agent.interfaceRoutes).
	Interfaces []dataplane.Interface
	// Routes are further routes this hypervisor originates: NAT port ranges, load-balancer
	// targets, virtual addresses.
	Routes []route.Route
	// Subscriptions are VNIs to learn routes of without a local interface in them (a NAT
	// gateway's public VNI, a peered network).
	Subscriptions []uint32
	// Peerings lists, per VNI, the VNIs whose addresses its interfaces may reach (network
	// peerings; one direction each, so a peering agreed by both networks appears under both
	// VNIs). The agent subscribes to every peered VNI, to learn its routes, and hands the map
	// to the dataplane.
	Peerings map[uint32][]uint32
}

// Validate reports why a local state cannot be taken by an agent whose public VNI is
// publicVNI (Config.PublicVNI): public services need one.
func (l Local) Validate(publicVNI uint32) error {
	names := map[string]bool{}
	for _, iface := range l.Interfaces {
		if err := iface.Validate(); err != nil {
			return err
		}
		if iface.Public() && publicVNI == 0 {
			return fmt.Errorf("interface %s has public services (virtual IP, NAT or load balancer) but the agent has no public VNI", iface.Name)
		}
		if names[iface.Name] {
			return fmt.Errorf("interface %s given twice", iface.Name)
		}
		names[iface.Name] = true
	}
	for _, r := range l.Routes {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("route %s: %w", r, err)
		}
	}
	for _, vni := range l.Subscriptions {
		if vni == 0 || vni > route.MaxVNI {
			return fmt.Errorf("subscription: vni %d out of range", vni)
		}
	}
	for vni, peers := range l.Peerings {
		if vni == 0 || vni > route.MaxVNI {
			return fmt.Errorf("peering: vni %d out of range", vni)
		}
		for _, peer := range peers {
			if peer == 0 || peer > route.MaxVNI {
				return fmt.Errorf("peering of vni %d: vni %d out of range", vni, peer)
			}
			if peer == vni {
				return fmt.Errorf("peering: vni %d peers with itself", vni)
			}
		}
	}
	return nil
}

// SetLocal replaces the local part of the desired state. It only records it and wakes the
// reconcile loop, which brings BGP and the dataplane in line (and keeps retrying what fails);
// it returns an error only when l is invalid, and then changes nothing. The first call opens the
// sessions to the reflectors.
func (a *Agent) SetLocal(_ context.Context, l Local) error {
	if err := l.Validate(a.cfg.PublicVNI); err != nil {
		return err
	}
	l = Local{
		Interfaces:    slices.Clone(l.Interfaces),
		Routes:        slices.Clone(l.Routes),
		Subscriptions: slices.Clone(l.Subscriptions),
		Peerings:      clonePeerings(l.Peerings),
	}
	for i := range l.Interfaces {
		l.Interfaces[i].Addresses = slices.Clone(l.Interfaces[i].Addresses)
		l.Interfaces[i].LoadBalancers = slices.Clone(l.Interfaces[i].LoadBalancers)
		if n := l.Interfaces[i].NAT; n != nil {
			nat := *n
			l.Interfaces[i].NAT = &nat
		}
	}
	a.mu.Lock()
	if a.set && reflect.DeepEqual(a.local, l) {
		// Callers hand over their whole state on every pass (the API follower does every
		// second); an unchanged one must not cost a reconcile pass and a dataplane Apply.
		a.mu.Unlock()
		return nil
	}
	a.local = l
	a.set = true
	a.localGen++
	a.mu.Unlock()
	a.wake()
	return nil
}

// clonePeerings copies a peering map deeply, so the caller may change its own afterwards.
func clonePeerings(p map[uint32][]uint32) map[uint32][]uint32 {
	if p == nil {
		return nil
	}
	out := make(map[uint32][]uint32, len(p))
	for vni, peers := range p {
		out[vni] = slices.Clone(peers)
	}
	return out
}

// interfaceRoutes are the routes announced for a local interface: a standard route per
// address in its VNI and, in the public VNI, its VirtualIP (standard: packets to it are DNATed
// here), else its NAT share (kind NAT with its ports: replies are steered here by port), and
// each load-balancer address (kind LoadBalancer: senders spread flows over every host with
// targets). Two interfaces that are targets of one load balancer give the same route, which
// the caller's set holds once; it is withdrawn only when no announcing interface gives it.
func (a *Agent) interfaceRoutes(iface dataplane.Interface) []route.Route {
	out := make([]route.Route, 0, len(iface.Addresses)+2+len(iface.LoadBalancers))
	for _, p := range iface.Addresses {
		out = append(out, route.Route{VNI: iface.VNI, Prefix: p.Masked(), NextHop: a.cfg.NextHop})
	}
	vni := a.cfg.PublicVNI
	if vni == 0 {
		return out // SetLocal refuses public services without a public VNI
	}
	host := func(ip netip.Addr) netip.Prefix { return netip.PrefixFrom(ip, ip.BitLen()) }
	switch {
	case iface.VirtualIP.IsValid():
		out = append(out, route.Route{VNI: vni, Prefix: host(iface.VirtualIP), NextHop: a.cfg.NextHop})
	case iface.NAT != nil:
		out = append(out, route.Route{VNI: vni, Prefix: host(iface.NAT.IP), NextHop: a.cfg.NextHop,
			Kind: route.KindNAT, PortMin: iface.NAT.PortMin, PortMax: iface.NAT.PortMax})
	}
	for _, lb := range iface.LoadBalancers {
		out = append(out, route.Route{VNI: vni, Prefix: host(lb.IP), NextHop: a.cfg.NextHop, Kind: route.KindLoadBalancer})
	}
	return out
}

// announceable says whether the routes of a local interface may be announced: once an Apply
// has reported on it, when its device is present. Before the first Apply (which waits for the
// reflectors' End-of-RIB) every interface is announced as it was before a restart: were its
// routes missing from the agent's first update, the reflectors would drop the copies they kept
// for the restart and every other agent would remove them for a moment.
func (a *Agent) announceable(name string) bool {
	present, known := a.dp.present[name]
	return present || (!known && !a.dp.applied)
}

// InterfaceState reports whether the dataplane found the device of a local interface (at the
// last Apply) and whether all of the interface's routes are announced: its addresses and its
// public services.
func (a *Agent) InterfaceState(name string) (present, announced bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	i := slices.IndexFunc(a.local.Interfaces, func(x dataplane.Interface) bool { return x.Name == name })
	if i < 0 {
		return false, false
	}
	announced = true
	for _, r := range a.interfaceRoutes(a.local.Interfaces[i]) {
		announced = announced && a.bgpIn[r]
	}
	return a.dp.present[name], announced
}

// Interfaces lists the local interfaces by name.
func (a *Agent) Interfaces() []dataplane.Interface {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.SortedFunc(slices.Values(a.local.Interfaces), func(x, y dataplane.Interface) int {
		return strings.Compare(x.Name, y.Name)
	})
}

// Announced lists the routes this agent has in BGP.
func (a *Agent) Announced() []route.Route {
	a.mu.Lock()
	defer a.mu.Unlock()
	return sortedRoutes(maps.Keys(a.bgpIn))
}

// Subscriptions lists the VNIs the agent has memberships for in BGP.
func (a *Agent) Subscriptions() []uint32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Sorted(maps.Keys(a.rtIn))
}
