package agent_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ferrite-dev/ferrite/net/agent"
	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/dataplane/memory"
	"github.com/ferrite-dev/ferrite/net/lab"
	"github.com/ferrite-dev/ferrite/net/reflector"
	"github.com/ferrite-dev/ferrite/net/route"
)

// wait bounds every convergence check; BGP on loopback converges in well under a second.
const wait = 20 * time.Second

type host struct {
	*agent.Agent
	dp *memory.Dataplane
	id int
}

func newLab(t *testing.T) *lab.Lab {
	t.Helper()
	l, err := lab.New()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func startReflector(t *testing.T, l *lab.Lab, i int) *reflector.Reflector {
	t.Helper()
	r, err := l.StartReflector(context.Background(), i)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func startHost(t *testing.T, l *lab.Lab, id int, reflectors ...int) *host {
	t.Helper()
	a, dp, err := l.StartAgent(context.Background(), id, reflectors...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	h := &host{Agent: a, dp: dp, id: id}
	h.waitPeers(t, len(reflectors))
	return h
}

func (h *host) waitPeers(t *testing.T, n int) {
	t.Helper()
	if !lab.Eventually(wait, func() bool { return h.Established(context.Background()) == n }) {
		t.Fatalf("agent %d: %d sessions established, want %d", h.id, h.Established(context.Background()), n)
	}
}

// nic gives agent h an interface in vni owning 10.<vni>.0.<h.id>/32.
func (h *host) nic(t *testing.T, vni uint32) route.Route {
	t.Helper()
	p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(vni), 0, byte(h.id)}), 32)
	err := h.AddInterface(context.Background(), dataplane.Interface{Name: nicName(vni), VNI: vni, Addresses: []netip.Prefix{p}})
	if err != nil {
		t.Fatal(err)
	}
	return route.Route{VNI: vni, Prefix: p, NextHop: lab.AgentAddr(h.id)}
}

func nicName(vni uint32) string { return "nic" + string(rune('a'+vni%26)) }

