package dpdk_test

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/ferrite-dev/ferrite/net/dataplane/dpdk"
	pb "github.com/ferrite-dev/ferrite/net/dataplane/dpdk/fastpathpb"
)

// The fast path's table calls. Each starts with ready(), which takes f.mu.

func (f *fastPath) ListInterfaces(context.Context, *pb.ListInterfacesRequest) (*pb.ListInterfacesResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	return &pb.ListInterfacesResponse{Interfaces: values(f.interfaces)}, nil
}

func (f *fastPath) CreateInterface(_ context.Context, r *pb.CreateInterfaceRequest) (*pb.CreateInterfaceResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	if _, err := dpdk.InterfaceFromProto(r.GetInterface()); err != nil {
		return nil, dpdk.Error(codes.InvalidArgument, pb.ErrorCode_ERROR_CODE_UNSPECIFIED, r.GetInterface().GetId(), err.Error())
	}
	if f.absent[r.GetInterface().GetDevice()] {
		return nil, dpdk.NoSuchDevice(r.GetInterface().GetDevice())
	}
	i := proto.Clone(r.GetInterface()).(*pb.Interface)
	i.UnderlayRoute = f.underlay
	// List reports addresses in another order than given: the client must not care.
	for a, b := 0, len(i.Addresses)-1; a < b; a, b = a+1, b-1 {
		i.Addresses[a], i.Addresses[b] = i.Addresses[b], i.Addresses[a]
	}
	if err := put(f.interfaces, i.GetId(), i); err != nil {
		return nil, err
	}
	return &pb.CreateInterfaceResponse{UnderlayRoute: f.underlay}, nil
}

func (f *fastPath) DeleteInterface(_ context.Context, r *pb.DeleteInterfaceRequest) (*pb.DeleteInterfaceResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	id := r.GetId()
	delete(f.interfaces, id)
	delete(f.vips, id)
	delete(f.nats, id)
	for k, rule := range f.rules {
		if rule.GetInterfaceId() == id {
			delete(f.rules, k)
		}
	}
	return &pb.DeleteInterfaceResponse{}, nil
}

func (f *fastPath) ListRoutes(context.Context, *pb.ListRoutesRequest) (*pb.ListRoutesResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	out := values(f.routes)
	for _, r := range out {
		if r.Weight == 0 {
			r.Weight = 1 // the effective weight, as a real fast path may report it
		}
	}
	return &pb.ListRoutesResponse{Routes: out}, nil
}

func (f *fastPath) CreateRoute(_ context.Context, r *pb.CreateRouteRequest) (*pb.CreateRouteResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	if _, err := dpdk.RouteFromProto(r.GetRoute()); err != nil {
		return nil, dpdk.Error(codes.InvalidArgument, pb.ErrorCode_ERROR_CODE_UNSPECIFIED, "route", err.Error())
	}
	if r.GetRoute().GetVni() == f.full && f.full != 0 {
		return nil, dpdk.Error(codes.ResourceExhausted, pb.ErrorCode_ERROR_CODE_TABLE_FULL, "routes", "route table full")
	}
	return &pb.CreateRouteResponse{}, put(f.routes, key(r.GetRoute()), r.GetRoute())
}

func (f *fastPath) DeleteRoute(_ context.Context, r *pb.DeleteRouteRequest) (*pb.DeleteRouteResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	delete(f.routes, key(r.GetRoute()))
	return &pb.DeleteRouteResponse{}, nil
}

func (f *fastPath) ListVirtualIPs(context.Context, *pb.ListVirtualIPsRequest) (*pb.ListVirtualIPsResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	return &pb.ListVirtualIPsResponse{VirtualIps: values(f.vips)}, nil
}

func (f *fastPath) CreateVirtualIP(_ context.Context, r *pb.CreateVirtualIPRequest) (*pb.CreateVirtualIPResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	v := r.GetVirtualIp()
	if f.interfaces[v.GetInterfaceId()] == nil {
		return nil, notFound("interface " + v.GetInterfaceId())
	}
	return &pb.CreateVirtualIPResponse{}, put(f.vips, v.GetInterfaceId(), v)
}

func (f *fastPath) DeleteVirtualIP(_ context.Context, r *pb.DeleteVirtualIPRequest) (*pb.DeleteVirtualIPResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	delete(f.vips, r.GetInterfaceId())
	return &pb.DeleteVirtualIPResponse{}, nil
}

func (f *fastPath) ListNATs(context.Context, *pb.ListNATsRequest) (*pb.ListNATsResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	return &pb.ListNATsResponse{Nats: values(f.nats)}, nil
}

