package net_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferrite-dev/ferrite/net/agent"
	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/dataplane/kernel"
	"github.com/ferrite-dev/ferrite/net/dataplane/memory"
	"github.com/ferrite-dev/ferrite/net/lab"
	"github.com/ferrite-dev/ferrite/net/reflector"
	"github.com/ferrite-dev/ferrite/net/route"
)

const interopWait = 30 * time.Second

// The interop lab lives in its own network namespace, with its addresses on the namespace's
// loopback device: our reflector, our agent, and foreign speakers that connect as route-reflector
// clients. The agent's session address is its next hop, as the reflector's import guard
// demands, and a documentation address, not a 127/8 one: FRR rejects 127/8 next hops as
// martians. No packet is ever sent to it.
const interopNS = "fe-interop"

var (
	interopReflector = netip.MustParseAddr("192.0.2.254")
	interopAgent     = netip.MustParseAddr("192.0.2.1")
	interopGoBGPD    = netip.MustParseAddr("192.0.2.201")
	interopFRR       = netip.MustParseAddr("192.0.2.202")
)

// interopInsideEnv marks the test process that runs inside the interop namespace.
const interopInsideEnv = "FERRITE_INTEROP_INSIDE"

// inInteropNetns reports whether the test runs inside the interop namespace. When it does not,
// it makes the namespace, runs this same test there in a child process (BGP's sockets are
// opened on many threads, so the whole process must be inside) and reports its outcome.
func inInteropNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(interopInsideEnv) != "" {
		return true
	}
	_, _ = try("ip", "netns", "del", interopNS)
	run(t, "ip", "netns", "add", interopNS)
	t.Cleanup(func() { _, _ = try("ip", "netns", "del", interopNS) })
	run(t, "ip", "-n", interopNS, "link", "set", "lo", "up")
	for _, a := range []netip.Addr{interopReflector, interopAgent, interopGoBGPD, interopFRR} {
		run(t, "ip", "-n", interopNS, "addr", "add", a.String()+"/32", "dev", "lo")
	}
	cmd := exec.Command("ip", "netns", "exec", interopNS, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), interopInsideEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("inside %s:\n%s", interopNS, out)
	switch {
	case err != nil:
		t.Fatalf("%s in %s: %v", t.Name(), interopNS, err)
	case strings.Contains(string(out), "--- SKIP: "+t.Name()):
		t.Skip("skipped inside the namespace")
	}
	return false
}

// interopLab is our reflector with one agent whose interface in VNI 100 owns 10.100.0.1/32.
type interopLab struct {
	rr    *reflector.Reflector
	agent *agent.Agent
	dp    *memory.Dataplane
	ours  route.Route
}

