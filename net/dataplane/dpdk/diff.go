package dpdk

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	pb "github.com/ferrite-dev/ferrite/net/dataplane/dpdk/fastpathpb"
)

// tables is the content of the fast path's tables, desired or held, in normalized wire form so
// that equal content compares equal with proto.Equal.
type tables struct {
	interfaces   []*pb.Interface
	routes       []*pb.Route
	virtualIPs   []*pb.VirtualIP
	nats         []*pb.NAT
	neighborNATs []*pb.NeighborNAT
	balancers    []*pb.LoadBalancer
	targets      []*pb.LoadBalancerTarget
	rules        []*pb.FirewallRule
}

// plan compares desired and held objects of one table by key: held objects that are not wanted
// or differ are deleted, wanted objects that are not held or differ are created (a changed
// object is both: there is no update call).
func plan[M proto.Message](want, have []M, key func(M) string) (del, add []M) {
	wanted := make(map[string]M, len(want))
	for _, w := range want {
		wanted[key(w)] = w
	}
	held := make(map[string]M, len(have))
	for _, h := range have {
		k := key(h)
		held[k] = h
		if w, ok := wanted[k]; !ok || !proto.Equal(w, h) {
			del = append(del, h)
		}
	}
	for k, w := range wanted {
		if h, ok := held[k]; !ok || !proto.Equal(w, h) {
			add = append(add, w)
		}
	}
	slices.SortFunc(add, func(a, b M) int { return compareKeys(key(a), key(b)) })
	return del, add
}

func compareKeys(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// without drops the objects whose owner (interface or load balancer) is in gone: deleting the
// owner deleted them in the fast path too, so they count as not held.
func without[M any](objs []M, owner func(M) string, gone map[string]bool) []M {
	return slices.DeleteFunc(objs, func(o M) bool { return gone[owner(o)] })
}

// Keys: the id for objects that have one; the identifying fields otherwise.
func interfaceKey(i *pb.Interface) string { return i.GetId() }
func routeKey(r *pb.Route) string {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(r)
	return string(b)
}
func virtualIPKey(v *pb.VirtualIP) string { return v.GetInterfaceId() }
func natKey(n *pb.NAT) string             { return n.GetInterfaceId() }
func neighborNATKey(n *pb.NeighborNAT) string {
	return fmt.Sprintf("%d/%x/%d-%d", n.GetVni(), n.GetIp(), n.GetPorts().GetMin(), n.GetPorts().GetMax())
}
func balancerKey(l *pb.LoadBalancer) string { return l.GetId() }
func targetKey(t *pb.LoadBalancerTarget) string {
	return fmt.Sprintf("%s/%x", t.GetLoadBalancerId(), t.GetTarget())
}
func targetOwner(t *pb.LoadBalancerTarget) string { return t.GetLoadBalancerId() }
func ruleKey(r *pb.FirewallRule) string           { return r.GetInterfaceId() + "/" + r.GetId() }

// normalize rewrites held and desired objects into one canonical form: addresses 4 or 16
// bytes, empty port ranges absent, defaults spelled as zero, repeated fields sorted, fields the
// fast path fills in cleared.
func (t *tables) normalize() {
	for _, i := range t.interfaces {
		i.UnderlayRoute = nil
		for _, a := range i.Addresses {
			normPrefix(a)
		}
		slices.SortFunc(i.Addresses, func(a, b *pb.Prefix) int {
			x, _ := PrefixFromProto(a)
			y, _ := PrefixFromProto(b)
			return comparePrefixes(x, y)
		})
	}
	for _, r := range t.routes {
		normPrefix(r.Prefix)
		r.NextHop = normAddr(r.NextHop)
		r.Ports = normPorts(r.Ports)
		if r.NextHopVni == r.Vni {
			r.NextHopVni = 0
		}
		if r.Weight == 1 {
			r.Weight = 0
		}
	}
	for _, v := range t.virtualIPs {
		v.Ip = normAddr(v.Ip)
	}
	for _, n := range t.nats {
		n.Ip, n.Ports = normAddr(n.Ip), normPorts(n.Ports)
	}
	for _, n := range t.neighborNATs {
		n.Ip, n.NextHop, n.Ports = normAddr(n.Ip), normAddr(n.NextHop), normPorts(n.Ports)
	}
	for _, l := range t.balancers {
		l.Ip = normAddr(l.Ip)
		sortPorts(l)
	}
	for _, x := range t.targets {
		x.Target = normAddr(x.Target)
	}
	for _, r := range t.rules {
		normPrefix(r.Source)
		normPrefix(r.Destination)
		r.SourcePorts, r.DestinationPorts = normPorts(r.SourcePorts), normPorts(r.DestinationPorts)
	}
}

func normAddr(b []byte) []byte {
	a, err := AddrFromProto(b)
	if err != nil {
		return b
	}
	return a.AsSlice()
}

func normPrefix(p *pb.Prefix) {
	if p != nil {
		p.Address = normAddr(p.Address)
	}
}

func normPorts(p *pb.PortRange) *pb.PortRange {
	if p.GetMin() == 0 && p.GetMax() == 0 {
		return nil
	}
	return p
}
