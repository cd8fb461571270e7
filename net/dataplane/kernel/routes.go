package kernel

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ferrite-dev/ferrite/net/route"
)

// AddRoute adds a next hop for a prefix of a VNI; with several next hops the route becomes a
// multipath (ECMP) route. NAT and load-balancer next hops are routed like standard ones: port
// ranges need the fast path (the dpdk dataplane) to be honoured.
func (d *Dataplane) AddRoute(_ context.Context, r route.Route) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if !r.Prefix.Addr().Is4() || !r.NextHop.Is4() {
		return fmt.Errorf("route %s: the kernel dataplane carries IPv4 prefixes over an IPv4 underlay only", r)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	key := prefixKey{r.VNI, r.Prefix}
	hops := d.nexthops[key]
	if hops == nil {
		hops = map[netip.Addr]route.Route{}
		d.nexthops[key] = hops
	}
	if _, ok := hops[r.NextHop]; ok {
		hops[r.NextHop] = r
		return nil
	}
	link, err := d.ensureVNI(r.VNI)
	if err != nil {
		return err
	}
	if err := d.addNeighbor(link, r.VNI, r.NextHop); err != nil {
		return err
	}
	hops[r.NextHop] = r
	return d.program(key, link)
}

// DeleteRoute removes one next hop of a prefix, and the route with its last next hop.
func (d *Dataplane) DeleteRoute(_ context.Context, r route.Route) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := prefixKey{r.VNI, r.Prefix}
	hops := d.nexthops[key]
	if _, ok := hops[r.NextHop]; !ok {
		return nil
	}
	delete(hops, r.NextHop)
	link, err := d.nl.LinkByName(DeviceName(r.VNI))
	if err != nil {
		return fmt.Errorf("vni %d device: %w", r.VNI, err)
	}
	if err := d.program(key, link); err != nil {
		return err
	}
	if len(hops) == 0 {
		delete(d.nexthops, key)
	}
	return d.releaseNeighbor(link, r.VNI, r.NextHop)
}

// program writes the kernel route of key from the next hops the dataplane holds for it.
func (d *Dataplane) program(key prefixKey, link netlink.Link) error {
	hops := slices.SortedFunc(maps.Keys(d.nexthops[key]), netip.Addr.Compare)
	kr := &netlink.Route{Table: d.Table(key.vni), Dst: ipNet(key.prefix)}
	switch len(hops) {
	case 0:
		if err := d.nl.RouteDel(kr); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("delete route %s in vni %d: %w", key.prefix, key.vni, err)
		}
		return nil
	case 1:
		kr.LinkIndex, kr.Gw, kr.Flags = link.Attrs().Index, hops[0].AsSlice(), int(netlink.FLAG_ONLINK)
	default:
		for _, h := range hops {
			kr.MultiPath = append(kr.MultiPath, &netlink.NexthopInfo{
				LinkIndex: link.Attrs().Index, Gw: h.AsSlice(), Flags: int(netlink.FLAG_ONLINK),
			})
		}
	}
	if err := d.nl.RouteReplace(kr); err != nil {
		return fmt.Errorf("route %s in vni %d via %v: %w", key.prefix, key.vni, hops, err)
	}
	return nil
}

// addNeighbor maps a remote hypervisor to its router MAC on the VNI's device (neighbor entry)
// and that MAC to the hypervisor's underlay address (forwarding entry).
func (d *Dataplane) addNeighbor(link netlink.Link, vni uint32, hop netip.Addr) error {
	k := neighborKey{vni, hop}
	d.neighbors[k]++
	if d.neighbors[k] > 1 {
		return nil
	}
	for _, n := range neighborEntries(link, hop) {
		if err := d.nl.NeighSet(n); err != nil {
			d.neighbors[k]--
			return fmt.Errorf("neighbor %s on %s: %w", hop, link.Attrs().Name, err)
		}
	}
	return nil
}

func (d *Dataplane) releaseNeighbor(link netlink.Link, vni uint32, hop netip.Addr) error {
	k := neighborKey{vni, hop}
	d.neighbors[k]--
	if d.neighbors[k] > 0 {
		return nil
	}
	delete(d.neighbors, k)
	for _, n := range neighborEntries(link, hop) {
		if err := d.nl.NeighDel(n); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("delete neighbor %s: %w", hop, err)
		}
	}
	return nil
}

func neighborEntries(link netlink.Link, hop netip.Addr) []*netlink.Neigh {
	mac := RouterMAC(hop)
	ip := net.IP(hop.AsSlice())
	return []*netlink.Neigh{
		{LinkIndex: link.Attrs().Index, Family: unix.AF_INET, State: netlink.NUD_PERMANENT, IP: ip, HardwareAddr: mac},
		{LinkIndex: link.Attrs().Index, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF, State: netlink.NUD_PERMANENT,
			IP: ip, HardwareAddr: mac},
	}
}
