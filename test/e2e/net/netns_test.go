package net_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/dataplane/kernel"
	"github.com/ferrite-dev/ferrite/net/lab"
	"github.com/ferrite-dev/ferrite/net/route"
)

// The overlay lab: an underlay switch namespace (bridge, and the two reflectors on 10.250.0.254
// and .253), three hypervisor namespaces on 10.250.0.1, .2 and .3, and one namespace per machine,
// joined to its hypervisor by a veth pair. vm1 (on h1) and vm2 (on h2) are in VNI 100, vm3 (on
// h2) in VNI 200; h3 hosts no machine and subscribes to VNI 100 (it sees h1's and h2's shared
// prefix as ECMP).
const underlayNS = "fe-ul"

type machine struct {
	ns, nic, hyp, addr string
	vni                uint32
}

var machines = []machine{
	{ns: "fe-vm1", nic: "nic1", hyp: "fe-h1", addr: "10.0.0.1", vni: 100},
	{ns: "fe-vm2", nic: "nic2", hyp: "fe-h2", addr: "10.0.0.2", vni: 100},
	{ns: "fe-vm3", nic: "nic3", hyp: "fe-h2", addr: "10.0.0.3", vni: 200},
}

var hypervisors = []string{"fe-h1", "fe-h2", "fe-h3"}

var reflectorAddrs = []string{"10.250.0.254", "10.250.0.253"}

// anycast is announced by h1 and h2 alike (static routes in their configs).
const anycast = "10.0.9.0/24"

const overlayWait = 30 * time.Second

func underlayAddr(i int) string { return fmt.Sprintf("10.250.0.%d", i+1) }

func deleteNamespaces() {
	for _, ns := range []string{underlayNS, "fe-h1", "fe-h2", "fe-h3", "fe-rogue", "fe-vm1", "fe-vm2", "fe-vm3"} {
		_, _ = try("ip", "netns", "del", ns)
	}
}

func buildTopology(t *testing.T) {
	deleteNamespaces()
	t.Cleanup(deleteNamespaces)
	ip := func(args ...string) { t.Helper(); run(t, "ip", args...) }
	ip("netns", "add", underlayNS)
	ip("-n", underlayNS, "link", "set", "lo", "up")
	ip("-n", underlayNS, "link", "add", "br0", "type", "bridge")
	for _, a := range reflectorAddrs {
		ip("-n", underlayNS, "addr", "add", a+"/24", "dev", "br0")
	}
	ip("-n", underlayNS, "link", "set", "br0", "up")
	for i, h := range hypervisors {
		addUnderlayHost(t, h, underlayAddr(i))
	}
	for _, m := range machines {
		ip("netns", "add", m.ns)
		ip("-n", m.ns, "link", "set", "lo", "up")
		ip("link", "add", m.nic, "netns", m.hyp, "type", "veth", "peer", "name", "eth0", "netns", m.ns)
		ip("-n", m.ns, "addr", "add", m.addr+"/24", "dev", "eth0")
		ip("-n", m.ns, "link", "set", "eth0", "up")
	}
}

// addUnderlayHost makes namespace ns with address addr on the underlay bridge.
func addUnderlayHost(t *testing.T, ns, addr string) {
	t.Helper()
	ip := func(args ...string) { t.Helper(); run(t, "ip", args...) }
	port := "p-" + strings.TrimPrefix(ns, "fe-")
	ip("netns", "add", ns)
	ip("-n", ns, "link", "set", "lo", "up")
	ip("link", "add", "ul0", "netns", ns, "type", "veth", "peer", "name", port, "netns", underlayNS)
	ip("-n", underlayNS, "link", "set", port, "master", "br0", "up")
	ip("-n", ns, "addr", "add", addr+"/24", "dev", "ul0")
	ip("-n", ns, "link", "set", "ul0", "up")
}

// overlay is the running lab: reflector and netagent processes with their config files.
type overlay struct {
	bin        string
	password   string // path of the shared TCP-MD5 password file
	reflectors []*process
	agents     []*process
	configs    []string
}

// agentState is the part of a netagent config that SIGHUP re-reads.
type agentState struct {
	Interfaces    []dataplane.Interface
	Routes        []route.Route
	Subscriptions []uint32
}

