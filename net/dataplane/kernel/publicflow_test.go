package kernel

import (
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// Public services between two hypervisors; VNI 100 is a tenant's, VNI 1000 the public one,
// where "out" stands for the internet.
//
//	g  10.0.0.1 VIP 203.0.113.10            ─ fra ┐
//	n1 10.0.0.2 NAT 203.0.113.20:1024-2047  ─ frb │
//	l1 10.0.0.3 LB 203.0.113.30 tcp 80      ─ frc ├ hv1 ─ hv2 ┬ frf ─ n2 10.0.0.6 NAT 203.0.113.20:2048-3071
//	l2 10.0.0.4 LB 203.0.113.30 tcp 80      ─ frd │           └ frx ─ out 198.51.100.1 (vni 1000)
//	p  10.0.0.5 no public service           ─ fre ┘
const publicVNI = 1000

func TestPublicServices(t *testing.T) {
	needRoot(t)
	hv1, hv2, d1, d2 := hypervisors(t)
	g := newGuest(t, hv1, "fra", "10.0.0.1")
	n1 := newGuest(t, hv1, "frb", "10.0.0.2")
	l1 := newGuest(t, hv1, "frc", "10.0.0.3")
	l2 := newGuest(t, hv1, "frd", "10.0.0.4")
	p := newGuest(t, hv1, "fre", "10.0.0.5")
	n2 := newGuest(t, hv2, "frf", "10.0.0.6")
	out := newGuest(t, hv2, "frx", "198.51.100.1")
	vip, natIP, lbIP := netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.20"), netip.MustParseAddr("203.0.113.30")
	lb := []dataplane.LoadBalancer{{IP: lbIP, Ports: []dataplane.PortRange{{Protocol: "TCP", First: 80}}}}
	withVIP := iface("fra", 100, "10.0.0.1/32")
	withVIP.VirtualIP = vip
	withNAT1 := iface("frb", 100, "10.0.0.2/32")
	withNAT1.NAT = &dataplane.NAT{IP: natIP, PortMin: 1024, PortMax: 2047}
	target1, target2 := iface("frc", 100, "10.0.0.3/32"), iface("frd", 100, "10.0.0.4/32")
	target1.LoadBalancers, target2.LoadBalancers = lb, lb
	withNAT2 := iface("frf", 100, "10.0.0.6/32")
	withNAT2.NAT = &dataplane.NAT{IP: natIP, PortMin: 2048, PortMax: 3071}
	nat := func(hop string, min, max uint16) route.Route {
		r := rt(publicVNI, "203.0.113.20/32", hop, route.KindNAT)
		r.PortMin, r.PortMax = min, max
		return r
	}
	// Each host learns the other's routes and gets its own reflected back (ignored).
	routes := []route.Route{
		rt(100, "10.0.0.1/32", "192.0.2.1", route.KindStandard), rt(100, "10.0.0.2/32", "192.0.2.1", route.KindStandard),
		rt(100, "10.0.0.3/32", "192.0.2.1", route.KindStandard), rt(100, "10.0.0.4/32", "192.0.2.1", route.KindStandard),
		rt(100, "10.0.0.5/32", "192.0.2.1", route.KindStandard), rt(100, "10.0.0.6/32", "192.0.2.2", route.KindStandard),
		rt(publicVNI, "203.0.113.10/32", "192.0.2.1", route.KindStandard),
		rt(publicVNI, "203.0.113.30/32", "192.0.2.1", route.KindLoadBalancer),
		nat("192.0.2.1", 1024, 2047), nat("192.0.2.2", 2048, 3071),
		rt(publicVNI, "198.51.100.1/32", "192.0.2.2", route.KindStandard),
	}
	vteps := func(a string) []netip.Addr { return []netip.Addr{netip.MustParseAddr(a)} }
	s1 := dataplane.State{PublicVNI: publicVNI, Routes: routes, VTEPs: vteps("192.0.2.2"),
		Interfaces: []dataplane.Interface{withVIP, withNAT1, target1, target2, iface("fre", 100, "10.0.0.5/32")}}
	s2 := dataplane.State{PublicVNI: publicVNI, Routes: routes, VTEPs: vteps("192.0.2.1"),
		Interfaces: []dataplane.Interface{withNAT2, iface("frx", publicVNI, "198.51.100.1/32")}}
	hv1.mustApply(d1, s1)
	hv2.mustApply(d2, s2)
	hv1.mustApply(d1, s1) // idempotent
	for _, n := range []*node{g, n1, l1, l2, p, n2, out} {
		listenWho(t, n, 8000)
	}
	listenWho(t, l1, 80)
	listenWho(t, l2, 80)
	listenWho(t, l1, 81)

	// VirtualIP: the outside reaches g at the VIP and g sees the outside's address; g's own
	// connections leave from the VIP.
	if got := hostOnly(out.fetch("203.0.113.10:8000")); got != "fra 198.51.100.1" {
		t.Errorf("out → VIP: got %q, want g (fra) seeing 198.51.100.1", got)
	}
	if got := hostOnly(g.fetch("198.51.100.1:8000")); got != "frx 203.0.113.10" {
		t.Errorf("g → out: got %q, want out seeing the VIP", got)
	}
	if !out.ping("203.0.113.10") || !g.ping("198.51.100.1") {
		t.Error("ping between the outside and the VIP fails")
	}

	// NAT: both shares leave from the NAT address with ports in their own range; replies to
	// hv1's range are steered there from hv2, where the outside host is.
	for range 3 {
		for _, c := range []struct {
			from     *node
			min, max int
		}{{n1, 1024, 2047}, {n2, 2048, 3071}} {
			got := c.from.fetch("198.51.100.1:8000")
			host, port, _ := net.SplitHostPort(strings.TrimPrefix(got, "frx "))
			if pn, _ := strconv.Atoi(port); host != natIP.String() || pn < c.min || pn > c.max {
				t.Errorf("%s → out: got %q, want the NAT address with a port in %d-%d", c.from.name, got, c.min, c.max)
			}
		}
	}
	if !n1.ping("198.51.100.1") || !n2.ping("198.51.100.1") {
		t.Error("NAT shares cannot ping the outside (echo ids steered like ports)")
	}
	if out.connects("203.0.113.20:8000") {
		t.Error("the outside opens a connection to the NAT address")
	}

	// Load balancer: connections from the outside reach both local targets, on the
	// balanced port only.
	seen := map[string]bool{}
	for range 24 {
		if got := out.fetch("203.0.113.30:80"); got != "" {
			seen[got] = true
		}
	}
	if want := map[string]bool{"frc 198.51.100.1": true, "frd 198.51.100.1": true}; !maps.Equal(seen, want) {
		t.Errorf("out → LB: answers %v, want both targets seeing the outside", seen)
	}
	if out.connects("203.0.113.30:81") {
		t.Error("the outside reaches a port the load balancer does not balance")
	}

	// Anti-spoof: a target with no VIP or NAT only answers; what it sends leaves nowhere. The
	// VIP's guest sends the same way as a control.
	got := listenUDP(t, out, 7777)
	sendUDP(t, g, "10.0.0.1", "198.51.100.1:7777", []byte("from the vip"))
	if !received(got) {
		t.Error("g's datagram to the outside did not arrive")
	}
	sendUDP(t, l1, "10.0.0.3", "198.51.100.1:7777", []byte("spoof"))
	if received(got) {
		t.Error("a load-balancer target's datagram reached the outside with its private source")
	}

	// Isolation: p has no public service; nobody reaches a host's addresses or a private
	// address from the outside.
	sendUDP(t, p, "10.0.0.5", "198.51.100.1:7777", []byte("private"))
	if received(got) {
		t.Error("a guest without public services reached the outside")
	}
	for _, c := range []struct {
		from *node
		addr string
	}{
		{p, "198.51.100.1"}, {p, "203.0.113.10"}, {g, "192.0.2.1"}, {g, "192.0.2.2"}, {n1, "192.0.2.1"},
		{out, "192.0.2.1"}, {out, "192.0.2.2"}, {out, "10.0.0.1"}, {out, "10.0.0.6"}, {l1, "198.51.100.1"},
	} {
		if c.from.ping(c.addr) {
			t.Errorf("%s reaches %s", c.from.name, c.addr)
		}
	}
	if !p.ping("10.0.0.6") || !g.ping("10.0.0.6") {
		t.Error("tenant traffic inside VNI 100 broke")
	}

	// Rules and tables as documented.
	mark := func(m uint32, mask uint32, table int) string { return fmt.Sprintf("%#x/%#x->%d@99", m, mask, table) }
	wantPublic := []string{mark(TenantMark(100), 0xffffffff, 100), mark(NATHopMark(0), natHopMask, route.MaxVNI+1),
		"fra->1000@101", "frb->1000@101", "frc->1000@101", "frd->1000@101"}
	if got := ferriteRules(t, hv1.h, unix.AF_INET); !containsAll(got, wantPublic) || slices.Contains(got, "fre->1000@101") {
		t.Errorf("hv1 rules %v, want %v among them and none for fre", got, wantPublic)
	}
	if got, want := tableRoutesAt(t, hv1.h, d1.NATHopTable(0)), []string{"0.0.0.0/0 192.0.2.2"}; !slices.Equal(got, want) {
		t.Errorf("hv1 NAT hop table: %v, want %v", got, want)
	}

	// Public services removed: every rule, table and nftables object they made goes.
	s1.Interfaces = []dataplane.Interface{iface("fra", 100, "10.0.0.1/32"), iface("frb", 100, "10.0.0.2/32"),
		iface("frc", 100, "10.0.0.3/32"), iface("frd", 100, "10.0.0.4/32"), iface("fre", 100, "10.0.0.5/32")}
	s1.Routes = slices.DeleteFunc(slices.Clone(routes), func(r route.Route) bool { return r.VNI == publicVNI })
	hv1.mustApply(d1, s1)
	for _, r := range ferriteRules(t, hv1.h, unix.AF_INET) {
		if strings.HasPrefix(r, "0x") || strings.Contains(r, "->1000@") || strings.Contains(r, "fvx1000") {
			t.Errorf("hv1 kept public rule %s", r)
		}
	}
	if got := tableRoutes(t, hv1.h, publicVNI); len(got) != 0 {
		t.Errorf("hv1 kept the public table: %v", got)
	}
	if got := tableRoutesAt(t, hv1.h, d1.NATHopTable(0)); len(got) != 0 {
		t.Errorf("hv1 kept the NAT hop table: %v", got)
	}
	if got := publicNFT(t, hv1); len(got) != 0 {
		t.Errorf("hv1 kept nftables objects %v", got)
	}
	if out.ping("203.0.113.10") {
		t.Error("the VIP still answers after its removal")
	}
	if !p.ping("10.0.0.6") {
		t.Error("tenant traffic broke after removing the public services")
	}
}

// A state whose public services cannot be installed names each interface and installs the
// rest.
func TestPublicServicesErrors(t *testing.T) {
	needRoot(t)
	hv := newNode(t, "hv")
	other := newNode(t, "x")
	link(t, hv, "u1", other, "u2")
	addAddr(t, hv, "u1", "192.0.2.1/24")
	d := hv.dataplane("192.0.2.1")
	v6 := iface("frv6", 100, "10.0.0.1/32")
	v6.VirtualIP = netip.MustParseAddr("2001:db8::1")
	plain := iface("frok", 100, "10.0.0.2/32")
	plain.VirtualIP = netip.MustParseAddr("203.0.113.1")
	s := dataplane.State{Interfaces: []dataplane.Interface{v6, plain}}
	_, err := hv.apply(d, s)
	if err == nil || !strings.Contains(err.Error(), "interface frok: public services need a public VNI") {
		t.Errorf("without a public VNI: error %v does not name frok", err)
	}
	s.PublicVNI = publicVNI
	_, err = hv.apply(d, s)
	if err == nil || !strings.Contains(err.Error(), "interface frv6: virtual IP 2001:db8::1: IPv6") || strings.Contains(err.Error(), "frok") {
		t.Errorf("with an IPv6 VIP: error %v, want one naming frv6 only", err)
	}
	if got := ferriteRules(t, hv.h, unix.AF_INET); !slices.Contains(got, "frok->1000@101") || !slices.Contains(got, "frv6->100@100") {
		t.Errorf("rules %v: frok's public rule or frv6's own rule missing", got)
	}
}

// listenWho serves "<hypervisor-side interface name> <client address>" on a TCP port of a
// guest (its name ends in the interface's name), so a client learns who answered and from
// which address it was seen.
func listenWho(t *testing.T, n *node, port int) {
	t.Helper()
	var l net.Listener
	var err error
	n.do(func() { l, err = net.Listen("tcp4", fmt.Sprintf(":%d", port)) })
	if err != nil {
		t.Fatalf("%s: listen on %d: %v", n.name, port, err)
	}
	t.Cleanup(func() { l.Close() })
	who := n.name[strings.LastIndex(n.name, "-g")+2:]
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			remote := c.RemoteAddr().(*net.TCPAddr)
			addr := remote.IP.String()
			if port == 8000 {
				addr = remote.String() // with the port, for the NAT checks
			}
			c.Write([]byte(who + " " + addr))
			c.Close()
		}
	}()
}

