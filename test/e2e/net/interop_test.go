package net_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferrite-dev/ferrite/net/agent"
	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/dataplane/memory"
	"github.com/ferrite-dev/ferrite/net/lab"
	"github.com/ferrite-dev/ferrite/net/reflector"
	"github.com/ferrite-dev/ferrite/net/route"
)

const interopWait = 30 * time.Second

var interopNextHop = netip.MustParseAddr("192.0.2.1")

// interopLab is our reflector (127.0.0.1) with one agent (127.1.0.1) whose interface in VNI 100
// owns 10.100.0.1/32; foreign speakers connect from 127.1.200.x as route-reflector clients.
type interopLab struct {
	lab   *lab.Lab
	rr    *reflector.Reflector
	agent *agent.Agent
	dp    *memory.Dataplane
	ours  route.Route
}

func startInteropLab(t *testing.T) *interopLab {
	t.Helper()
	ctx := context.Background()
	l, err := lab.New()
	if err != nil {
		t.Fatal(err)
	}
	rr, err := l.StartReflector(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rr.Stop)
	// The next hop is a documentation address, not the loopback session address: FRR rejects
	// 127/8 next hops as martians. No packet is ever sent to it.
	dp := &memory.Dataplane{}
	a, err := agent.Start(ctx, agent.Config{RouterID: lab.AgentAddr(1), LocalAddress: lab.AgentAddr(1),
		NextHop: interopNextHop, Reflectors: []netip.AddrPort{l.ReflectorEndpoint(1)}, Dataplane: dp, Logger: l.Log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	ours := route.Route{VNI: 100, Prefix: netip.MustParsePrefix("10.100.0.1/32"), NextHop: interopNextHop}
	if err := a.AddInterface(ctx, dataplane.Interface{Name: "nic1", VNI: 100, Addresses: []netip.Prefix{ours.Prefix}}); err != nil {
		t.Fatal(err)
	}
	return &interopLab{lab: l, rr: rr, agent: a, dp: dp, ours: ours}
}

func (il *interopLab) waitPeer(t *testing.T, addr string) {
	t.Helper()
	ok := lab.Eventually(interopWait, func() bool {
		peers, _ := il.rr.Peers(context.Background())
		for _, p := range peers {
			if p.Address == addr && p.State == "ESTABLISHED" {
				return true
			}
		}
		return false
	})
	if !ok {
		peers, _ := il.rr.Peers(context.Background())
		t.Fatalf("%s never established a session with our reflector; peers: %+v", addr, peers)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestInteropGoBGPD peers Debian's gobgpd (3.10) with our reflector in the EVPN family: it
// receives our agent's route, and a route it originates reaches our agent.
func TestInteropGoBGPD(t *testing.T) {
	requireE2E(t, "gobgpd", "gobgp")
	il := startInteropLab(t)
	const self = "127.1.200.1"
	api := fmt.Sprint(freePort(t))
	conf := fmt.Sprintf(`[global.config]
  as = %d
  router-id = %q
  port = -1
[[neighbors]]
  [neighbors.config]
    neighbor-address = "127.0.0.1"
    peer-as = %d
  [neighbors.transport.config]
    local-address = %q
    remote-port = %d
  [neighbors.timers.config]
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "l2vpn-evpn"
`, route.ASN, self, route.ASN, self, il.lab.Port)
	path := filepath.Join(t.TempDir(), "gobgpd.toml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, "", "gobgpd", "--pprof-disable", "--api-hosts", "127.0.0.1:"+api, "-t", "toml", "-f", path)
	il.waitPeer(t, self)

	gobgp := func(args ...string) (string, bool) {
		return try("gobgp", append([]string{"-u", "127.0.0.1", "-p", api}, args...)...)
	}
	ok := lab.Eventually(interopWait, func() bool {
		out, _ := gobgp("global", "rib", "-a", "evpn")
		return strings.Contains(out, "10.100.0.1/32")
	})
	if !ok {
		out, _ := gobgp("global", "rib", "-a", "evpn")
		t.Fatalf("gobgpd never received our route:\n%s", out)
	}

	// gobgpd originates a type-5 route in VNI 100 with its own RD; our agent installs it.
	out, ok := gobgp("global", "rib", "-a", "evpn", "add", "prefix", "10.9.0.0/24", "etag", "0", "label", "100",
		"rd", self+":5", "rt", fmt.Sprintf("%d:100", route.ASN), "encap", "vxlan", "nexthop", self)
	if !ok {
		t.Fatalf("gobgp add: %s", out)
	}
	theirs := route.Route{VNI: 100, Prefix: netip.MustParsePrefix("10.9.0.0/24"), NextHop: netip.MustParseAddr(self)}
	if !lab.Eventually(interopWait, func() bool { return il.dp.Has(theirs) }) {
		entries, _ := il.rr.Routes(context.Background())
		t.Fatalf("our agent never installed gobgpd's route %s; agent has %v; reflector table %+v", theirs, il.dp.Routes(), entries)
	}
	if out, ok := gobgp("global", "rib", "-a", "evpn", "del", "prefix", "10.9.0.0/24", "etag", "0", "label", "100",
		"rd", self+":5"); !ok {
		t.Fatalf("gobgp del: %s", out)
	}
	if !lab.Eventually(interopWait, func() bool { return !il.dp.Has(theirs) }) {
		t.Fatal("gobgpd's withdrawal never reached our agent")
	}
}

// TestInteropFRR peers FRR 8.4's bgpd (without zebra) with our reflector in the EVPN family and
// checks that it receives and accepts our type-5 route with its VNI and next hop. FRR cannot
// originate type-5 routes here: it needs a VRF device with an L3 VNI, and our kernels have no
// VRF support.
func TestInteropFRR(t *testing.T) {
	requireE2E(t, "vtysh")
	bgpd := "/usr/lib/frr/bgpd"
	if _, err := os.Stat(bgpd); err != nil {
		t.Fatalf("FRR bgpd missing (%v): `make e2e-net` installs frr", err)
	}
	il := startInteropLab(t)
	const self = "127.1.201.1"
	dir := t.TempDir()
	conf := fmt.Sprintf(`frr defaults traditional
hostname ferrite-interop
!
router bgp %d
 bgp router-id %s
 no bgp default ipv4-unicast
 neighbor 127.0.0.1 remote-as %d
 neighbor 127.0.0.1 port %d
 neighbor 127.0.0.1 update-source %s
 neighbor 127.0.0.1 timers connect 1
 !
 address-family l2vpn evpn
  neighbor 127.0.0.1 activate
 exit-address-family
!
`, route.ASN, self, route.ASN, il.lab.Port, self)
	path := filepath.Join(dir, "bgpd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, "", bgpd, "--no_zebra", "--skip_runas", "-p", "0", "-l", self, "--vty_socket", dir,
		"-i", filepath.Join(dir, "bgpd.pid"), "-f", path, "--log", "stdout")
	il.waitPeer(t, self)
	vtysh := func(cmd string) string {
		out, _ := try("vtysh", "--vty_socket", dir, "-c", cmd)
		return out
	}
	ok := lab.Eventually(interopWait, func() bool {
		return strings.Contains(vtysh("show bgp l2vpn evpn route type prefix"), "10.100.0.1")
	})
	if !ok {
		t.Fatalf("FRR never received our route:\n%s\n%s", vtysh("show bgp l2vpn evpn route"), vtysh("show bgp summary"))
	}
	detail := vtysh("show bgp l2vpn evpn route type prefix json")
	for _, want := range []string{"10.100.0.1", interopNextHop.String(), "RT:65000:100", `"valid":true`, `"routeType":5`} {
		if !strings.Contains(detail, want) {
			t.Errorf("FRR's view of our route lacks %q:\n%s", want, detail)
		}
	}
}
