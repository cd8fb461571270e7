package kernel

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

func iface(name string, vni uint32, addrs ...string) dataplane.Interface {
	i := dataplane.Interface{Name: name, VNI: vni}
	for _, a := range addrs {
		i.Addresses = append(i.Addresses, netip.MustParsePrefix(a))
	}
	return i
}

func rt(vni uint32, prefix, hop string, kind route.Kind) route.Route {
	r := route.Route{VNI: vni, Prefix: netip.MustParsePrefix(prefix), NextHop: netip.MustParseAddr(hop), Kind: kind}
	if kind == route.KindNAT {
		r.PortMin, r.PortMax = 1024, 2047
	}
	return r
}

// apply runs Apply on the node's thread.
func (n *node) apply(d *Dataplane, s dataplane.State) (dataplane.Result, error) {
	var res dataplane.Result
	var err error
	n.do(func() { res, err = d.Apply(context.Background(), s) })
	return res, err
}

func (n *node) mustApply(d *Dataplane, s dataplane.State) dataplane.Result {
	n.t.Helper()
	res, err := n.apply(d, s)
	if err != nil {
		n.t.Fatalf("%s: apply: %v", n.name, err)
	}
	return res
}

// ferriteRules lists Ferrite's rules of a family as "iif->table@priority" (table relative to
// DefaultTableBase), "iif->unreachable@priority", or "mark/mask->table@priority".
func ferriteRules(t *testing.T, h *netlink.Handle, fam int) []string {
	t.Helper()
	rules, err := h.RuleList(fam)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rules {
		if r.Protocol != Protocol && r.Table <= DefaultTableBase {
			continue
		}
		sel, action := r.IifName, "unreachable"
		if r.Mask != nil {
			sel = fmt.Sprintf("%#x/%#x", r.Mark, *r.Mask)
		}
		if r.Table > 0 {
			action = strconv.Itoa(r.Table - DefaultTableBase)
		}
		out = append(out, sel+"->"+action+"@"+strconv.Itoa(r.Priority))
	}
	slices.Sort(out)
	return out
}

// localRules lists the priorities of the `lookup local` rules of a family.
func localRules(t *testing.T, h *netlink.Handle, fam int) []int {
	t.Helper()
	rules, err := h.RuleList(fam)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, r := range rules {
		if r.Table == unix.RT_TABLE_LOCAL {
			out = append(out, r.Priority)
		}
	}
	return out
}

// tableRoutes lists the routes of a VNI's table as "dst via hops dev" strings, sorted.
func tableRoutes(t *testing.T, h *netlink.Handle, vni uint32) []string {
	t.Helper()
	return tableRoutesAt(t, h, DefaultTableBase+int(vni))
}

