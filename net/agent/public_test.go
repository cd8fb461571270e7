package agent_test

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ferrite-dev/ferrite/net/agent"
	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/dataplane/memory"
	"github.com/ferrite-dev/ferrite/net/lab"
	"github.com/ferrite-dev/ferrite/net/route"
)

// publicVNI is the public VNI of the tests, as make run and e2e use it.
const publicVNI = route.MaxVNI

// publicHost is an agent with the public VNI configured and a memory dataplane.
type publicHost struct {
	*agent.Agent
	dp *memory.Dataplane
	id int
}

func startPublicHost(t *testing.T, l *lab.Lab, id int, reflectors ...int) *publicHost {
	t.Helper()
	dp := &memory.Dataplane{}
	cfg := l.AgentConfig(id, dp, reflectors...)
	cfg.PublicVNI = publicVNI
	a, err := agent.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	h := &publicHost{Agent: a, dp: dp, id: id}
	h.set(t)
	if !lab.Eventually(wait, func() bool { return a.Established(context.Background()) == len(reflectors) && dp.Applies() > 0 }) {
		t.Fatalf("agent %d: no sessions or no Apply", id)
	}
	return h
}

func (h *publicHost) set(t *testing.T, ifaces ...dataplane.Interface) {
	t.Helper()
	if err := h.SetLocal(context.Background(), agent.Local{Interfaces: ifaces}); err != nil {
		t.Fatal(err)
	}
}

func (h *publicHost) waitRoutes(t *testing.T, what string, cond func(has func(route.Route) bool) bool) {
	t.Helper()
	if !lab.Eventually(wait, func() bool { return cond(h.dp.Has) }) {
		t.Fatalf("agent %d: %s; installed %v", h.id, what, h.dp.Routes())
	}
}

// tap is an interface in VNI 100 owning 10.100.<host>.<n>/32.
func tap(host, n int) dataplane.Interface {
	return dataplane.Interface{Name: "tap" + string(rune('a'+n)), VNI: 100,
		Addresses: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 100, byte(host), byte(n)}), 32)}}
}

// Agent 1's VirtualIP, NAT share and load-balancer target are announced in the public VNI and
// learned by agent 2; a load balancer with targets on two hosts has both as next hops, and each
// withdrawal takes away exactly what it should.
func TestPublicServicesAreAnnounced(t *testing.T) {
	l := newLab(t)
	rr := startReflector(t, l, 1)
	defer rr.Stop()
	h1, h2, h3 := startPublicHost(t, l, 1, 1), startPublicHost(t, l, 2, 1), startPublicHost(t, l, 3, 1)
	vip := netip.MustParseAddr("203.0.113.10")
	natIP := netip.MustParseAddr("203.0.113.20")
	lbIP := netip.MustParseAddr("203.0.113.30")
	lb := []dataplane.LoadBalancer{{IP: lbIP, Ports: []dataplane.PortRange{{Protocol: "TCP", First: 80}}}}
	pub := func(ip netip.Addr, hop int, kind route.Kind) route.Route {
		return route.Route{VNI: publicVNI, Prefix: netip.PrefixFrom(ip, 32), NextHop: lab.AgentAddr(hop), Kind: kind}
	}
	vipRoute, lb1, lb2 := pub(vip, 1, route.KindStandard), pub(lbIP, 1, route.KindLoadBalancer), pub(lbIP, 2, route.KindLoadBalancer)
	natRoute := pub(natIP, 1, route.KindNAT)
	natRoute.PortMin, natRoute.PortMax = 1024, 2047
	vipNAT := natRoute // the NAT share of the interface with the VIP, unused while it has one
	vipNAT.PortMin, vipNAT.PortMax = 2048, 3071

	withVIP := tap(1, 0)
	withVIP.VirtualIP = vip
	withVIP.NAT = &dataplane.NAT{IP: natIP, PortMin: 2048, PortMax: 3071}
	withNAT := tap(1, 1)
	withNAT.NAT = &dataplane.NAT{IP: natIP, PortMin: 1024, PortMax: 2047}
	target1, target2 := tap(1, 2), tap(1, 3)
	target1.LoadBalancers, target2.LoadBalancers = lb, lb
	h1.set(t, withVIP, withNAT, target1, target2)
	// Agent 2 has a target of the same load balancer: it subscribes to the public VNI for it.
	other := tap(2, 0)
	other.LoadBalancers = lb
	h2.set(t, other)
	h3.set(t, withLB(tap(3, 0), netip.MustParseAddr("203.0.113.99")))

	h2.waitRoutes(t, "agent 2 never learned agent 1's VIP, NAT and load-balancer routes", func(has func(route.Route) bool) bool {
		return has(vipRoute) && has(natRoute) && has(lb1)
	})
	h3.waitRoutes(t, "agent 3 never learned both next hops of the load balancer", func(has func(route.Route) bool) bool {
		return has(lb1) && has(lb2)
	})
	if got := h2.dp.State().PublicVNI; got != publicVNI {
		t.Errorf("dataplane got public vni %d, want %d", got, publicVNI)
	}
	if slices.Contains(h1.Announced(), vipNAT) {
		t.Errorf("agent 1 announces the NAT share of an interface with a VIP")
	}
	if !slices.Contains(h1.Subscriptions(), publicVNI) {
		t.Errorf("agent 1 is not subscribed to the public vni: %v", h1.Subscriptions())
	}
	if present, announced := h1.InterfaceState(target1.Name); !present || !announced {
		t.Errorf("target interface: present %t, announced %t", present, announced)
	}

	// One of two local targets goes: the load balancer stays announced.
	h1.set(t, withVIP, withNAT, target2)
	settle()
	if !h3.dp.Has(lb1) {
		t.Fatal("load-balancer route withdrawn while agent 1 still has a target")
	}
	// The last one goes, and the VIP: only agent 2's next hop is left, and the interface's NAT
	// share takes over from its VIP.
	withVIP.VirtualIP = netip.Addr{}
	h1.set(t, withVIP, withNAT)
	h3.waitRoutes(t, "agent 1's load-balancer route and VIP never went", func(has func(route.Route) bool) bool {
		return !has(lb1) && has(lb2) && !has(vipRoute) && has(natRoute) && has(vipNAT)
	})
	h1.set(t)
	h3.waitRoutes(t, "agent 1's NAT routes never went", func(has func(route.Route) bool) bool {
		return !has(natRoute) && !has(vipNAT)
	})
	if !lab.Eventually(wait, func() bool { return !slices.Contains(h1.Subscriptions(), publicVNI) }) {
		t.Errorf("agent 1 without public services is still subscribed to the public vni")
	}
}

func withLB(iface dataplane.Interface, ip netip.Addr) dataplane.Interface {
	iface.LoadBalancers = []dataplane.LoadBalancer{{IP: ip}}
	return iface
}

// An agent without a public VNI refuses public services, naming the interface.
func TestPublicServicesNeedPublicVNI(t *testing.T) {
	l := newLab(t)
	a := startHost(t, l, 1)
	iface := tap(1, 0)
	iface.VirtualIP = netip.MustParseAddr("203.0.113.10")
	err := a.SetLocal(context.Background(), agent.Local{Interfaces: []dataplane.Interface{iface}})
	if err == nil || !strings.Contains(err.Error(), iface.Name) {
		t.Fatalf("public service without a public vni: %v, want an error naming %s", err, iface.Name)
	}
}
