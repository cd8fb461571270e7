package kernel

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/vishvananda/netlink"

	"github.com/ferrite-dev/ferrite/net/dataplane"
)

// Apply makes the kernel match s. It lists devices, rules, routes, neighbours and forwarding
// entries and changes only what differs; everything Ferrite made that s does not want is
// removed: fvx devices of VNIs no longer used, iif rules (including one for a reused interface
// name that points at another VNI's table), routes in Ferrite's tables, neighbours. A failed
// item does not stop the others; the returned error names each one.
func (d *Dataplane) Apply(ctx context.Context, s dataplane.State) (dataplane.Result, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var res dataplane.Result
	p, errs := d.makePlan(s)
	fail := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	mtu, err := d.overlayMTU()
	fail(err)
	fail(d.moveLocalRule())
	if p.ipv6 {
		fail(sysctl("net/ipv6/conf/all/forwarding", "1"))
	}
	links, err := d.nl.LinkList()
	if err != nil {
		return res, fmt.Errorf("list devices: %w", err)
	}
	byName := map[string]netlink.Link{}
	for _, l := range links {
		byName[l.Attrs().Name] = l
	}

	// Devices and interfaces.
	devs := map[uint32]int{}
	vxlans := map[uint32]netlink.Link{}
	for vni := range p.vnis {
		l, err := d.ensureDevice(vni, mtu, byName[DeviceName(vni)])
		if err != nil {
			fail(err)
			continue
		}
		devs[vni], vxlans[vni] = l.Attrs().Index, l
	}
	ifindex := map[string]int{}
	for _, i := range p.interfaces {
		l, ok := byName[i.Name]
		if !ok {
			res.Missing = append(res.Missing, i.Name)
			continue
		}
		if err := d.ensureInterface(l, mtu); err != nil {
			fail(err)
			continue
		}
		ifindex[i.Name] = l.Attrs().Index
	}
	if err := ctx.Err(); err != nil {
		return res, errors.Join(append(errs, err)...)
	}

	// Isolation first, so that a new interface is never routed outside its VNI: rules for
	// every interface of the state (present or not, so a tap that appears later is isolated
	// at once) and every VNI device, then nftables.
	fail(d.syncRules(d.wantRules(p)))
	fail(d.syncNFT(p.vteps, p.interfaces, &p.public))

	fail(d.syncRoutes(d.wantRoutes(p, devs, ifindex)))
	for vni, l := range vxlans {
		fail(d.syncNeighbors(l, p.vnis[vni].hops))
	}

	// Devices of VNIs no longer wanted go last; their routes and neighbours go with them.
	for _, l := range links {
		vni, ok := vniOf(l.Attrs().Name)
		if _, wanted := p.vnis[vni]; !ok || wanted || l.Type() != "vxlan" {
			continue
		}
		if err := d.nl.LinkDel(l); err != nil {
			fail(fmt.Errorf("delete unused vni device %s: %w", l.Attrs().Name, err))
			continue
		}
		d.log.Info("vni device deleted", "device", l.Attrs().Name)
	}
	slices.Sort(res.Missing)
	return res, errors.Join(errs...)
}
