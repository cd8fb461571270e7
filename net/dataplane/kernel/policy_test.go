package kernel

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ferrite-dev/ferrite/net/dataplane"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func rng(first, last string) addrRange {
	return addrRange{netip.MustParseAddr(first), netip.MustParseAddr(last)}
}

func TestCompileRule(t *testing.T) {
	m, err := compileRule(dataplane.Rule{
		Peers: []dataplane.Peer{
			{Prefix: pfx("10.0.0.0/24"), Except: []netip.Prefix{pfx("10.0.0.16/28"), pfx("10.0.0.128/25")}},
			{Prefix: pfx("10.0.1.0/24")}, // touches the first: merged
			{Prefix: pfx("255.255.255.255/32")},
			{Prefix: pfx("2001:db8::/32"), Except: []netip.Prefix{pfx("2001:db8::/33")}},
		},
		Ports: []dataplane.PortRange{{Protocol: "TCP", First: 80}, {Protocol: "TCP", First: 81, Last: 90},
			{Protocol: "UDP"}, {Protocol: "UDP", First: 53}, {Protocol: "TCP", First: 8000, Last: 8080}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := match{
		v4: []addrRange{rng("10.0.0.0", "10.0.0.15"), rng("10.0.0.32", "10.0.0.127"), rng("10.0.1.0", "10.0.1.255"),
			rng("255.255.255.255", "255.255.255.255")},
		v6:    []addrRange{rng("2001:db8:8000::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")},
		ports: map[byte][]portSpan{unix.IPPROTO_TCP: {{80, 90}, {8000, 8080}}, unix.IPPROTO_UDP: nil},
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got  %+v\nwant %+v", m, want)
	}
	// The last range runs to the top of IPv4: no end element, and a leading zero end.
	els := addrElements(m.v4)
	if len(els) != 1+2*3+1 || !els[0].IntervalEnd || els[len(els)-1].IntervalEnd {
		t.Errorf("interval elements %+v", els)
	}
}

func TestCompilePolicyNamesBadRules(t *testing.T) {
	i := dataplane.Interface{Name: "frb", Policy: &dataplane.Policy{
		IngressIsolated: true,
		Ingress: []dataplane.Rule{
			{Ports: []dataplane.PortRange{{Protocol: "TCP", First: 80}}},
			{Peers: []dataplane.Peer{{Prefix: pfx("10.0.0.0/24"), Except: []netip.Prefix{pfx("10.1.0.0/24")}}}},
		},
		Egress: []dataplane.Rule{{Ports: []dataplane.PortRange{{Protocol: "ICMP"}}}}, // not isolated: ignored
	}}
	cp, err := compilePolicy(i)
	if err == nil || !strings.Contains(err.Error(), "interface frb: ingress rule 1: peer 10.0.0.0/24: except 10.1.0.0/24") {
		t.Fatalf("error %v does not name the interface, rule and except", err)
	}
	if len(cp.ingress) != 1 || cp.egress != nil {
		t.Fatalf("the good rule should stay, the bad one go, egress stay unfiltered: %+v", cp)
	}
	for _, r := range []dataplane.Rule{
		{Ports: []dataplane.PortRange{{Protocol: "ICMP"}}},
		{Ports: []dataplane.PortRange{{Protocol: "TCP", First: 90, Last: 80}}},
		{Ports: []dataplane.PortRange{{Protocol: "TCP", Last: 80}}},
		{Peers: []dataplane.Peer{{}}},
		{Peers: []dataplane.Peer{{Prefix: pfx("10.0.0.0/8"), Except: []netip.Prefix{pfx("::/0")}}}},
	} {
		if _, err := compileRule(r); err == nil {
			t.Errorf("rule %+v accepted", r)
		}
	}
	if cp, _ := compilePolicy(dataplane.Interface{Name: "x", Policy: &dataplane.Policy{EgressIsolated: true}}); cp.egress == nil || len(cp.egress) != 0 {
		t.Errorf("an isolated direction without rules must be filtered (deny all): %+v", cp)
	}
}
