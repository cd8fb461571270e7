package dpdk

import (
	"cmp"
	"slices"

	pb "github.com/ferrite-dev/ferrite/net/dataplane/dpdk/fastpathpb"
)

func portsToProto(p PortRange) *pb.PortRange {
	if p == (PortRange{}) {
		return nil
	}
	return &pb.PortRange{Min: uint32(p.Min), Max: uint32(p.Max)}
}

var protocols = map[Protocol]pb.Protocol{
	ProtocolAny:    pb.Protocol_PROTOCOL_ANY,
	ProtocolTCP:    pb.Protocol_PROTOCOL_TCP,
	ProtocolUDP:    pb.Protocol_PROTOCOL_UDP,
	ProtocolICMP:   pb.Protocol_PROTOCOL_ICMP,
	ProtocolICMPv6: pb.Protocol_PROTOCOL_ICMPV6,
}

// VirtualIPToProto converts a virtual IP to its wire form.
func VirtualIPToProto(v VirtualIP) *pb.VirtualIP {
	return &pb.VirtualIP{InterfaceId: v.Interface, Ip: v.IP.AsSlice()}
}

// NATToProto converts a NAT to its wire form.
func NATToProto(n NAT) *pb.NAT {
	return &pb.NAT{InterfaceId: n.Interface, Ip: n.IP.AsSlice(), Ports: portsToProto(n.Ports)}
}

// NeighborNATToProto converts a neighbour NAT to its wire form.
func NeighborNATToProto(n NeighborNAT) *pb.NeighborNAT {
	return &pb.NeighborNAT{Vni: n.VNI, Ip: n.IP.AsSlice(), Ports: portsToProto(n.Ports), NextHop: n.NextHop.AsSlice()}
}

// LoadBalancerToProto converts a load balancer to its wire form: the balancer (ports sorted)
// and one object per target.
func LoadBalancerToProto(l LoadBalancer) (*pb.LoadBalancer, []*pb.LoadBalancerTarget) {
	out := &pb.LoadBalancer{Id: l.ID, Vni: l.VNI, Ip: l.IP.AsSlice()}
	for _, p := range l.Ports {
		out.Ports = append(out.Ports, &pb.LoadBalancerPort{Protocol: protocols[p.Protocol], Port: uint32(p.Port)})
	}
	sortPorts(out)
	var targets []*pb.LoadBalancerTarget
	for _, t := range l.Targets {
		targets = append(targets, &pb.LoadBalancerTarget{LoadBalancerId: l.ID, Target: t.AsSlice()})
	}
	return out, targets
}

func sortPorts(l *pb.LoadBalancer) {
	slices.SortFunc(l.Ports, func(a, b *pb.LoadBalancerPort) int {
		return cmp.Or(cmp.Compare(a.GetProtocol(), b.GetProtocol()), cmp.Compare(a.GetPort(), b.GetPort()))
	})
	l.Ports = slices.CompactFunc(l.Ports, func(a, b *pb.LoadBalancerPort) bool {
		return a.GetProtocol() == b.GetProtocol() && a.GetPort() == b.GetPort()
	})
}

// FirewallRuleToProto converts a firewall rule to its wire form.
func FirewallRuleToProto(r FirewallRule) *pb.FirewallRule {
	return &pb.FirewallRule{
		InterfaceId: r.Interface, Id: r.ID,
		Direction: pb.FirewallDirection(r.Direction), Action: pb.FirewallAction(r.Action), Priority: r.Priority,
		Source: PrefixToProto(r.Source), Destination: PrefixToProto(r.Destination), Protocol: protocols[r.Protocol],
		SourcePorts: portsToProto(r.SourcePorts), DestinationPorts: portsToProto(r.DestinationPorts),
	}
}