func (f *fastPath) CreateNAT(_ context.Context, r *pb.CreateNATRequest) (*pb.CreateNATResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	n := r.GetNat()
	if f.interfaces[n.GetInterfaceId()] == nil {
		return nil, notFound("interface " + n.GetInterfaceId())
	}
	return &pb.CreateNATResponse{}, put(f.nats, n.GetInterfaceId(), n)
}

func (f *fastPath) DeleteNAT(_ context.Context, r *pb.DeleteNATRequest) (*pb.DeleteNATResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	delete(f.nats, r.GetInterfaceId())
	return &pb.DeleteNATResponse{}, nil
}

func nnatKey(n *pb.NeighborNAT) string {
	return fmt.Sprintf("%d %x %d-%d", n.GetVni(), n.GetIp(), n.GetPorts().GetMin(), n.GetPorts().GetMax())
}

func (f *fastPath) ListNeighborNATs(context.Context, *pb.ListNeighborNATsRequest) (*pb.ListNeighborNATsResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	return &pb.ListNeighborNATsResponse{NeighborNats: values(f.nnats)}, nil
}

func (f *fastPath) CreateNeighborNAT(_ context.Context, r *pb.CreateNeighborNATRequest) (*pb.CreateNeighborNATResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	return &pb.CreateNeighborNATResponse{}, put(f.nnats, nnatKey(r.GetNeighborNat()), r.GetNeighborNat())
}

func (f *fastPath) DeleteNeighborNAT(_ context.Context, r *pb.DeleteNeighborNATRequest) (*pb.DeleteNeighborNATResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	delete(f.nnats, nnatKey(r.GetNeighborNat()))
	return &pb.DeleteNeighborNATResponse{}, nil
}

func (f *fastPath) ListLoadBalancers(context.Context, *pb.ListLoadBalancersRequest) (*pb.ListLoadBalancersResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	return &pb.ListLoadBalancersResponse{LoadBalancers: values(f.lbs)}, nil
}

func (f *fastPath) CreateLoadBalancer(_ context.Context, r *pb.CreateLoadBalancerRequest) (*pb.CreateLoadBalancerResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	return &pb.CreateLoadBalancerResponse{}, put(f.lbs, r.GetLoadBalancer().GetId(), r.GetLoadBalancer())
}

func (f *fastPath) DeleteLoadBalancer(_ context.Context, r *pb.DeleteLoadBalancerRequest) (*pb.DeleteLoadBalancerResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	delete(f.lbs, r.GetId())
	for k, t := range f.targets {
		if t.GetLoadBalancerId() == r.GetId() {
			delete(f.targets, k)
		}
	}
	return &pb.DeleteLoadBalancerResponse{}, nil
}

func (f *fastPath) ListLoadBalancerTargets(context.Context, *pb.ListLoadBalancerTargetsRequest) (*pb.ListLoadBalancerTargetsResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	return &pb.ListLoadBalancerTargetsResponse{Targets: values(f.targets)}, nil
}

func (f *fastPath) CreateLoadBalancerTarget(_ context.Context, r *pb.CreateLoadBalancerTargetRequest) (*pb.CreateLoadBalancerTargetResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	t := r.GetTarget()
	if f.lbs[t.GetLoadBalancerId()] == nil {
		return nil, notFound("load balancer " + t.GetLoadBalancerId())
	}
	return &pb.CreateLoadBalancerTargetResponse{}, put(f.targets, key(t), t)
}

func (f *fastPath) DeleteLoadBalancerTarget(_ context.Context, r *pb.DeleteLoadBalancerTargetRequest) (*pb.DeleteLoadBalancerTargetResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	delete(f.targets, key(r.GetTarget()))
	return &pb.DeleteLoadBalancerTargetResponse{}, nil
}

func (f *fastPath) ListFirewallRules(context.Context, *pb.ListFirewallRulesRequest) (*pb.ListFirewallRulesResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	return &pb.ListFirewallRulesResponse{Rules: values(f.rules)}, nil
}

func (f *fastPath) CreateFirewallRule(_ context.Context, r *pb.CreateFirewallRuleRequest) (*pb.CreateFirewallRuleResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	rule := r.GetRule()
	if f.interfaces[rule.GetInterfaceId()] == nil {
		return nil, notFound("interface " + rule.GetInterfaceId())
	}
	return &pb.CreateFirewallRuleResponse{}, put(f.rules, rule.GetInterfaceId()+"/"+rule.GetId(), rule)
}

func (f *fastPath) DeleteFirewallRule(_ context.Context, r *pb.DeleteFirewallRuleRequest) (*pb.DeleteFirewallRuleResponse, error) {
	if err := f.ready(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	delete(f.rules, r.GetInterfaceId()+"/"+r.GetId())
	return &pb.DeleteFirewallRuleResponse{}, nil
}
