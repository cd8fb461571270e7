package kernel

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// Three guests of VNI 100: A and B on hv1 (forwarded between two taps), C on hv2 (through
// VXLAN). B gets a policy; packets show what passes.
//
//	gA 10.0.0.1 ─ fra ┐
//	gB 10.0.0.2 ─ frb ┴ hv1 192.0.2.1 ─ hv2 192.0.2.2 ─ frc ─ gC 10.0.0.3
func TestPolicyFiltersPackets(t *testing.T) {
	needRoot(t)
	hv1, hv2, d1, d2 := hypervisors(t)
	gA := newGuest(t, hv1, "fra", "10.0.0.1")
	gB := newGuest(t, hv1, "frb", "10.0.0.2")
	gC := newGuest(t, hv2, "frc", "10.0.0.3")
	s1 := dataplane.State{
		Interfaces: []dataplane.Interface{iface("fra", 100, "10.0.0.1/32"), iface("frb", 100, "10.0.0.2/32")},
		Routes:     []route.Route{rt(100, "10.0.0.3/32", "192.0.2.2", route.KindStandard)},
		VTEPs:      []netip.Addr{netip.MustParseAddr("192.0.2.2")},
	}
	hv1.mustApply(d1, s1)
	hv2.mustApply(d2, dataplane.State{
		Interfaces: []dataplane.Interface{iface("frc", 100, "10.0.0.3/32")},
		Routes: []route.Route{rt(100, "10.0.0.1/32", "192.0.2.1", route.KindStandard),
			rt(100, "10.0.0.2/32", "192.0.2.1", route.KindStandard)},
		VTEPs: []netip.Addr{netip.MustParseAddr("192.0.2.1")},
	})
	for _, g := range []*node{gA, gB, gC} {
		for _, port := range []int{80, 81, 8080, 8081} {
			listenTCP(t, g, port)
		}
	}

	type check struct {
		from  *node
		to    string // address:port, or an address to ping
		allow bool
	}
	expect := func(when string, checks []check) {
		t.Helper()
		for _, c := range checks {
			var got bool
			if strings.Contains(c.to, ":") {
				got = c.from.connects(c.to)
			} else {
				got = c.from.ping(c.to)
			}
			if got != c.allow {
				t.Errorf("%s: %s → %s: got allowed=%v, want %v", when, c.from.name, c.to, got, c.allow)
			}
		}
	}
	open := []check{
		{gA, "10.0.0.2:80", true}, {gA, "10.0.0.2:81", true}, {gC, "10.0.0.2:80", true}, {gA, "10.0.0.2", true},
		{gB, "10.0.0.3:8080", true}, {gB, "10.0.0.1:8081", true},
	}
	expect("without policy", open)

	// B accepts TCP 80 from A only, and sends only to TCP 8000-8080 in 10.0.0.0/24 except C.
	b := &s1.Interfaces[1]
	b.Policy = &dataplane.Policy{
		IngressIsolated: true,
		Ingress: []dataplane.Rule{{
			Peers: []dataplane.Peer{{Prefix: netip.MustParsePrefix("10.0.0.1/32")}},
			Ports: []dataplane.PortRange{{Protocol: "TCP", First: 80}},
		}},
		EgressIsolated: true,
		Egress: []dataplane.Rule{{
			Peers: []dataplane.Peer{{Prefix: netip.MustParsePrefix("10.0.0.0/24"),
				Except: []netip.Prefix{netip.MustParsePrefix("10.0.0.3/32")}}},
			Ports: []dataplane.PortRange{{Protocol: "TCP", First: 8000, Last: 8080}},
		}, {
			// An IPv6 peer and UDP: accepted by the kernel, no effect on these IPv4 checks.
			Peers: []dataplane.Peer{{Prefix: netip.MustParsePrefix("fd00::/64"),
				Except: []netip.Prefix{netip.MustParsePrefix("fd00::8/125")}}},
			Ports: []dataplane.PortRange{{Protocol: "UDP", First: 53}},
		}},
	}
	hv1.mustApply(d1, s1)
	hv1.mustApply(d1, s1) // idempotent
	filtered := []check{
		{gA, "10.0.0.2:80", true},   // allowed, and B's replies pass its egress (established)
		{gA, "10.0.0.2:81", false},  // port not allowed
		{gC, "10.0.0.2:80", false},  // peer not allowed (over VXLAN)
		{gA, "10.0.0.2", false},     // ICMP not allowed
		{gB, "10.0.0.1:8080", true}, // egress range, replies pass A's unfiltered tap
		{gB, "10.0.0.1:8081", false},
		{gB, "10.0.0.3:8080", false}, // excepted peer
		{gA, "10.0.0.3:80", true},    // other machines are not affected
		{gC, "10.0.0.1:81", true},
	}
	expect("with policy", filtered)

	// A bad rule is named, left out (allows nothing) and the rest still applies.
	b.Policy.Ingress = append(b.Policy.Ingress, dataplane.Rule{Ports: []dataplane.PortRange{{Protocol: "TCP", First: 81, Last: 2}}})
	if _, err := hv1.apply(d1, s1); err == nil || !strings.Contains(err.Error(), "interface frb: ingress rule 1:") {
		t.Errorf("apply with a bad rule: error %v does not name interface frb's ingress rule 1", err)
	}
	expect("with a bad rule", filtered)
	b.Policy.Ingress = b.Policy.Ingress[:1]

	// Ingress only: B may send anywhere again.
	b.Policy.EgressIsolated, b.Policy.Egress = false, nil
	hv1.mustApply(d1, s1)
	expect("ingress only", []check{{gA, "10.0.0.2:81", false}, {gB, "10.0.0.3:8080", true}, {gB, "10.0.0.1:8081", true}})

	b.Policy = nil
	hv1.mustApply(d1, s1)
	expect("policy removed", open)
}

// listenTCP serves "ok" on a TCP port of n's namespace.
func listenTCP(t *testing.T, n *node, port int) {
	t.Helper()
	var l net.Listener
	var err error
	n.do(func() { l, err = net.Listen("tcp4", fmt.Sprintf(":%d", port)) })
	if err != nil {
		t.Fatalf("%s: listen on %d: %v", n.name, port, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("ok"))
			c.Close()
		}
	}()
}

// connects reports whether a TCP connection from n to addr is set up and reads the server's
// greeting (so packets passed both ways) within a short time.
func (n *node) connects(addr string) bool {
	var ok bool
	n.do(func() {
		c, err := net.DialTimeout("tcp4", addr, 700*time.Millisecond)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		b, _ := io.ReadAll(c)
		ok = string(b) == "ok"
	})
	return ok
}