func startInteropLab(t *testing.T) *interopLab {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("FERRITE_LAB_LOG") != "" {
		log = slog.Default()
	}
	rr, err := reflector.Start(ctx, reflector.Config{RouterID: interopReflector, ListenAddresses: []netip.Addr{interopReflector},
		ClientPrefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rr.Stop)
	dp := &memory.Dataplane{}
	a, err := agent.Start(ctx, agent.Config{RouterID: interopAgent, LocalAddress: interopAgent,
		Reflectors: []netip.AddrPort{netip.AddrPortFrom(interopReflector, 179)}, Dataplane: dp, Logger: log,
		GracefulRestart: agent.GracefulRestart{EndOfRIBWait: 3 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	ours := route.Route{VNI: 100, Prefix: netip.MustParsePrefix("10.100.0.1/32"), NextHop: interopAgent}
	err = a.SetLocal(ctx, agent.Local{Interfaces: []dataplane.Interface{{Name: "nic1", VNI: 100, Addresses: []netip.Prefix{ours.Prefix}}}})
	if err != nil {
		t.Fatal(err)
	}
	return &interopLab{rr: rr, agent: a, dp: dp, ours: ours}
}

func (il *interopLab) waitPeer(t *testing.T, addr netip.Addr) {
	t.Helper()
	ok := lab.Eventually(interopWait, func() bool {
		peers, _ := il.rr.Peers(context.Background())
		for _, p := range peers {
			if p.Address == addr.String() && p.State == "ESTABLISHED" {
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

// TestInteropGoBGPD peers Debian's gobgpd (3.10) with our reflector in the EVPN family: it
// receives our agent's route, and a route it originates (with its own router ID in the RD and
// its session address as next hop, as the import guard wants) reaches our agent.
func TestInteropGoBGPD(t *testing.T) {
	requireE2E(t, "gobgpd", "gobgp")
	if !inInteropNetns(t) {
		return
	}
	il := startInteropLab(t)
	self := interopGoBGPD.String()
	const api = "50051"
	conf := fmt.Sprintf(`[global.config]
  as = %d
  router-id = %q
  port = -1
[[neighbors]]
  [neighbors.config]
    neighbor-address = %q
    peer-as = %d
  [neighbors.transport.config]
    local-address = %q
  [neighbors.timers.config]
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "l2vpn-evpn"
`, route.ASN, self, interopReflector, route.ASN, self)
	path := filepath.Join(t.TempDir(), "gobgpd.toml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, "", "gobgpd", "--pprof-disable", "--api-hosts", "127.0.0.1:"+api, "-t", "toml", "-f", path)
	il.waitPeer(t, interopGoBGPD)

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
	out, _ := gobgp("global", "rib", "-a", "evpn", "-j")
	if mac := route.RouterMAC(interopAgent).String(); !strings.Contains(out, mac) {
		t.Errorf("gobgpd's copy of our route lacks the Router's MAC %s:\n%s", mac, out)
	}

	// gobgpd originates a type-5 route in VNI 100 with its own RD; our agent installs it.
	out, ok = gobgp("global", "rib", "-a", "evpn", "add", "prefix", "10.9.0.0/24", "etag", "0", "label", "100",
		"rd", self+":5", "rt", fmt.Sprintf("%d:100", route.ASN), "encap", "vxlan", "nexthop", self)
	if !ok {
		t.Fatalf("gobgp add: %s", out)
	}
	theirs := route.Route{VNI: 100, Prefix: netip.MustParsePrefix("10.9.0.0/24"), NextHop: interopGoBGPD}
	if !lab.Eventually(interopWait, func() bool { return il.dp.Has(theirs) }) {
		entries, _ := il.rr.Routes(context.Background())
		t.Fatalf("our agent never installed gobgpd's route %s; agent has %v; reflector table %+v; quarantined %v",
			theirs, il.dp.Routes(), entries, il.rr.Quarantined())
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
// checks that it receives and accepts our type-5 route with its VNI, next hop and Router's MAC.
// FRR can neither install it nor originate type-5 routes here: both need a VRF device with an
// L3 VNI, and our kernels have no VRF support (the test says so if that changes).
func TestInteropFRR(t *testing.T) {
	requireE2E(t, "vtysh")
	bgpd := "/usr/lib/frr/bgpd"
	if _, err := os.Stat(bgpd); err != nil {
		t.Fatalf("FRR bgpd missing (%v): `make e2e-net` installs frr", err)
	}
	if !inInteropNetns(t) {
		return
	}
	il := startInteropLab(t)
	self := interopFRR.String()
	dir := t.TempDir()
	conf := fmt.Sprintf(`frr defaults traditional
hostname ferrite-interop
!
router bgp %d
 bgp router-id %s
 no bgp default ipv4-unicast
 neighbor %s remote-as %d
 neighbor %s update-source %s
 neighbor %s timers connect 1
 !
 address-family l2vpn evpn
  neighbor %s activate
 exit-address-family
!
`, route.ASN, self, interopReflector, route.ASN, interopReflector, self, interopReflector, interopReflector)
	path := filepath.Join(dir, "bgpd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, "", bgpd, "--no_zebra", "--skip_runas", "-p", "0", "-l", self, "--vty_socket", dir,
		"-i", filepath.Join(dir, "bgpd.pid"), "-f", path, "--log", "stdout")
	il.waitPeer(t, interopFRR)
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
	// The detail view has the label (our VNI) next to the route's fields.
	detail := vtysh("show bgp l2vpn evpn route detail type prefix json")
	rd := fmt.Sprintf("%s:0", interopAgent)
	paths := frrPaths(t, detail, rd)
	if len(paths) == 0 {
		t.Fatalf("FRR has no path under RD %s:\n%s", rd, detail)
	}
	p := paths[0]
	want := map[string]any{"routeType": 5, "ethTag": 100, "ip": "10.100.0.1", "ipLen": 32, "valid": true,
		"nexthop": interopAgent.String(), "vni": 100}
	for k, v := range want {
		if got := fmt.Sprint(p[k]); got != fmt.Sprint(v) {
			t.Errorf("FRR's path of our route: %s = %s, want %v", k, got, v)
		}
	}
	ec, _ := p["extendedCommunity"].(map[string]any)
	communities := strings.Fields(fmt.Sprint(ec["string"]))
	for _, c := range []string{"RT:65000:100", "ET:8", "Rmac:" + route.RouterMAC(interopAgent).String()} {
		if !slices.Contains(communities, c) {
			t.Errorf("FRR's path of our route lacks the extended community %s: has %v", c, communities)
		}
	}
	if t.Failed() {
		t.Logf("FRR's table:\n%s", detail)
	}
	if rep, err := kernel.Probe(); err == nil && rep.Require("vrf") == nil {
		t.Log("this kernel has VRF devices: FRR could now install our route into a VRF with zebra and an L3 VNI (not tested yet)")
	}
}

// frrPaths flattens FRR's `show bgp l2vpn evpn route ... json` under route distinguisher rd
// into one map per path: the path's fields, the route's (prefix, tag, type) and the first next
// hop as "nexthop".
func frrPaths(t *testing.T, detail, rd string) []map[string]any {
	t.Helper()
	var table map[string]json.RawMessage
	if err := json.Unmarshal([]byte(detail), &table); err != nil {
		t.Fatalf("FRR's JSON: %v\n%s", err, detail)
	}
	var byPrefix map[string]json.RawMessage
	_ = json.Unmarshal(table[rd], &byPrefix)
	var out []map[string]any
	for _, raw := range byPrefix {
		var fields map[string]any
		var r struct {
			Paths [][]map[string]any `json:"paths"`
		}
		if json.Unmarshal(raw, &fields) != nil || json.Unmarshal(raw, &r) != nil {
			continue
		}
		for _, group := range r.Paths {
			for _, p := range group {
				for k, v := range fields {
					if _, ok := p[k]; !ok && k != "paths" {
						p[k] = v
					}
				}
				if hops, ok := p["nexthops"].([]any); ok && len(hops) > 0 {
					if h, ok := hops[0].(map[string]any); ok {
						p["nexthop"] = h["ip"]
					}
				}
				out = append(out, p)
			}
		}
	}
	return out
}
