package kernel

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// syncNeighbors makes the VXLAN device's permanent neighbour entries (remote hypervisor →
// router MAC, for IPv4 and for its IPv6 gateway address) and forwarding entries (router MAC →
// underlay address) exactly hops.
func (d *Dataplane) syncNeighbors(link netlink.Link, hops map[netip.Addr]bool) error {
	name, idx := link.Attrs().Name, link.Attrs().Index
	var errs []error
	have := map[netip.Addr]bool{} // neighbour addresses (hops and their gateway6) that are right
	want := map[netip.Addr]netip.Addr{}
	for hop := range hops {
		want[hop], want[gateway6(hop)] = hop, hop
	}
	for _, fam := range families {
		neighs, err := d.nl.NeighList(idx, fam)
		if err != nil {
			return fmt.Errorf("%s: list neighbours: %w", name, err)
		}
		for _, n := range neighs {
			a, _ := netip.AddrFromSlice(n.IP)
			a = a.Unmap()
			hop, ok := want[a]
			if ok && n.State == netlink.NUD_PERMANENT && bytes.Equal(n.HardwareAddr, RouterMAC(hop)) {
				have[a] = true
				continue
			}
			if !ok && n.State&netlink.NUD_PERMANENT != 0 {
				if err := d.nl.NeighDel(&n); err != nil && !errors.Is(err, unix.ENOENT) {
					errs = append(errs, fmt.Errorf("%s: delete neighbour %s: %w", name, a, err))
				}
			}
		}
	}
	fdb := map[netip.Addr]bool{}
	entries, err := d.nl.NeighList(idx, unix.AF_BRIDGE)
	if err != nil {
		return fmt.Errorf("%s: list forwarding entries: %w", name, err)
	}
	for _, n := range entries {
		if n.LinkIndex != idx {
			continue
		}
		a, _ := netip.AddrFromSlice(n.IP)
		a = a.Unmap()
		if hops[a] && bytes.Equal(n.HardwareAddr, RouterMAC(a)) && !fdb[a] {
			fdb[a] = true
			continue
		}
		if err := d.nl.NeighDel(&n); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("%s: delete forwarding entry %s %s: %w", name, n.HardwareAddr, a, err))
		}
	}
	for a, hop := range want {
		if have[a] {
			continue
		}
		fam := unix.AF_INET
		if a.Is6() {
			fam = unix.AF_INET6
		}
		n := &netlink.Neigh{LinkIndex: idx, Family: fam, State: netlink.NUD_PERMANENT, IP: a.AsSlice(),
			HardwareAddr: RouterMAC(hop)}
		if err := d.nl.NeighSet(n); err != nil {
			errs = append(errs, fmt.Errorf("%s: neighbour %s: %w", name, a, err))
		}
	}
	for hop := range hops {
		mac, ip := RouterMAC(hop), net.IP(hop.AsSlice())
		if !fdb[hop] {
			n := &netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF,
				State: netlink.NUD_PERMANENT, IP: ip, HardwareAddr: mac}
			if err := d.nl.NeighSet(n); err != nil {
				errs = append(errs, fmt.Errorf("%s: forwarding entry %s: %w", name, hop, err))
			}
		}
	}
	return errors.Join(errs...)
}
