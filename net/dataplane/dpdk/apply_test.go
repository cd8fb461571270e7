package dpdk_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/dataplane/dpdk"
	"github.com/ferrite-dev/ferrite/net/route"
)

var (
	p  = netip.MustParsePrefix
	ip = netip.MustParseAddr
)

var underlay = ip("192.0.2.1")

func dial(t testing.TB, addr string) *dpdk.Dataplane {
	t.Helper()
	d, err := dpdk.Dial(dpdk.Config{Address: addr, Underlay: underlay, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// full is a state using every kind of object: 2 interfaces, 3 routes, a virtual IP, a NAT, a
// neighbour NAT, a load balancer with 2 targets and 2 firewall rules.
func full() (dataplane.State, dpdk.Services) {
	s := dataplane.State{
		Interfaces: []dataplane.Interface{
			{Name: "tap0", VNI: 100, Addresses: []netip.Prefix{p("10.0.0.1/32"), p("fd00::1/128")}},
			{Name: "tap1", VNI: 100, Addresses: []netip.Prefix{p("10.0.0.2/32")}},
		},
		Routes: []route.Route{
			{VNI: 100, Prefix: p("10.0.0.3/32"), NextHop: ip("192.0.2.2")},
			{VNI: 100, Prefix: p("0.0.0.0/0"), NextHop: ip("192.0.2.9"), Kind: route.KindNAT, PortMin: 1024, PortMax: 2047},
			{VNI: 100, Prefix: p("10.0.9.9/32"), NextHop: ip("192.0.2.7"), Kind: route.KindLoadBalancer},
		},
		VTEPs: []netip.Addr{ip("192.0.2.2")},
	}
	svc := dpdk.Services{
		VirtualIPs:   []dpdk.VirtualIP{{Interface: "tap0", IP: ip("203.0.113.10")}},
		NATs:         []dpdk.NAT{{Interface: "tap1", IP: ip("203.0.113.1"), Ports: dpdk.PortRange{Min: 2048, Max: 3071}}},
		NeighborNATs: []dpdk.NeighborNAT{{VNI: 1, IP: ip("203.0.113.1"), Ports: dpdk.PortRange{Min: 1024, Max: 2047}, NextHop: ip("192.0.2.9")}},
		LoadBalancers: []dpdk.LoadBalancer{{ID: "web", VNI: 100, IP: ip("10.0.9.9"),
			Ports:   []dpdk.LoadBalancerPort{{Protocol: dpdk.ProtocolTCP, Port: 443}, {Protocol: dpdk.ProtocolTCP, Port: 80}},
			Targets: []netip.Addr{ip("192.0.2.7"), ip("192.0.2.8")}}},
		FirewallRules: []dpdk.FirewallRule{
			{Interface: "tap0", ID: "ssh", Priority: 10, Source: p("0.0.0.0/0"), Destination: p("10.0.0.1/32"),
				Protocol: dpdk.ProtocolTCP, DestinationPorts: dpdk.PortRange{Min: 22, Max: 22}},
			{Interface: "tap0", ID: "rest", Priority: 100, Action: dpdk.Drop, Source: p("0.0.0.0/0"), Destination: p("0.0.0.0/0")},
		},
	}
	return s, svc
}

const fullSizes = "interfaces 2 routes 3 vips 1 nats 1 nnats 1 lbs 1 targets 2 rules 2"

// changes counts the calls that change the fast path (Create*, Delete*, Initialize).
func changes(calls map[string]int) string {
	var out []string
	for m, n := range calls {
		if strings.HasPrefix(m, "Create") || strings.HasPrefix(m, "Delete") || m == "Initialize" {
			out = append(out, fmt.Sprintf("%s %d", m, n))
		}
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

func apply(t *testing.T, d *dpdk.Dataplane, s dataplane.State, svc dpdk.Services) dataplane.Result {
	t.Helper()
	res, err := d.ApplyServices(context.Background(), s, svc)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return res
}

func TestApplyCreatesEverythingThenOnlyTheDifference(t *testing.T) {
	fp := newFastPath()
	d := dial(t, fp.serve(t))
	s, svc := full()
	if res := apply(t, d, s, svc); len(res.Missing) != 0 {
		t.Errorf("missing %v", res.Missing)
	}
	if got := fp.sizes(); got != fullSizes {
		t.Errorf("fast path holds %s, want %s", got, fullSizes)
	}
	want := "CreateFirewallRule 2, CreateInterface 2, CreateLoadBalancer 1, CreateLoadBalancerTarget 2, " +
		"CreateNAT 1, CreateNeighborNAT 1, CreateRoute 3, CreateVirtualIP 1, Initialize 1"
	if got := changes(fp.count()); got != want {
		t.Errorf("first apply: %s\nwant %s", got, want)
	}
	if a, ok := d.UnderlayRoute("tap0"); !ok || a != underlay {
		t.Errorf("underlay route of tap0: %v %v", a, ok)
	}

	// The same state again changes nothing, although the fast path lists addresses in another
	// order and routes with an explicit weight.
	apply(t, d, s, svc)
	if got := changes(fp.count()); got != "" {
		t.Errorf("second apply of the same state changed: %s", got)
	}

	// Changes: one route replaced by another, tap1 gets another address (replaced, so its NAT
	// is made again), the load balancer loses port 80 (replaced with its targets), a rule goes.
	s.Routes[0].Prefix = p("10.0.0.4/32")
	s.Interfaces[1].Addresses = append(s.Interfaces[1].Addresses, p("10.0.1.0/24"))
	svc.LoadBalancers[0].Ports = svc.LoadBalancers[0].Ports[:1]
	svc.FirewallRules = svc.FirewallRules[:1]
	apply(t, d, s, svc)
	want = "CreateInterface 1, CreateLoadBalancer 1, CreateLoadBalancerTarget 2, CreateNAT 1, CreateRoute 1, " +
		"DeleteFirewallRule 1, DeleteInterface 1, DeleteLoadBalancer 1, DeleteRoute 1"
	if got := changes(fp.count()); got != want {
		t.Errorf("apply of changes: %s\nwant %s", got, want)
	}
	if got, want := fp.sizes(), "interfaces 2 routes 3 vips 1 nats 1 nnats 1 lbs 1 targets 2 rules 1"; got != want {
		t.Errorf("fast path holds %s, want %s", got, want)
	}
	apply(t, d, s, svc)
	if got := changes(fp.count()); got != "" {
		t.Errorf("apply after changes is not idempotent: %s", got)
	}

	// The empty state empties the fast path.
	apply(t, d, dataplane.State{}, dpdk.Services{})
	if got, want := fp.sizes(), "interfaces 0 routes 0 vips 0 nats 0 nnats 0 lbs 0 targets 0 rules 0"; got != want {
		t.Errorf("fast path holds %s, want %s", got, want)
	}
}

func TestFastPathRestartReplaysEverything(t *testing.T) {
	fp := newFastPath()
	d := dial(t, fp.serve(t))
	s, svc := full()
	d.SetServices(svc)
	ctx := context.Background()
	if _, err := d.Apply(ctx, s); err != nil {
		t.Fatal(err)
	}
	first := changes(fp.count())
	fp.restart()
	if _, err := d.Apply(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got := changes(fp.count()); got != first {
		t.Errorf("after the restart: %s\nwant the first apply's %s", got, first)
	}
	if got := fp.sizes(); got != fullSizes {
		t.Errorf("fast path holds %s, want %s", got, fullSizes)
	}
}

// TestAgentRestartRemovesStaleObjects: a new agent (a new Dataplane) finds the fast path
// initialized with what its predecessor made; it keeps what it still wants, in place, and
// removes the rest.
func TestAgentRestartRemovesStaleObjects(t *testing.T) {
	fp := newFastPath()
	addr := fp.serve(t)
	s, svc := full()
	apply(t, dial(t, addr), s, svc)
	fp.count()

	s.Interfaces = s.Interfaces[:1] // tap1 goes, and its NAT
	s.Routes = s.Routes[:2]
	svc.NATs, svc.LoadBalancers = nil, nil
	apply(t, dial(t, addr), s, svc)
	// Deleting tap1 and the load balancer takes the NAT and the targets with them.
	want := "DeleteInterface 1, DeleteLoadBalancer 1, DeleteRoute 1"
	if got := changes(fp.count()); got != want {
		t.Errorf("restarted agent: %s\nwant %s", got, want)
	}
	if got, want := fp.sizes(), "interfaces 1 routes 2 vips 1 nats 0 nnats 1 lbs 0 targets 0 rules 2"; got != want {
		t.Errorf("fast path holds %s, want %s", got, want)
	}
}

func TestMissingDeviceWaits(t *testing.T) {
	fp := newFastPath()
	fp.setAbsent("tap0", true)
	d := dial(t, fp.serve(t))
	s, svc := full()
	res := apply(t, d, s, svc)
	if fmt.Sprint(res.Missing) != "[tap0]" {
		t.Errorf("missing %v, want [tap0]", res.Missing)
	}
	// tap0's virtual IP and rules wait for it; the rest is there.
	if got, want := fp.sizes(), "interfaces 1 routes 3 vips 0 nats 1 nnats 1 lbs 1 targets 2 rules 0"; got != want {
		t.Errorf("fast path holds %s, want %s", got, want)
	}
	fp.setAbsent("tap0", false)
	if res := apply(t, d, s, svc); len(res.Missing) != 0 {
		t.Errorf("missing %v after the device appeared", res.Missing)
	}
	if got := fp.sizes(); got != fullSizes {
		t.Errorf("fast path holds %s, want %s", got, fullSizes)
	}
}

func TestFailuresAreNamedAndTheRestApplied(t *testing.T) {
	fp := newFastPath()
	fp.full = 666
	d := dial(t, fp.serve(t))
	s, svc := full()
	bad := route.Route{VNI: 666, Prefix: p("10.6.6.0/24"), NextHop: ip("192.0.2.7")}
	s.Routes = append(s.Routes, bad)
	svc.VirtualIPs = append(svc.VirtualIPs, dpdk.VirtualIP{Interface: "tap7", IP: ip("203.0.113.77")})
	twin := svc.LoadBalancers[0]
	twin.IP = ip("10.0.9.8")
	svc.LoadBalancers = append(svc.LoadBalancers, twin)
	_, err := d.ApplyServices(context.Background(), s, svc)
	for _, want := range []string{"create route " + bad.String(), "interface tap7 is not in the state", "load balancer web given twice"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
	if got := fp.sizes(); got != fullSizes {
		t.Errorf("fast path holds %s, want %s", got, fullSizes)
	}
}

func TestUnreachableFastPathIsAnError(t *testing.T) {
	d := dial(t, "unix://"+t.TempDir()+"/nothing.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 2e9)
	defer cancel()
	if _, err := d.Apply(ctx, dataplane.State{}); err == nil || !strings.Contains(err.Error(), "nothing.sock") {
		t.Errorf("apply without a fast path: %v", err)
	}
}
