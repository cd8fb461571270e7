package kernel

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// inNetns runs the test body on a thread moved into a fresh network namespace, so that the
// dataplane programs nothing of the host's. It skips, saying why, when that is impossible.
func inNetns(t *testing.T, body func(h *netlink.Handle)) {
	if os.Geteuid() != 0 {
		t.Skip("kernel dataplane tests need root (network namespaces, netlink)")
	}
	rep, err := Probe()
	if err != nil {
		t.Skipf("cannot probe the kernel: %v", err)
	}
	if err := rep.Require(Required...); err != nil {
		t.Skipf("kernel lacks what the dataplane needs: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		ns, err := netns.New()
		if err != nil {
			t.Errorf("new netns: %v", err)
			return
		}
		defer ns.Close()
		h, err := netlink.NewHandleAt(ns)
		if err != nil {
			t.Errorf("netlink: %v", err)
			return
		}
		defer h.Close()
		// A namespace starts with lo down, and the kernel rejects on-link gateways until
		// its local table is up.
		lo, err := h.LinkByName("lo")
		if err == nil {
			err = h.LinkSetUp(lo)
		}
		if err != nil {
			t.Errorf("lo up: %v", err)
			return
		}
		body(h)
	}()
	<-done
}

func mustRoute(s string) route.Route {
	var r route.Route
	r.VNI = 100
	r.NextHop = netip.MustParseAddr(s)
	r.Prefix = netip.MustParsePrefix("10.0.0.2/32")
	return r
}

func TestProbeFindsRequired(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("probing needs root")
	}
	rep, err := Probe()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel: %s", rep)
	if err := rep.Require(Required...); err != nil {
		t.Skipf("this kernel cannot run the kernel dataplane: %v", err)
	}
	if rep.Require("no-such-device") == nil {
		t.Error("an unprobed type is reported present")
	}
}

func TestInterfaceAndECMPRoutes(t *testing.T) {
	inNetns(t, func(h *netlink.Handle) {
		ctx := context.Background()
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "nic1"}, PeerName: "vm1"}
		if err := h.LinkAdd(veth); err != nil {
			t.Fatal(err)
		}
		d, err := New(Config{Underlay: netip.MustParseAddr("192.0.2.1"), Handle: h, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		iface := dataplane.Interface{Name: "nic1", VNI: 100, Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}}
		if err := d.AddInterface(ctx, iface); err != nil {
			t.Fatal(err)
		}
		a, b := mustRoute("192.0.2.2"), mustRoute("192.0.2.3")
		for _, r := range []route.Route{a, b, a} {
			if err := d.AddRoute(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if hops := kernelHops(t, h, d.Table(100), a.Prefix); len(hops) != 2 {
			t.Fatalf("want an ECMP route with 2 next hops, got %v", hops)
		}
		if n := permanentNeighbors(t, h, 100); n != 2 {
			t.Errorf("want 2 neighbor entries on %s, got %d", DeviceName(100), n)
		}
		if !hasRule(t, h, "nic1", d.Table(100)) || !hasRule(t, h, DeviceName(100), d.Table(100)) {
			t.Error("policy rules for the interface and the vxlan device missing")
		}
		if err := d.DeleteRoute(ctx, a); err != nil {
			t.Fatal(err)
		}
		if hops := kernelHops(t, h, d.Table(100), a.Prefix); len(hops) != 1 || hops[0] != "192.0.2.3" {
			t.Errorf("after deleting one next hop: %v", hops)
		}
		if err := d.DeleteRoute(ctx, b); err != nil {
			t.Fatal(err)
		}
		if hops := kernelHops(t, h, d.Table(100), a.Prefix); len(hops) != 0 {
			t.Errorf("route left after deleting every next hop: %v", hops)
		}
		if n := permanentNeighbors(t, h, 100); n != 0 {
			t.Errorf("%d neighbor entries left", n)
		}
		if err := d.DeleteInterface(ctx, iface); err != nil {
			t.Fatal(err)
		}
		if hasRule(t, h, "nic1", d.Table(100)) {
			t.Error("rule for a deleted interface left behind")
		}
		v6 := route.Route{VNI: 100, Prefix: netip.MustParsePrefix("fd00::1/128"), NextHop: netip.MustParseAddr("192.0.2.2")}
		if err := d.AddRoute(ctx, v6); err == nil {
			t.Error("IPv6 overlay route accepted by the kernel dataplane")
		}
	})
}

func kernelHops(t *testing.T, h *netlink.Handle, table int, p netip.Prefix) []string {
	t.Helper()
	rs, err := h.RouteListFiltered(unix.AF_INET, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		if r.Dst == nil || r.Dst.String() != p.String() {
			continue
		}
		if r.Gw != nil {
			out = append(out, r.Gw.String())
		}
		for _, nh := range r.MultiPath {
			out = append(out, nh.Gw.String())
		}
	}
	return out
}

func permanentNeighbors(t *testing.T, h *netlink.Handle, vni uint32) int {
	t.Helper()
	link, err := h.LinkByName(DeviceName(vni))
	if err != nil {
		t.Fatal(err)
	}
	ns, err := h.NeighList(link.Attrs().Index, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ns {
		if e.State == netlink.NUD_PERMANENT {
			n++
		}
	}
	return n
}

func hasRule(t *testing.T, h *netlink.Handle, iif string, table int) bool {
	t.Helper()
	rules, err := h.RuleList(unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.IifName == iif && r.Table == table {
			return true
		}
	}
	return false
}
