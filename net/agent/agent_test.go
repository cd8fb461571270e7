package agent_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ferrite-dev/ferrite/net/agent"
	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/lab"
	"github.com/ferrite-dev/ferrite/net/reflector"
	"github.com/ferrite-dev/ferrite/net/route"
)

// wait bounds every convergence check; BGP on loopback converges in well under a second.
const wait = 20 * time.Second

type host struct {
	*agent.Agent
	dp    *recorder
	id    int
	local agent.Local
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

// startHost starts agent id with an empty local state (which opens its sessions) and waits for
// its sessions and its first Apply.
func startHost(t *testing.T, l *lab.Lab, id int, reflectors ...int) *host {
	t.Helper()
	return startHostWith(t, l, id, newRecorder(), agent.Local{}, reflectors...)
}

func startHostWith(t *testing.T, l *lab.Lab, id int, dp *recorder, local agent.Local, reflectors ...int) *host {
	t.Helper()
	a, err := l.StartAgent(context.Background(), id, dp, reflectors...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	h := &host{Agent: a, dp: dp, id: id}
	h.setLocal(t, func(l *agent.Local) { *l = local })
	h.waitPeers(t, len(reflectors))
	if !lab.Eventually(wait, func() bool { return h.Stats().Applies > 0 }) {
		t.Fatalf("agent %d never applied its dataplane state", id)
	}
	return h
}

func (h *host) setLocal(t *testing.T, change func(*agent.Local)) {
	t.Helper()
	change(&h.local)
	if err := h.SetLocal(context.Background(), h.local); err != nil {
		t.Fatal(err)
	}
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
	h.setLocal(t, func(l *agent.Local) {
		l.Interfaces = append(l.Interfaces, dataplane.Interface{Name: nicName(vni), VNI: vni, Addresses: []netip.Prefix{p}})
	})
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
func settle() { time.Sleep(500 * time.Millisecond) }

func TestAnnounceWithdraw(t *testing.T) {
	l := newLab(t)
	rr := startReflector(t, l, 1)
	defer rr.Stop()
	a, b, c := startHost(t, l, 1, 1), startHost(t, l, 2, 1), startHost(t, l, 3, 1)
	ra, rb := a.nic(t, 100), b.nic(t, 100)
	c.nic(t, 200)

	b.waitHas(t, ra)
	a.waitHas(t, rb)
	settle()
	if got := c.dp.Routes(); len(got) != 0 {
		t.Errorf("agent in vni 200 learned routes of vni 100: %v", got)
	}
	if got := a.dp.Routes(); !slices.Equal(got, []route.Route{rb}) {
		t.Errorf("agent a installed %v, want only b's route (never its own)", got)
	}
	if present, announced := a.InterfaceState(nicName(100)); !present || !announced {
		t.Errorf("a's interface: present %t, announced %t; want both", present, announced)
	}
	a.setLocal(t, func(l *agent.Local) { l.Interfaces = nil })
	b.waitLacks(t, ra)
}

func TestSubscriptionsAndRoutes(t *testing.T) {
	l := newLab(t)
	rr := startReflector(t, l, 1)
	defer rr.Stop()
	a, c := startHost(t, l, 1, 1), startHost(t, l, 3, 1)
	ra := a.nic(t, 100)
	lb := route.Route{VNI: 100, Prefix: netip.MustParsePrefix("192.0.2.10/32"), NextHop: lab.AgentAddr(1), Kind: route.KindLoadBalancer}
	nat := route.Route{VNI: 100, Prefix: netip.MustParsePrefix("0.0.0.0/0"), NextHop: lab.AgentAddr(1),
		Kind: route.KindNAT, PortMin: 1024, PortMax: 2047}
	a.setLocal(t, func(l *agent.Local) { l.Routes = []route.Route{lb, nat} })
	settle()
	if n := c.dp.Len(); n != 0 {
		t.Fatalf("unsubscribed agent learned %d routes", n)
	}
	c.setLocal(t, func(l *agent.Local) { l.Subscriptions = []uint32{100} })
	c.waitHas(t, ra, lb, nat)
	a.setLocal(t, func(l *agent.Local) { l.Routes = []route.Route{lb} })
	c.waitLacks(t, nat)
	c.setLocal(t, func(l *agent.Local) { l.Subscriptions = nil })
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
		h.setLocal(t, func(l *agent.Local) { l.Routes = []route.Route{r} })
		targets = append(targets, r)
	}
	hosts[2].setLocal(t, func(l *agent.Local) { l.Subscriptions = []uint32{7} })
	hosts[2].waitHas(t, targets...)
	hosts[0].setLocal(t, func(l *agent.Local) { l.Routes = nil })
	hosts[2].waitLacks(t, targets[0])
	hosts[2].waitHas(t, targets[1])
}

func TestFailingApplyIsRetried(t *testing.T) {
	l := newLab(t)
	rr := startReflector(t, l, 1)
	defer rr.Stop()
	a, b := startHost(t, l, 1, 1), startHost(t, l, 2, 1)
	b.dp.set(func(r *recorder) { r.fail = 4 })
	ra := a.nic(t, 100)
	b.nic(t, 100)
	b.waitHas(t, ra) // after 4 failures, backing off from 100 ms: 1.5 s
	if s := b.Stats(); s.DataplaneErrors < 4 {
		t.Errorf("%d dataplane errors counted, want at least 4", s.DataplaneErrors)
	}
}

func TestMissingInterfaceIsNotAnnounced(t *testing.T) {
	l := newLab(t)
	rr := startReflector(t, l, 1)
	defer rr.Stop()
	a, b := startHost(t, l, 1, 1), startHost(t, l, 2, 1)
	b.nic(t, 100)
	a.dp.set(func(r *recorder) { r.missing[nicName(100)] = true })
	ra := a.nic(t, 100)
	settle()
	if b.dp.Has(ra) {
		t.Fatal("route of an interface whose device is missing was announced")
	}
	if present, announced := a.InterfaceState(nicName(100)); present || announced {
		t.Fatalf("missing interface: present %t, announced %t", present, announced)
	}
	a.dp.set(func(r *recorder) { delete(r.missing, nicName(100)) })
	// The agent re-applies every missingPoll (2 s) while a device is missing and notices it,
	// well before the 30 s resync, with nothing else changing.
	if !lab.Eventually(6*time.Second, func() bool { return b.dp.Has(ra) }) {
		t.Fatal("the route of the interface whose device appeared was not announced within 6 s")
	}
	if present, announced := a.InterfaceState(nicName(100)); !present || !announced {
		t.Errorf("interface that appeared: present %t, announced %t", present, announced)
	}
}

func TestHTTPIsReadOnly(t *testing.T) {
	l := newLab(t)
	rr := startReflector(t, l, 1)
	defer rr.Stop()
	a := startHost(t, l, 1, 1)
	a.nic(t, 100)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	for _, path := range []string{"/status", "/interfaces", "/routes", "/metrics"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s: %s %q", path, res.Status, body)
		}
	}
	res, err := http.Post(srv.URL+"/routes", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /routes: %s, want 405", res.Status)
	}
	if _, err := agent.NewHTTPServer(netip.MustParseAddrPort("192.0.2.1:80"), a.Handler()); err == nil {
		t.Error("status server on a non-loopback address was accepted")
	}
}