// fetch connects from n to addr and returns what the server wrote ("" when it fails).
func (n *node) fetch(addr string) string {
	var got string
	n.do(func() {
		c, err := net.DialTimeout("tcp4", addr, 700*time.Millisecond)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		b, _ := io.ReadAll(c)
		got = string(b)
	})
	return got
}

// hostOnly drops the port from a "who address:port" answer.
func hostOnly(s string) string {
	if i := strings.LastIndex(s, ":"); i > 0 {
		return s[:i]
	}
	return s
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// nonPublicSets are the named sets of the `inet ferrite` table that public services do not
// make.
var nonPublicSets = []string{"vteps", "interfaces", "egress", "ingress", "guests", "guest_addrs4", "guest_addrs6"}

// publicNFT lists the public chains and sets left in the node's `inet ferrite` table.
func publicNFT(t *testing.T, n *node) []string {
	t.Helper()
	var out []string
	var err error
	n.do(func() {
		var c *nftables.Conn
		if c, err = nftables.New(); err != nil {
			return
		}
		tbl := &nftables.Table{Family: nftables.TableFamilyINet, Name: NFTable}
		var chains []*nftables.Chain
		if chains, err = c.ListChainsOfTableFamily(nftables.TableFamilyINet); err != nil {
			return
		}
		for _, ch := range chains {
			if ch.Table.Name == NFTable && strings.HasPrefix(ch.Name, "public") {
				out = append(out, "chain "+ch.Name)
			}
		}
		var sets []*nftables.Set
		if sets, err = c.GetSets(tbl); err != nil {
			return
		}
		for _, s := range sets {
			if !s.Anonymous && !slices.Contains(nonPublicSets, s.Name) {
				out = append(out, "set "+s.Name)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
