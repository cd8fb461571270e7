package agent_test

import (
	"context"
	"net/netip"
	"testing"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/ferrite-dev/ferrite/net/agent"
	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/lab"
	"github.com/ferrite-dev/ferrite/net/route"
)

// TestReflectorRestartKeepsRoutes restarts each of two reflectors in turn: no Apply of the
// other agent ever lacks a route it had learned.
func TestReflectorRestartKeepsRoutes(t *testing.T) {
	l := newLab(t)
	rr1, rr2 := startReflector(t, l, 1), startReflector(t, l, 2)
	defer func() { rr1.Stop(); rr2.Stop() }()
	a, b := startHost(t, l, 1, 1, 2), startHost(t, l, 2, 1, 2)
	ra, rb := a.nic(t, 100), b.nic(t, 100)
	a.waitHas(t, rb)
	b.waitHas(t, ra)
	lostA, lostB := a.dp.guard(rb), b.dp.guard(ra)

	rr1.Stop()
	b.waitPeers(t, 1)
	rr1 = startReflector(t, l, 1)
	a.waitPeers(t, 2)
	b.waitPeers(t, 2)
	if !lab.Eventually(wait, func() bool { n, _ := rr1.Size(context.Background()); return n >= 2 }) {
		t.Fatal("restarted reflector never got the agents' routes back")
	}
	// Routes still flow, now through the restarted reflector as well.
	late := route.Route{VNI: 100, Prefix: netip.MustParsePrefix("10.100.1.1/32"), NextHop: lab.AgentAddr(1), Kind: route.KindLoadBalancer}
	a.setLocal(t, func(l *agent.Local) { l.Routes = []route.Route{late} })
	b.waitHas(t, late)

	rr2.Stop()
	b.waitPeers(t, 1)
	rr2 = startReflector(t, l, 2)
	a.waitPeers(t, 2)
	b.waitPeers(t, 2)
	settle()
	if bad := lostB(); len(bad) > 0 {
		t.Errorf("agent b applied %d states without a's route during reflector restarts; first: %v", len(bad), bad[0].Routes)
	}
	if bad := lostA(); len(bad) > 0 {
		t.Errorf("agent a applied %d states without b's route during reflector restarts; first: %v", len(bad), bad[0].Routes)
	}
	if !b.dp.Has(ra) || !b.dp.Has(late) || !a.dp.Has(rb) {
		t.Errorf("routes after the restarts: a %v, b %v", a.dp.Routes(), b.dp.Routes())
	}
}

// TestAgentRestartKeepsRoutes stops an agent and starts a new one with the same router ID: the
// other agent never applies a state without the restarting agent's route, and the new agent's
// first Apply already holds what it learned (it waited for End-of-RIB, so nothing was flushed).
func TestAgentRestartKeepsRoutes(t *testing.T) {
	l := newLab(t)
	rr1, rr2 := startReflector(t, l, 1), startReflector(t, l, 2)
	defer func() { rr1.Stop(); rr2.Stop() }()
	a, b := startHost(t, l, 1, 1, 2), startHost(t, l, 2, 1, 2)
	ra, rb := a.nic(t, 100), b.nic(t, 100)
	a.waitHas(t, rb)
	b.waitHas(t, ra)
	if !reflectorsRestartGracefully(a) {
		t.Skip("the lab's reflectors do not advertise graceful restart for EVPN (net/reflector): they withdraw a stopped agent's routes")
	}
	lost := b.dp.guard(ra)

	a.Stop()
	fresh := newRecorder()
	var first []route.Route
	fresh.watch = func(s dataplane.State) {
		if first == nil {
			first = append([]route.Route{}, s.Routes...)
		}
	}
	a2 := startHostWith(t, l, 1, fresh, a.local, 1, 2)
	a2.waitHas(t, rb)
	settle()
	if bad := lost(); len(bad) > 0 {
		t.Errorf("agent b applied %d states without the restarting agent's route; first: %v", len(bad), bad[0].Routes)
	}
	fresh.mu.Lock()
	defer fresh.mu.Unlock()
	if len(first) == 0 {
		t.Errorf("the restarted agent's first Apply held no learned route: it would have flushed the kernel")
	}
	if !b.dp.Has(ra) {
		t.Errorf("agent b lost the restarted agent's route: %v", b.dp.Routes())
	}
}

// reflectorsRestartGracefully reports whether every reflector advertised graceful restart for
// EVPN routes to agent h.
func reflectorsRestartGracefully(h *host) bool {
	ok, n := true, 0
	_ = h.Server().ListPeer(context.Background(), &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
		n++
		got := false
		for _, f := range p.GetAfiSafis() {
			if f.GetConfig().GetFamily().GetSafi() == route.Family.Safi && f.GetMpGracefulRestart().GetState().GetReceived() {
				got = true
			}
		}
		ok = ok && got
	})
	return ok && n > 0
}