// initialState is hypervisor i's state at the start: its machines' interfaces, the anycast
// prefix on h1 and h2, a subscription to VNI 100 on h3.
func initialState(i int) agentState {
	var s agentState
	for _, m := range machines {
		if m.hyp == hypervisors[i] {
			s.Interfaces = append(s.Interfaces, dataplane.Interface{Name: m.nic, VNI: m.vni,
				Addresses: []netip.Prefix{netip.MustParsePrefix(m.addr + "/32")}})
		}
	}
	if i < 2 {
		s.Routes = []route.Route{{VNI: 100, Prefix: netip.MustParsePrefix(anycast), NextHop: netip.MustParseAddr(underlayAddr(i))}}
	} else {
		s.Subscriptions = []uint32{100}
	}
	return s
}

func startOverlay(t *testing.T) *overlay {
	requireE2E(t, "ip", "ping")
	if rep, err := kernel.Probe(); err != nil {
		t.Skipf("cannot probe the kernel: %v", err)
	} else if err := rep.Require(kernel.Required...); err != nil {
		t.Skipf("kernel lacks what the overlay needs: %v", err)
	}
	o := &overlay{bin: binaries(t), password: filepath.Join(t.TempDir(), "bgp-password")}
	if err := os.WriteFile(o.password, []byte("ferrite-e2e-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	buildTopology(t)
	o.reflectors = make([]*process, len(reflectorAddrs))
	for i := range reflectorAddrs {
		o.startReflector(t, i)
	}
	for i, h := range hypervisors {
		o.configs = append(o.configs, filepath.Join(t.TempDir(), fmt.Sprintf("agent%d.json", i+1)))
		o.writeConfig(t, i, initialState(i))
		o.agents = append(o.agents, start(t, h, o.bin+"/netagent", "--config", o.configs[i]))
	}
	if !lab.Eventually(overlayWait, func() bool { return routeIn("fe-h1", 100, "10.0.0.2") && routeIn("fe-h2", 100, "10.0.0.1") }) {
		t.Fatalf("routes never arrived:\nh1: %s\nh2: %s", run(t, "ip", "-n", "fe-h1", "route", "show", "table", "all"),
			run(t, "ip", "-n", "fe-h2", "route", "show", "table", "all"))
	}
	return o
}

// startReflector starts reflector i in the underlay namespace, peered with the other one and
// with the shared password; its read-only HTTP is on the namespace's loopback, port 9179+i.
func (o *overlay) startReflector(t *testing.T, i int) {
	t.Helper()
	addr, other := reflectorAddrs[i], reflectorAddrs[1-i]
	o.reflectors[i] = start(t, underlayNS, o.bin+"/route-reflector", "--router-id", addr, "--listen", addr,
		"--client-prefixes", "10.250.0.0/24", "--peer", other+":179", "--password-file", o.password,
		"--http", fmt.Sprintf("127.0.0.1:%d", 9179+i))
}

// writeConfig writes hypervisor i's netagent config with state s.
func (o *overlay) writeConfig(t *testing.T, i int, s agentState) {
	t.Helper()
	var reflectors []string
	for _, a := range reflectorAddrs {
		reflectors = append(reflectors, a+":179")
	}
	cfg := map[string]any{
		"routerID": underlayAddr(i), "localAddress": underlayAddr(i), "reflectors": reflectors,
		"passwordFile": o.password, "dataplane": map[string]string{"type": "kernel"},
		"interfaces": s.Interfaces, "routes": s.Routes, "subscriptions": s.Subscriptions,
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(o.configs[i], b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// reload gives hypervisor i's netagent state s: rewrite its config file, then SIGHUP.
func (o *overlay) reload(t *testing.T, i int, s agentState) {
	t.Helper()
	o.writeConfig(t, i, s)
	if err := o.agents[i].cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP netagent %d: %v", i+1, err)
	}
}

func ping(ns, addr string) bool {
	_, ok := try("ip", "netns", "exec", ns, "ping", "-c", "2", "-i", "0.2", "-W", "1", addr)
	return ok
}

func vniTable(vni uint32) string { return fmt.Sprint(1_000_000 + vni) }

// routeIn reports whether hypervisor ns has a route to addr in the table of vni.
func routeIn(ns string, vni uint32, addr string) bool {
	out, _ := try("ip", "-n", ns, "route", "show", "table", vniTable(vni))
	return strings.Contains(out, addr+" ")
}

// nextHops returns the underlay next hops of prefix in the table of vni on hypervisor ns.
func nextHops(ns string, vni uint32, prefix string) []string {
	out, _ := try("ip", "-n", ns, "route", "show", "table", vniTable(vni), "exact", prefix)
	var hops []string
	for _, f := range strings.Split(out, "via ")[1:] {
		hops = append(hops, strings.Fields(f)[0])
	}
	sort.Strings(hops)
	return hops
}

// httpGet sends GET (or another method) to addr inside namespace ns and returns the status code
// and body (status 0 and the error when there is no answer). The connection is dialled on a thread inside the namespace, by hand: http.Client
// would dial from another goroutine, hence another thread, outside the namespace.
func httpGet(t *testing.T, ns, method, addr, path string) (int, string) {
	t.Helper()
	var code int
	var body []byte
	var err error
	inNetns(t, ns, func() {
		var conn net.Conn
		if conn, err = net.DialTimeout("tcp", addr, 5*time.Second); err != nil {
			return
		}
		defer conn.Close()
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		req.Close = true
		if err = req.Write(conn); err != nil {
			return
		}
		var resp *http.Response
		if resp, err = http.ReadResponse(bufio.NewReader(conn), req); err != nil {
			return
		}
		defer resp.Body.Close()
		code = resp.StatusCode
		body, err = io.ReadAll(resp.Body)
	})
	if err != nil {
		return 0, fmt.Sprintf("%s http://%s%s in %s: %v", method, addr, path, ns, err)
	}
	return code, string(body)
}

// TestOverlayPing: two peered reflectors (with a password) and three netagents as processes;
// ping across the overlay, isolation between VNIs, ECMP, losing and restarting a reflector, and
// routes withdrawn and announced again through the config file and SIGHUP.
func TestOverlayPing(t *testing.T) {
	o := startOverlay(t)
	// The first packets may wait for neighbor resolution on the underlay: retry, bounded.
	if !lab.Eventually(overlayWait, func() bool { return ping("fe-vm1", "10.0.0.2") }) {
		t.Fatal("vm1 cannot ping vm2 across the overlay (same VNI, different hypervisors)")
	}
	if ping("fe-vm3", "10.0.0.1") || ping("fe-vm1", "10.0.0.3") {
		t.Error("machines in different VNIs reach each other")
	}
	if routeIn("fe-h1", 100, "10.0.0.3") {
		t.Error("hypervisor 1 installed a route of VNI 200, which it never subscribed to")
	}
	both := []string{underlayAddr(0), underlayAddr(1)}
	if !lab.Eventually(overlayWait, func() bool { return fmt.Sprint(nextHops("fe-h3", 100, anycast)) == fmt.Sprint(both) }) {
		t.Errorf("hypervisor 3 routes %s via %v, want ECMP via %v", anycast, nextHops("fe-h3", 100, anycast), both)
	}

	// The agent's status is read-only, on the namespace's loopback.
	if !lab.Eventually(overlayWait, func() bool {
		code, body := httpGet(t, "fe-h1", http.MethodGet, "127.0.0.1:9180", "/status")
		var status struct{ Established int }
		return code == http.StatusOK && json.Unmarshal([]byte(body), &status) == nil && status.Established == 2
	}) {
		_, body := httpGet(t, "fe-h1", http.MethodGet, "127.0.0.1:9180", "/status")
		t.Errorf("agent 1 /status never had 2 sessions established: %s", body)
	}
	if code, _ := httpGet(t, "fe-h1", http.MethodPut, "127.0.0.1:9180", "/interfaces"); code != http.StatusMethodNotAllowed {
		t.Errorf("PUT on the agent's status endpoint: %d, want 405 (read-only)", code)
	}

	// One reflector dies (no Cease): the other still carries every route, so nothing is withdrawn.
	o.reflectors[0].stop()
	time.Sleep(2 * time.Second) // let the agents notice the lost sessions
	if !routeIn("fe-h1", 100, "10.0.0.2") || !ping("fe-vm1", "10.0.0.2") {
		t.Fatal("losing one of two reflectors cut the overlay")
	}

	// The dead reflector comes back: it takes its peer's table before it accepts the agents,
	// whose End-of-RIB wait then ends the stale copies they kept of its routes. (A withdrawal
	// while it is down would wait for that, or for the long-lived stale time of 120 s.)
	o.startReflector(t, 0)
	if !lab.Eventually(time.Minute, func() bool {
		code, body := httpGet(t, underlayNS, http.MethodGet, "127.0.0.1:9179", "/peers")
		return code == http.StatusOK && strings.Count(body, "ESTABLISHED") == len(reflectorAddrs)-1+len(hypervisors)
	}) {
		_, body := httpGet(t, underlayNS, http.MethodGet, "127.0.0.1:9179", "/peers")
		t.Fatalf("restarted reflector never had its peer and every agent back:\n%s", body)
	}
	// Withdraw vm2's interface and h1's anycast route through the config files and SIGHUP:
	// hypervisor 1 drops vm2's route and the traffic stops; hypervisor 3 keeps one next hop.
	h2 := initialState(1)
	h2.Interfaces = []dataplane.Interface{h2.Interfaces[1]} // nic3 stays
	o.reload(t, 1, h2)
	h1 := initialState(0)
	h1.Routes = nil
	o.reload(t, 0, h1)
	if !lab.Eventually(overlayWait, func() bool { return !routeIn("fe-h1", 100, "10.0.0.2") }) {
		t.Fatalf("withdrawn route still installed on hypervisor 1\n%s", o.tables(t))
	}
	if ping("fe-vm1", "10.0.0.2") {
		t.Error("traffic still flows after the route was withdrawn")
	}
	if !lab.Eventually(overlayWait, func() bool { return fmt.Sprint(nextHops("fe-h3", 100, anycast)) == fmt.Sprint(both[1:]) }) {
		t.Errorf("after h1 withdrew it, hypervisor 3 routes %s via %v, want %v", anycast, nextHops("fe-h3", 100, anycast), both[1:])
	}

	// Announce it again: traffic comes back.
	o.reload(t, 1, initialState(1))
	if !lab.Eventually(overlayWait, func() bool { return routeIn("fe-h1", 100, "10.0.0.2") }) {
		t.Fatal("re-announced route never installed")
	}
	if !lab.Eventually(overlayWait, func() bool { return ping("fe-vm1", "10.0.0.2") }) {
		t.Error("traffic did not come back after the route was announced again")
	}

	// The restarted reflector holds every route (the agents keep a dead reflector's copies
	// stale, so the table is the evidence); then the other one dies and the overlay stays up.
	for _, want := range []string{"10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32", anycast} {
		if !lab.Eventually(overlayWait, func() bool {
			_, body := httpGet(t, underlayNS, http.MethodGet, "127.0.0.1:9179", "/routes")
			return strings.Contains(body, `"`+want+`"`)
		}) {
			_, body := httpGet(t, underlayNS, http.MethodGet, "127.0.0.1:9179", "/routes")
			t.Errorf("restarted reflector lacks a route for %s:\n%s", want, body)
		}
	}
	o.reflectors[1].stop()
	time.Sleep(2 * time.Second)
	if !routeIn("fe-h1", 100, "10.0.0.2") || !routeIn("fe-h2", 100, "10.0.0.1") || !ping("fe-vm1", "10.0.0.2") {
		t.Error("the restarted reflector does not carry the overlay alone")
	}
}

// tables shows what agent 1 and the reflectors hold, for failure messages.
func (o *overlay) tables(t *testing.T) string {
	var b strings.Builder
	_, body := httpGet(t, "fe-h1", http.MethodGet, "127.0.0.1:9180", "/routes")
	fmt.Fprintf(&b, "agent 1 /routes: %s\n", body)
	for i := range reflectorAddrs {
		_, body := httpGet(t, underlayNS, http.MethodGet, fmt.Sprintf("127.0.0.1:%d", 9179+i), "/routes")
		fmt.Fprintf(&b, "reflector %d /routes: %s\n", i+1, body)
	}
	return b.String()
}
