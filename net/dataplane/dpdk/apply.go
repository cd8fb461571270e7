package dpdk

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	pb "github.com/ferrite-dev/ferrite/net/dataplane/dpdk/fastpathpb"
)

// Apply makes the fast path hold exactly s plus the services last given to SetServices.
// VTEPs are not handed over: the fast path accepts overlay traffic on its own terms. Peerings
// become routes of the importing VNI with the peered VNI as next-hop VNI (see peeredRoutes).
func (d *Dataplane) Apply(ctx context.Context, s dataplane.State) (dataplane.Result, error) {
	d.mu.Lock()
	svc := d.services
	d.mu.Unlock()
	return d.ApplyServices(ctx, s, svc)
}

// ApplyServices makes the fast path hold exactly s and svc: it checks the fast path's identity
// (initializing it when needed), lists every table and creates, deletes and replaces the
// difference. Invalid or failed items are named in the error; the rest is still applied.
// Interfaces whose device the fast path does not have are in Result.Missing, and their virtual
// IP, NAT and firewall rules wait for them.
func (d *Dataplane) ApplyServices(ctx context.Context, s dataplane.State, svc Services) (dataplane.Result, error) {
	d.applying.Lock()
	defer d.applying.Unlock()
	identity, err := d.session(ctx)
	if err != nil {
		return dataplane.Result{}, err
	}
	want, errs := desired(s, svc)
	have, underlay, err := d.list(ctx)
	if err != nil {
		return dataplane.Result{}, err
	}
	res, failed := d.reconcile(ctx, want, have, underlay)
	errs = append(errs, failed...)
	// A restart in the middle would leave the fast path with part of the state under a new
	// identity; the next Apply sees the new identity and replays.
	if st, err := call(ctx, d, d.client.CheckInitialized, &pb.CheckInitializedRequest{}); err != nil {
		errs = append(errs, fmt.Errorf("fast path %s: check initialized: %w", d.address, err))
	} else if st.GetIdentity() != identity {
		errs = append(errs, fmt.Errorf("fast path %s restarted during apply (identity %s, now %q)", d.address, identity, st.GetIdentity()))
	}
	return res, errors.Join(errs...)
}

// desired converts the wanted state to wire form, leaving out (and naming) invalid items.
func desired(s dataplane.State, svc Services) (tables, []error) {
	var t tables
	var errs []error
	names := map[string]bool{}
	// once reports whether key is new among the objects of one kind, naming a repeated one.
	seen := map[string]bool{}
	once := func(kind, key string) bool {
		if seen[kind+" "+key] {
			errs = append(errs, fmt.Errorf("%s %s given twice", kind, key))
			return false
		}
		seen[kind+" "+key] = true
		return true
	}
	for _, i := range s.Interfaces {
		switch err := i.Validate(); {
		case err != nil:
			errs = append(errs, err)
		case names[i.Name]:
			errs = append(errs, fmt.Errorf("interface %s given twice", i.Name))
		default:
			names[i.Name] = true
			t.interfaces = append(t.interfaces, InterfaceToProto(i))
		}
	}
	for _, r := range s.Routes {
		if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("route %s: %w", r, err))
			continue
		}
		t.routes = append(t.routes, RouteToProto(r))
	}
	peered, perrs := peeredRoutes(s)
	t.routes, errs = append(t.routes, peered...), append(errs, perrs...)
	// ofInterface checks an item that belongs to a local interface.
	ofInterface := func(what, iface string, err error) bool {
		if err == nil && !names[iface] {
			err = fmt.Errorf("%s: interface %s is not in the state", what, iface)
		}
		if err != nil {
			errs = append(errs, err)
		}
		return err == nil
	}
	for _, v := range svc.VirtualIPs {
		if ofInterface("virtual ip "+v.IP.String(), v.Interface, v.Validate()) && once("virtual ip of", v.Interface) {
			t.virtualIPs = append(t.virtualIPs, VirtualIPToProto(v))
		}
	}
	for _, n := range svc.NATs {
		if ofInterface("nat "+n.IP.String(), n.Interface, n.Validate()) && once("nat of", n.Interface) {
			t.nats = append(t.nats, NATToProto(n))
		}
	}
	for _, r := range svc.FirewallRules {
		if ofInterface("firewall rule "+r.ID, r.Interface, r.Validate()) && once("firewall rule", r.Interface+"/"+r.ID) {
			t.rules = append(t.rules, FirewallRuleToProto(r))
		}
	}
	for _, n := range svc.NeighborNATs {
		if err := n.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if !once("neighbor nat", fmt.Sprintf("vni %d %s %d-%d", n.VNI, n.IP, n.Ports.Min, n.Ports.Max)) {
			continue
		}
		t.neighborNATs = append(t.neighborNATs, NeighborNATToProto(n))
	}
	for _, l := range svc.LoadBalancers {
		if err := l.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if !once("load balancer", l.ID) {
			continue
		}
		lb, targets := LoadBalancerToProto(l)
		t.balancers = append(t.balancers, lb)
		t.targets = append(t.targets, targets...)
	}
	t.normalize()
	return t, errs
}

