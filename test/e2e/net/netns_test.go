package net_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferrite-dev/ferrite/net/dataplane/kernel"
	"github.com/ferrite-dev/ferrite/net/lab"
)

// The overlay lab: an underlay switch namespace (bridge, and reflectors on 10.250.0.254 and .253),
// two hypervisor namespaces on 10.250.0.1 and .2, and one namespace per machine, joined to its
// hypervisor by a veth pair. vm1 (on h1) and vm2 (on h2) are in VNI 100, vm3 (on h2) in VNI 200.
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

var hypervisors = []string{"fe-h1", "fe-h2"}

func underlayAddr(i int) string { return fmt.Sprintf("10.250.0.%d", i+1) }

func deleteNamespaces() {
	for _, ns := range append([]string{underlayNS, "fe-h1", "fe-h2"}, "fe-vm1", "fe-vm2", "fe-vm3") {
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
	ip("-n", underlayNS, "addr", "add", "10.250.0.254/24", "dev", "br0")
	ip("-n", underlayNS, "addr", "add", "10.250.0.253/24", "dev", "br0")
	ip("-n", underlayNS, "link", "set", "br0", "up")
	for i, h := range hypervisors {
		port := fmt.Sprintf("p%d", i+1)
		ip("netns", "add", h)
		ip("-n", h, "link", "set", "lo", "up")
		ip("link", "add", "ul0", "netns", h, "type", "veth", "peer", "name", port, "netns", underlayNS)
		ip("-n", underlayNS, "link", "set", port, "master", "br0", "up")
		ip("-n", h, "addr", "add", underlayAddr(i)+"/24", "dev", "ul0")
		ip("-n", h, "link", "set", "ul0", "up")
	}
	for _, m := range machines {
		ip("netns", "add", m.ns)
		ip("-n", m.ns, "link", "set", "lo", "up")
		ip("link", "add", m.nic, "netns", m.hyp, "type", "veth", "peer", "name", "eth0", "netns", m.ns)
		ip("-n", m.ns, "addr", "add", m.addr+"/24", "dev", "eth0")
		ip("-n", m.ns, "link", "set", "eth0", "up")
	}
}

// agentConfig is the netagent config file of hypervisor i.
func agentConfig(t *testing.T, i int) string {
	type iface struct {
		Name      string   `json:"name"`
		VNI       uint32   `json:"vni"`
		Addresses []string `json:"addresses"`
	}
	var ifaces []iface
	for _, m := range machines {
		if m.hyp == hypervisors[i] {
			ifaces = append(ifaces, iface{Name: m.nic, VNI: m.vni, Addresses: []string{m.addr + "/32"}})
		}
	}
	cfg := map[string]any{
		"routerID": underlayAddr(i), "localAddress": underlayAddr(i),
		"reflectors": []string{"10.250.0.254:179", "10.250.0.253:179"},
		"http":       underlayAddr(i) + ":9180",
		"dataplane":  map[string]string{"type": "kernel"},
		"interfaces": ifaces,
	}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(t.TempDir(), fmt.Sprintf("agent%d.json", i+1))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func ping(ns, addr string) bool {
	_, ok := try("ip", "netns", "exec", ns, "ping", "-c", "2", "-i", "0.2", "-W", "1", addr)
	return ok
}

// routeIn reports whether hypervisor ns has a route to addr in the table of vni.
func routeIn(ns string, vni uint32, addr string) bool {
	out, _ := try("ip", "-n", ns, "route", "show", "table", fmt.Sprint(1_000_000+vni))
	return strings.Contains(out, addr+" ")
}

// agentCall calls the HTTP API of the agent on hypervisor hyp. The connection is dialled on a
// thread inside the hypervisor's namespace, by hand: http.Client would dial from another
// goroutine, hence another thread, outside the namespace.
func agentCall(t *testing.T, hyp int, method, path string, body any) {
	t.Helper()
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(body)
	addr := underlayAddr(hyp) + ":9180"
	inNetns(t, hypervisors[hyp], func() {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Errorf("dial agent %s: %v", addr, err)
			return
		}
		defer conn.Close()
		req, _ := http.NewRequest(method, "http://"+addr+path, &buf)
		req.Close = true
		if err := req.Write(conn); err != nil {
			t.Errorf("%s %s: %v", method, path, err)
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), req)
		if err != nil {
			t.Errorf("%s %s: %v", method, path, err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s %s: %s", method, path, resp.Status)
		}
	})
}

func TestOverlayPing(t *testing.T) {
	requireE2E(t, "ip", "ping")
	if rep, err := kernel.Probe(); err != nil {
		t.Skipf("cannot probe the kernel: %v", err)
	} else if err := rep.Require(kernel.Required...); err != nil {
		t.Skipf("kernel lacks what the overlay needs: %v", err)
	}
	bin := binaries(t)
	buildTopology(t)
	var reflectors []*process
	for _, addr := range []string{"10.250.0.254", "10.250.0.253"} {
		reflectors = append(reflectors, start(t, underlayNS, bin+"/route-reflector", "--router-id", addr, "--listen", addr,
			"--client-prefixes", "10.250.0.0/24", "--http", addr+":9179"))
	}
	for i, h := range hypervisors {
		start(t, h, bin+"/netagent", "--config", agentConfig(t, i))
	}
	const wait = 30 * time.Second
	if !lab.Eventually(wait, func() bool { return routeIn("fe-h1", 100, "10.0.0.2") && routeIn("fe-h2", 100, "10.0.0.1") }) {
		t.Fatalf("routes never arrived:\nh1: %s\nh2: %s", run(t, "ip", "-n", "fe-h1", "route", "show", "table", "all"),
			run(t, "ip", "-n", "fe-h2", "route", "show", "table", "all"))
	}
	// The first packets may wait for neighbor resolution on the underlay: retry, bounded.
	if !lab.Eventually(wait, func() bool { return ping("fe-vm1", "10.0.0.2") }) {
		t.Fatal("vm1 cannot ping vm2 across the overlay (same VNI, different hypervisors)")
	}
	if ping("fe-vm3", "10.0.0.1") || ping("fe-vm1", "10.0.0.3") {
		t.Error("machines in different VNIs reach each other")
	}
	if routeIn("fe-h1", 100, "10.0.0.3") {
		t.Error("hypervisor 1 installed a route of VNI 200, which it never subscribed to")
	}

	// One reflector dies: the other still carries every route, so nothing is withdrawn.
	reflectors[0].stop()
	time.Sleep(2 * time.Second) // let the agents notice the lost sessions
	if !routeIn("fe-h1", 100, "10.0.0.2") || !ping("fe-vm1", "10.0.0.2") {
		t.Fatal("losing one of two reflectors cut the overlay")
	}

	// Withdraw vm2's route (through the remaining reflector): hypervisor 1 drops it and the traffic stops.
	agentCall(t, 1, http.MethodDelete, "/interfaces/nic2", nil)
	if !lab.Eventually(wait, func() bool { return !routeIn("fe-h1", 100, "10.0.0.2") }) {
		t.Fatal("withdrawn route still installed on hypervisor 1")
	}
	if ping("fe-vm1", "10.0.0.2") {
		t.Error("traffic still flows after the route was withdrawn")
	}

	// Announce it again: traffic comes back.
	agentCall(t, 1, http.MethodPut, "/interfaces", map[string]any{"name": "nic2", "vni": 100, "addresses": []string{"10.0.0.2/32"}})
	if !lab.Eventually(wait, func() bool { return routeIn("fe-h1", 100, "10.0.0.2") }) {
		t.Fatal("re-announced route never installed")
	}
	if !lab.Eventually(wait, func() bool { return ping("fe-vm1", "10.0.0.2") }) {
		t.Error("traffic did not come back after the route was announced again")
	}
}