// tableRoutesAt lists the routes of a table as tableRoutes does.
func tableRoutesAt(t *testing.T, h *netlink.Handle, table int) []string {
	t.Helper()
	var out []string
	for _, fam := range families {
		rs, err := h.RouteListFiltered(fam, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			k, kr := fromKernel(fam, r)
			s := k.dst.String()
			if kr.typ == unix.RTN_THROW {
				s = "throw " + s
			}
			for _, hop := range kr.hops {
				s += " " + hop.String()
			}
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

func TestApplyConvergesAndSweeps(t *testing.T) {
	needRoot(t)
	hv := newNode(t, "hv")
	other := newNode(t, "x")
	link(t, hv, "u1", other, "u2")
	addAddr(t, hv, "u1", "192.0.2.1/24")
	link(t, hv, "frtap1", other, "g1")
	link(t, hv, "frtap2", other, "g2")
	d := hv.dataplane("192.0.2.1")

	// An earlier life left a rule for frtap1 in VNI 300's table, and that table.
	old := netlink.NewRule()
	old.IifName, old.Table, old.Priority, old.Protocol = "frtap1", DefaultTableBase+300, DefaultRulePriority, Protocol
	if err := hv.h.RuleAdd(old); err != nil {
		t.Fatal(err)
	}
	lo, _ := hv.h.LinkByName("lo")
	if err := hv.h.RouteAdd(&netlink.Route{Table: DefaultTableBase + 300, Dst: ipNet(netip.MustParsePrefix("10.9.0.0/16")),
		LinkIndex: lo.Attrs().Index}); err != nil {
		t.Fatal(err)
	}

	s := dataplane.State{
		Interfaces: []dataplane.Interface{
			iface("frtap1", 100, "10.0.0.1/32", "fd00::1/128"),
			iface("frtap2", 200, "10.0.0.1/32"),
			iface("frgone", 100, "10.0.0.9/32"),
		},
		Routes: []route.Route{
			rt(100, "10.0.0.2/32", "192.0.2.2", route.KindStandard),
			rt(100, "10.0.0.2/32", "192.0.2.3", route.KindStandard),
			rt(100, "10.0.0.2/32", "192.0.2.3", route.KindLoadBalancer),
			rt(100, "10.0.5.0/24", "192.0.2.4", route.KindLoadBalancer),
			rt(100, "0.0.0.0/0", "192.0.2.5", route.KindNAT),
			rt(100, "10.0.0.1/32", "192.0.2.2", route.KindStandard), // loses to the local address
			rt(100, "fd00::2/128", "192.0.2.2", route.KindStandard),
			rt(200, "10.0.0.2/32", "192.0.2.2", route.KindStandard),
		},
		VTEPs: []netip.Addr{netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")},
	}
	res := hv.mustApply(d, s)
	if !slices.Equal(res.Missing, []string{"frgone"}) {
		t.Errorf("missing = %v, want [frgone]", res.Missing)
	}
	if d.SkippedNAT() != 1 {
		t.Errorf("skipped nat = %d, want 1", d.SkippedNAT())
	}
	wantRules := []string{"frgone->100@100", "frgone->unreachable@102", "frtap1->100@100", "frtap1->unreachable@102",
		"frtap2->200@100", "frtap2->unreachable@102", "fvx100->100@100", "fvx100->unreachable@102", "fvx200->200@100",
		"fvx200->unreachable@102"}
	for _, fam := range families {
		if got := ferriteRules(t, hv.h, fam); !slices.Equal(got, wantRules) {
			t.Errorf("family %d rules %v, want %v (the old frtap1 rule must be gone)", fam, got, wantRules)
		}
		if got := localRules(t, hv.h, fam); !slices.Equal(got, []int{DefaultLocalRulePriority}) {
			t.Errorf("family %d local rules at %v, want only %d", fam, got, DefaultLocalRulePriority)
		}
	}
	want100 := []string{"10.0.0.1/32", "10.0.0.2/32 192.0.2.2 192.0.2.3", "10.0.5.0/24 192.0.2.4", "169.254.1.1/32",
		"fd00::1/128", "fd00::2/128 192.0.2.2", "throw 0.0.0.0/0", "throw ::/0"}
	if got := tableRoutes(t, hv.h, 100); !slices.Equal(got, want100) {
		t.Errorf("vni 100 table:\n got %v\nwant %v", got, want100)
	}
	if got := tableRoutes(t, hv.h, 300); len(got) != 0 {
		t.Errorf("stale table 300 kept %v", got)
	}
	if got := neighbors(t, hv.h, 100); !slices.Equal(got, []string{"192.0.2.2", "192.0.2.3", "192.0.2.4"}) {
		t.Errorf("vni 100 neighbours %v", got)
	}
	for _, dev := range []string{"frtap1", "fvx100"} {
		if l, err := hv.h.LinkByName(dev); err != nil || l.Attrs().MTU != 1450 {
			t.Errorf("%s mtu: %v %v, want 1450", dev, l, err)
		}
	}

	// A restarted process (a new Dataplane) converges to the same kernel without duplicates.
	before := tableRoutes(t, hv.h, 100)
	d2 := hv.dataplane("192.0.2.1")
	hv.mustApply(d2, s)
	hv.mustApply(d2, s)
	for _, fam := range families {
		if got := ferriteRules(t, hv.h, fam); !slices.Equal(got, wantRules) {
			t.Errorf("after restart, family %d rules %v", fam, got)
		}
		if got := localRules(t, hv.h, fam); !slices.Equal(got, []int{DefaultLocalRulePriority}) {
			t.Errorf("after restart, local rules at %v", got)
		}
	}
	if got := tableRoutes(t, hv.h, 100); !slices.Equal(got, before) {
		t.Errorf("after restart routes %v, want %v", got, before)
	}

	// VNI 200 goes, one next hop goes, frtap2 moves to VNI 100.
	s.Interfaces[1].VNI = 100
	s.Interfaces[1].Addresses = []netip.Prefix{netip.MustParsePrefix("10.0.0.7/32")}
	s.Routes = slices.DeleteFunc(s.Routes, func(r route.Route) bool { return r.VNI == 200 || r.NextHop.String() == "192.0.2.3" })
	hv.mustApply(d2, s)
	if _, err := hv.h.LinkByName("fvx200"); err == nil {
		t.Error("fvx200 left after its VNI went")
	}
	if got := tableRoutes(t, hv.h, 200); len(got) != 0 {
		t.Errorf("table 200 kept %v", got)
	}
	if got := ferriteRules(t, hv.h, unix.AF_INET); !slices.Equal(got, []string{"frgone->100@100", "frgone->unreachable@102",
		"frtap1->100@100", "frtap1->unreachable@102", "frtap2->100@100", "frtap2->unreachable@102", "fvx100->100@100",
		"fvx100->unreachable@102"}) {
		t.Errorf("rules after removing vni 200: %v", got)
	}
	if got := neighbors(t, hv.h, 100); !slices.Equal(got, []string{"192.0.2.2", "192.0.2.4"}) {
		t.Errorf("neighbours after removing 192.0.2.3: %v", got)
	}
	if got := tableRoutes(t, hv.h, 100); !slices.Contains(got, "10.0.0.2/32 192.0.2.2") || !slices.Contains(got, "10.0.0.7/32") {
		t.Errorf("vni 100 table after changes: %v", got)
	}

	// Nothing: everything of Ferrite's goes, the local rule stays moved.
	hv.mustApply(d2, dataplane.State{})
	if got := ferriteRules(t, hv.h, unix.AF_INET); len(got) != 0 {
		t.Errorf("rules left: %v", got)
	}
	if _, err := hv.h.LinkByName("fvx100"); err == nil {
		t.Error("fvx100 left")
	}
}

// neighbors lists the permanent neighbours on a VNI's device that also have a forwarding
// entry to the same address with the router MAC.
func neighbors(t *testing.T, h *netlink.Handle, vni uint32) []string {
	t.Helper()
	l, err := h.LinkByName(DeviceName(vni))
	if err != nil {
		t.Fatal(err)
	}
	fdb := map[string]bool{}
	entries, err := h.NeighList(l.Attrs().Index, unix.AF_BRIDGE)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.LinkIndex == l.Attrs().Index && e.IP != nil {
			fdb[e.IP.String()+e.HardwareAddr.String()] = true
		}
	}
	ns, err := h.NeighList(l.Attrs().Index, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ns {
		if e.State == netlink.NUD_PERMANENT && fdb[e.IP.String()+e.HardwareAddr.String()] {
			out = append(out, e.IP.String())
		}
	}
	slices.Sort(out)
	return out
}

// A failed item is named in the error, does not stop the rest, and the next Apply fixes it; an
// interface whose device appears later is installed by the next Apply.
func TestApplyRetriesFailedAndMissing(t *testing.T) {
	needRoot(t)
	hv := newNode(t, "hv")
	other := newNode(t, "x")
	link(t, hv, "u1", other, "u2")
	addAddr(t, hv, "u1", "192.0.2.1/24")
	link(t, hv, "frtap1", other, "g1")
	// Another VXLAN device holds VNI 300 on Ferrite's port, so fvx300 cannot be created.
	blocker := &netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: "blocker"}, VxlanId: 300, Port: DefaultPort,
		SrcAddr: netip.MustParseAddr("192.0.2.1").AsSlice()}
	if err := hv.h.LinkAdd(blocker); err != nil {
		t.Fatal(err)
	}
	d := hv.dataplane("192.0.2.1")
	s := dataplane.State{
		Interfaces: []dataplane.Interface{iface("frtap1", 100, "10.0.0.1/32"), iface("frlate", 300, "10.3.0.1/32")},
		Routes:     []route.Route{rt(300, "10.3.0.2/32", "192.0.2.2", route.KindStandard)},
	}
	res, err := hv.apply(d, s)
	if err == nil || !strings.Contains(err.Error(), "vni 300") {
		t.Fatalf("apply with an unusable VNI 300: error %v, want one naming vni 300", err)
	}
	if !slices.Equal(res.Missing, []string{"frlate"}) {
		t.Errorf("missing %v, want [frlate]", res.Missing)
	}
	if got := tableRoutes(t, hv.h, 100); !slices.Contains(got, "10.0.0.1/32") {
		t.Errorf("vni 100 not installed beside the failed vni 300: %v", got)
	}
	if err := hv.h.LinkDel(blocker); err != nil {
		t.Fatal(err)
	}
	link(t, hv, "frlate", other, "g2")
	if res := hv.mustApply(d, s); len(res.Missing) != 0 {
		t.Errorf("still missing %v", res.Missing)
	}
	want := []string{"10.3.0.1/32", "10.3.0.2/32 192.0.2.2", "169.254.1.1/32", "throw 0.0.0.0/0", "throw ::/0"}
	if got := tableRoutes(t, hv.h, 300); !slices.Equal(got, want) {
		t.Errorf("vni 300 after the retry: %v, want %v", got, want)
	}
}