func (h *host) waitHas(t *testing.T, rs ...route.Route) {
	t.Helper()
	ok := lab.Eventually(wait, func() bool {
		for _, r := range rs {
			if !h.dp.Has(r) {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("agent %d never installed %v; has %v", h.id, rs, h.dp.Routes())
	}
}

func (h *host) waitLacks(t *testing.T, rs ...route.Route) {
	t.Helper()
	ok := lab.Eventually(wait, func() bool {
		for _, r := range rs {
			if h.dp.Has(r) {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("agent %d still has some of %v: %v", h.id, rs, h.dp.Routes())
	}
}

// settle gives stray updates a chance to arrive before checking that something did not happen.
// It is not a timing assertion: the check after it holds however long the wait.
func settle() { time.Sleep(300 * time.Millisecond) }

func TestAnnounceWithdraw(t *testing.T) {
	l := newLab(t)
	rr := startReflector(t, l, 1)
	defer rr.Stop()
	a, b, c := startHost(t, l, 1, 1), startHost(t, l, 2, 1), startHost(t, l, 3, 1)
	ra, rb := a.nic(t, 100), b.nic(t, 100)
	rc := c.nic(t, 200)

	b.waitHas(t, ra)
	a.waitHas(t, rb)
	settle()
	if got := c.dp.Routes(); len(got) != 0 {
		t.Errorf("agent in vni 200 learned routes of vni 100: %v", got)
	}
	if got := a.dp.Routes(); !slices.Equal(got, []route.Route{rb}) {
		t.Errorf("agent a installed %v, want only b's route (never its own)", got)
	}
	if err := a.RemoveInterface(context.Background(), nicName(100)); err != nil {
		t.Fatal(err)
	}
	b.waitLacks(t, ra)
	_ = rc
}

func TestSubscribeUnsubscribe(t *testing.T) {
	l := newLab(t)
	rr := startReflector(t, l, 1)
	defer rr.Stop()
	a, c := startHost(t, l, 1, 1), startHost(t, l, 3, 1)
	ra := a.nic(t, 100)
	lb := route.Route{VNI: 100, Prefix: netip.MustParsePrefix("192.0.2.10/32"), NextHop: lab.AgentAddr(1), Kind: route.KindLoadBalancer}
	nat := route.Route{VNI: 100, Prefix: netip.MustParsePrefix("0.0.0.0/0"), NextHop: lab.AgentAddr(1),
		Kind: route.KindNAT, PortMin: 1024, PortMax: 2047}
	for _, r := range []route.Route{lb, nat} {
		if err := a.Announce(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	settle()
	if n := c.dp.Len(); n != 0 {
		t.Fatalf("unsubscribed agent learned %d routes", n)
	}
	if err := c.Subscribe(context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	c.waitHas(t, ra, lb, nat)
	if err := a.Withdraw(context.Background(), nat); err != nil {
		t.Fatal(err)
	}
	c.waitLacks(t, nat)
	if err := c.Unsubscribe(context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	c.waitLacks(t, ra, lb)
	if got := c.Subscriptions(); len(got) != 0 {
		t.Errorf("subscriptions after unsubscribe: %v", got)
	}
}

func TestECMPKeepsEveryNextHop(t *testing.T) {
	l := newLab(t)
	rr := startReflector(t, l, 1)
	defer rr.Stop()
	hosts := []*host{startHost(t, l, 1, 1), startHost(t, l, 2, 1), startHost(t, l, 3, 1)}
	vip := netip.MustParsePrefix("192.0.2.80/32")
	var targets []route.Route
	for _, h := range hosts[:2] {
		r := route.Route{VNI: 7, Prefix: vip, NextHop: lab.AgentAddr(h.id), Kind: route.KindLoadBalancer}
		if err := h.Announce(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, r)
	}
	if err := hosts[2].Subscribe(context.Background(), 7); err != nil {
		t.Fatal(err)
	}
	hosts[2].waitHas(t, targets...)
	if err := hosts[0].Withdraw(context.Background(), targets[0]); err != nil {
		t.Fatal(err)
	}
	hosts[2].waitLacks(t, targets[0])
	hosts[2].waitHas(t, targets[1])
}

func TestTwoReflectorsLossAndReturn(t *testing.T) {
	l := newLab(t)
	rr1, rr2 := startReflector(t, l, 1), startReflector(t, l, 2)
	defer func() { rr2.Stop() }()
	a, b := startHost(t, l, 1, 1, 2), startHost(t, l, 2, 1, 2)
	ra, rb := a.nic(t, 100), b.nic(t, 100)
	a.waitHas(t, rb)
	b.waitHas(t, ra)
	settle()
	_, deletesBefore := b.dp.Calls()

	rr1.Stop()
	b.waitPeers(t, 1)
	a.waitPeers(t, 1)
	settle()
	if _, d := b.dp.Calls(); d != deletesBefore || !b.dp.Has(ra) {
		t.Fatalf("losing one of two reflectors removed routes: %d deletes, routes %v", d-deletesBefore, b.dp.Routes())
	}

	// Routes still flow through the remaining reflector.
	late := route.Route{VNI: 100, Prefix: netip.MustParsePrefix("10.100.1.1/32"), NextHop: lab.AgentAddr(1), Kind: route.KindLoadBalancer}
	if err := a.Announce(context.Background(), late); err != nil {
		t.Fatal(err)
	}
	b.waitHas(t, late)

	// The lost reflector returns; then the other one goes: still nothing is withdrawn.
	rr1 = startReflector(t, l, 1)
	defer rr1.Stop()
	a.waitPeers(t, 2)
	b.waitPeers(t, 2)
	if !lab.Eventually(wait, func() bool { n, _ := rr1.Size(context.Background()); return n == 3 }) {
		n, _ := rr1.Size(context.Background())
		t.Fatalf("returned reflector holds %d paths, want 3", n)
	}
	rr2.Stop()
	b.waitPeers(t, 1)
	settle()
	if _, d := b.dp.Calls(); d != deletesBefore || !b.dp.Has(ra) || !b.dp.Has(late) {
		t.Fatalf("switching reflectors removed routes: %d deletes, routes %v", d-deletesBefore, b.dp.Routes())
	}
	rr2 = startReflector(t, l, 2)
	for _, h := range []*host{a, b} {
		if s := h.Stats(); s.Echoes != 0 {
			t.Errorf("agent %d received %d of its own routes back", h.id, s.Echoes)
		}
	}
}
