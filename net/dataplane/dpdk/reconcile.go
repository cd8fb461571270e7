package dpdk

import (
	"context"
	"fmt"
	"net/netip"

	"google.golang.org/grpc"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	pb "github.com/ferrite-dev/ferrite/net/dataplane/dpdk/fastpathpb"
)

// reconcile deletes what the fast path holds that is not wanted, dependents before their
// owners, then creates what is missing, owners before dependents. Called with d.applying held.
func (d *Dataplane) reconcile(ctx context.Context, want, have tables, underlay map[string]netip.Addr) (dataplane.Result, []error) {
	var errs []error
	c := d.client

	ifDel, ifAdd := plan(want.interfaces, have.interfaces, interfaceKey)
	// Deleting (or replacing) an interface deletes its virtual IP, NAT and rules with it.
	gone := ids(ifDel, interfaceKey)
	have.virtualIPs = without(have.virtualIPs, virtualIPKey, gone)
	have.nats = without(have.nats, natKey, gone)
	have.rules = without(have.rules, (*pb.FirewallRule).GetInterfaceId, gone)
	lbDel, lbAdd := plan(want.balancers, have.balancers, balancerKey)
	have.targets = without(have.targets, targetOwner, ids(lbDel, balancerKey))
	rDel, rAdd := plan(want.routes, have.routes, routeKey)
	vDel, vAdd := plan(want.virtualIPs, have.virtualIPs, virtualIPKey)
	nDel, nAdd := plan(want.nats, have.nats, natKey)
	nnDel, nnAdd := plan(want.neighborNATs, have.neighborNATs, neighborNATKey)
	tDel, tAdd := plan(want.targets, have.targets, targetKey)
	fDel, fAdd := plan(want.rules, have.rules, ruleKey)

	del := func(what string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("fast path %s: delete %s: %w", d.address, what, err))
		}
	}
	for _, r := range fDel {
		del("firewall rule "+ruleKey(r), do(ctx, d, c.DeleteFirewallRule, &pb.DeleteFirewallRuleRequest{InterfaceId: r.InterfaceId, Id: r.Id}))
	}
	for _, t := range tDel {
		del("load balancer target "+describeTarget(t), do(ctx, d, c.DeleteLoadBalancerTarget, &pb.DeleteLoadBalancerTargetRequest{Target: t}))
	}
	for _, l := range lbDel {
		del("load balancer "+l.Id, do(ctx, d, c.DeleteLoadBalancer, &pb.DeleteLoadBalancerRequest{Id: l.Id}))
	}
	for _, n := range nnDel {
		del("neighbor nat "+describeNeighborNAT(n), do(ctx, d, c.DeleteNeighborNAT, &pb.DeleteNeighborNATRequest{NeighborNat: n}))
	}
	for _, n := range nDel {
		del("nat of "+n.InterfaceId, do(ctx, d, c.DeleteNAT, &pb.DeleteNATRequest{InterfaceId: n.InterfaceId}))
	}
	for _, v := range vDel {
		del("virtual ip of "+v.InterfaceId, do(ctx, d, c.DeleteVirtualIP, &pb.DeleteVirtualIPRequest{InterfaceId: v.InterfaceId}))
	}
	for _, r := range rDel {
		del("route "+describeRoute(r), do(ctx, d, c.DeleteRoute, &pb.DeleteRouteRequest{Route: r}))
	}
	for _, i := range ifDel {
		del("interface "+i.Id, do(ctx, d, c.DeleteInterface, &pb.DeleteInterfaceRequest{Id: i.Id}))
	}

	// Interfaces that are not there (missing device, failed create) hold back their dependents.
	missing, blocked := map[string]bool{}, map[string]bool{}
	routes := map[string]netip.Addr{}
	for _, i := range want.interfaces {
		if a, ok := underlay[i.Id]; ok && !gone[i.Id] {
			routes[i.Id] = a
		}
	}
	add := func(what string, err error) bool {
		if err != nil {
			errs = append(errs, fmt.Errorf("fast path %s: create %s: %w", d.address, what, err))
		}
		return err == nil
	}
	for _, i := range ifAdd {
		r, err := call(ctx, d, c.CreateInterface, &pb.CreateInterfaceRequest{Interface: i})
		switch {
		case ErrorCode(err) == pb.ErrorCode_ERROR_CODE_NO_SUCH_DEVICE:
			missing[i.Id], blocked[i.Id] = true, true
		case !add("interface "+i.Id, err):
			blocked[i.Id] = true
		default:
			if a, err := AddrFromProto(r.GetUnderlayRoute()); err == nil {
				routes[i.Id] = a
			}
		}
	}
	d.mu.Lock()
	d.underlayRoutes = routes
	d.mu.Unlock()
	for _, r := range rAdd {
		add("route "+describeRoute(r), do(ctx, d, c.CreateRoute, &pb.CreateRouteRequest{Route: r}))
	}
	for _, v := range vAdd {
		if !blocked[v.InterfaceId] {
			add("virtual ip of "+v.InterfaceId, do(ctx, d, c.CreateVirtualIP, &pb.CreateVirtualIPRequest{VirtualIp: v}))
		}
	}
	for _, n := range nAdd {
		if !blocked[n.InterfaceId] {
			add("nat of "+n.InterfaceId, do(ctx, d, c.CreateNAT, &pb.CreateNATRequest{Nat: n}))
		}
	}
	for _, n := range nnAdd {
		add("neighbor nat "+describeNeighborNAT(n), do(ctx, d, c.CreateNeighborNAT, &pb.CreateNeighborNATRequest{NeighborNat: n}))
	}
	failedLB := map[string]bool{}
	for _, l := range lbAdd {
		failedLB[l.Id] = !add("load balancer "+l.Id, do(ctx, d, c.CreateLoadBalancer, &pb.CreateLoadBalancerRequest{LoadBalancer: l}))
	}
	for _, t := range tAdd {
		if !failedLB[t.LoadBalancerId] {
			add("load balancer target "+describeTarget(t), do(ctx, d, c.CreateLoadBalancerTarget, &pb.CreateLoadBalancerTargetRequest{Target: t}))
		}
	}
	for _, r := range fAdd {
		if !blocked[r.InterfaceId] {
			add("firewall rule "+ruleKey(r), do(ctx, d, c.CreateFirewallRule, &pb.CreateFirewallRuleRequest{Rule: r}))
		}
	}
	return dataplane.Result{Missing: sorted(missing)}, errs
}

// do runs one call whose answer carries nothing but success.
func do[Req, Resp any](ctx context.Context, d *Dataplane, rpc func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) error {
	_, err := call(ctx, d, rpc, req)
	return err
}

func describeRoute(r *pb.Route) string {
	rt, err := RouteFromProto(r)
	if err != nil {
		return fmt.Sprintf("%v (%v)", r, err)
	}
	s := rt.String()
	if r.NextHopVni != 0 {
		s += fmt.Sprintf(" next-hop-vni %d", r.NextHopVni)
	}
	if r.Weight != 0 {
		s += fmt.Sprintf(" weight %d", r.Weight)
	}
	return s
}

func addrString(b []byte) string {
	if a, err := AddrFromProto(b); err == nil {
		return a.String()
	}
	return fmt.Sprintf("%x", b)
}

func describeNeighborNAT(n *pb.NeighborNAT) string {
	return fmt.Sprintf("vni %d %s %d-%d via %s", n.Vni, addrString(n.Ip), n.GetPorts().GetMin(), n.GetPorts().GetMax(), addrString(n.NextHop))
}

func describeTarget(t *pb.LoadBalancerTarget) string {
	return t.LoadBalancerId + " " + addrString(t.Target)
}