// list reads every table of the fast path, and the interfaces' underlay routes.
func (d *Dataplane) list(ctx context.Context) (tables, map[string]netip.Addr, error) {
	var t tables
	fail := func(what string, err error) (tables, map[string]netip.Addr, error) {
		return tables{}, nil, fmt.Errorf("fast path %s: list %s: %w", d.address, what, err)
	}
	is, err := call(ctx, d, d.client.ListInterfaces, &pb.ListInterfacesRequest{})
	if err != nil {
		return fail("interfaces", err)
	}
	rs, err := call(ctx, d, d.client.ListRoutes, &pb.ListRoutesRequest{})
	if err != nil {
		return fail("routes", err)
	}
	vs, err := call(ctx, d, d.client.ListVirtualIPs, &pb.ListVirtualIPsRequest{})
	if err != nil {
		return fail("virtual ips", err)
	}
	ns, err := call(ctx, d, d.client.ListNATs, &pb.ListNATsRequest{})
	if err != nil {
		return fail("nats", err)
	}
	nns, err := call(ctx, d, d.client.ListNeighborNATs, &pb.ListNeighborNATsRequest{})
	if err != nil {
		return fail("neighbor nats", err)
	}
	ls, err := call(ctx, d, d.client.ListLoadBalancers, &pb.ListLoadBalancersRequest{})
	if err != nil {
		return fail("load balancers", err)
	}
	ts, err := call(ctx, d, d.client.ListLoadBalancerTargets, &pb.ListLoadBalancerTargetsRequest{})
	if err != nil {
		return fail("load balancer targets", err)
	}
	fs, err := call(ctx, d, d.client.ListFirewallRules, &pb.ListFirewallRulesRequest{})
	if err != nil {
		return fail("firewall rules", err)
	}
	t = tables{interfaces: is.GetInterfaces(), routes: rs.GetRoutes(), virtualIPs: vs.GetVirtualIps(), nats: ns.GetNats(),
		neighborNATs: nns.GetNeighborNats(), balancers: ls.GetLoadBalancers(), targets: ts.GetTargets(), rules: fs.GetRules()}
	underlay := map[string]netip.Addr{}
	for _, i := range t.interfaces {
		if a, err := AddrFromProto(i.GetUnderlayRoute()); err == nil {
			underlay[i.GetId()] = a
		}
	}
	t.normalize()
	return t, underlay, nil
}

// ids collects the keys of objects about to be deleted.
func ids[M any](objs []M, key func(M) string) map[string]bool {
	out := make(map[string]bool, len(objs))
	for _, o := range objs {
		out[key(o)] = true
	}
	return out
}

// sorted returns the names in order, for stable results.
func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
