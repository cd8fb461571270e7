package kernel

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// plan is the kernel-shaped form of a dataplane.State: per VNI, which prefixes are local
// (on which interface) and which are remote (over which next hops).
type plan struct {
	vnis       map[uint32]*vniPlan
	interfaces []dataplane.Interface
	vteps      []netip.Addr
	ipv6       bool
	public     publicPlan
}

type vniPlan struct {
	local    map[netip.Prefix]string       // prefix → local interface
	remote   map[netip.Prefix][]netip.Addr // prefix → next hops, sorted
	hops     map[netip.Addr]bool           // remote hypervisors the VNI talks to
	imported map[netip.Prefix]imported     // prefixes of peered VNIs reachable from this one
}

// imported is a prefix of a peered VNI as its own table routes it: to a local interface, or
// over next hops through the peered VNI's VXLAN device, so the packet leaves in that VNI.
type imported struct {
	vni   uint32
	iface string       // local interface in vni, or ""
	hops  []netip.Addr // next hops (sorted) when remote
}

func (p *plan) vni(v uint32) *vniPlan {
	if p.vnis[v] == nil {
		p.vnis[v] = &vniPlan{local: map[netip.Prefix]string{}, remote: map[netip.Prefix][]netip.Addr{},
			hops: map[netip.Addr]bool{}}
	}
	return p.vnis[v]
}

// makePlan validates the state item by item: a bad item is left out and named in the
// returned errors, the rest is planned. NAT routes of the public VNI become steering (see
// publicPlan); other NAT routes are left out (logged once each).
func (d *Dataplane) makePlan(s dataplane.State) (*plan, []error) {
	p := &plan{vnis: map[uint32]*vniPlan{}, public: publicPlan{vni: s.PublicVNI}}
	var errs []error
	seen := map[string]uint32{}
	for _, i := range s.Interfaces {
		if err := i.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if v, ok := seen[i.Name]; ok {
			errs = append(errs, fmt.Errorf("interface %s: listed twice (vni %d and %d)", i.Name, v, i.VNI))
			continue
		}
		seen[i.Name] = i.VNI
		p.interfaces = append(p.interfaces, i)
		vp := p.vni(i.VNI)
		for _, a := range i.Addresses {
			vp.local[a] = i.Name
			p.ipv6 = p.ipv6 || a.Addr().Is6()
		}
	}
	nat := map[route.Route]struct{}{}
	for _, r := range s.Routes {
		if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("route %s: %w", r, err))
			continue
		}
		if !r.NextHop.Is4() {
			errs = append(errs, fmt.Errorf("route %s: the kernel dataplane has an IPv4 underlay only", r))
			continue
		}
		if r.Kind == route.KindNAT && s.PublicVNI != 0 && r.VNI == s.PublicVNI {
			if r.NextHop != d.cfg.Underlay {
				if err := p.public.addSteering(r); err != nil {
					errs = append(errs, err)
				} else {
					p.vni(r.VNI).hops[r.NextHop] = true
				}
			}
			continue
		}
		if r.Kind == route.KindNAT {
			nat[r] = struct{}{}
			if _, ok := d.natSeen[r]; !ok {
				d.log.Info("nat route not programmed: outside the public VNI", "route", r.String())
			}
			continue
		}
		if r.NextHop == d.cfg.Underlay {
			continue // this host's own route, reflected back
		}
		vp := p.vni(r.VNI)
		if _, ok := vp.local[r.Prefix]; ok || r.Prefix == Gateway {
			continue // local addresses and the gateway win over remote routes
		}
		if !slices.Contains(vp.remote[r.Prefix], r.NextHop) {
			vp.remote[r.Prefix] = append(vp.remote[r.Prefix], r.NextHop)
			slices.SortFunc(vp.remote[r.Prefix], netip.Addr.Compare)
		}
		vp.hops[r.NextHop] = true
		p.ipv6 = p.ipv6 || r.Prefix.Addr().Is6()
	}
	d.natSeen, d.skippedNAT = nat, len(nat)
	errs = append(errs, p.planPublic()...)
	errs = append(errs, p.importPeerings(s.Peerings)...)
	for _, a := range s.VTEPs {
		if a.Is4() && !slices.Contains(p.vteps, a) {
			p.vteps = append(p.vteps, a)
		} else if !a.Is4() {
			errs = append(errs, fmt.Errorf("vtep %s: the underlay is IPv4", a))
		}
	}
	return p, errs
}

// importPeerings plans, for each VNI of the plan, the local and remote prefixes of the VNIs it
// peers with (not what those import in turn: a peering is not transitive). The VNI's own
// prefixes and the gateway win; between peered VNIs, the lowest VNI wins, and within one its
// local addresses before its remote prefixes. A VNI that is not in the plan has nothing here to
// import into or from.
func (p *plan) importPeerings(peerings map[uint32][]uint32) []error {
	var errs []error
	for _, vni := range slices.Sorted(maps.Keys(peerings)) {
		vp := p.vnis[vni]
		peers := slices.Sorted(slices.Values(peerings[vni]))
		for _, peer := range slices.Compact(peers) {
			if vni == 0 || vni > route.MaxVNI || peer == 0 || peer > route.MaxVNI || peer == vni {
				errs = append(errs, fmt.Errorf("peering of vni %d with vni %d: invalid", vni, peer))
				continue
			}
			pp := p.vnis[peer]
			if vp == nil || pp == nil {
				continue
			}
			if vp.imported == nil {
				vp.imported = map[netip.Prefix]imported{}
			}
			take := func(prefix netip.Prefix, im imported) {
				_, local := vp.local[prefix]
				_, remote := vp.remote[prefix]
				_, taken := vp.imported[prefix]
				if !local && !remote && !taken && prefix != Gateway {
					vp.imported[prefix] = im
				}
			}
			for prefix, name := range pp.local {
				take(prefix, imported{vni: peer, iface: name})
			}
			for prefix, hops := range pp.remote {
				take(prefix, imported{vni: peer, hops: hops})
			}
		}
	}
	return errs
}
