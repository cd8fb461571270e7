//go:build e2e

package overlay

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferrite-dev/ferrite/hack/localcluster"
)

// The lab: an underlay namespace with a bridge and the two reflectors, and one namespace per
// hypervisor joined to the bridge by a veth pair.
const (
	underlayNS = "fo-ul"
	// vxlanPort is the overlay's UDP port (the kernel dataplane's default).
	vxlanPort = 4789
)

// hypervisor is one host of the lab: its namespace, underlay address and MachinePool.
type hypervisor struct {
	ns, addr, pool string
}

var hypervisors = []hypervisor{
	{ns: "fo-h1", addr: "10.252.0.1", pool: localcluster.LocalPoolName},
	{ns: "fo-h2", addr: "10.252.0.2", pool: secondPool},
}

// reflectorAddrs are the route reflectors' addresses in the underlay namespace.
var reflectorAddrs = []string{"10.252.0.254", "10.252.0.253"}

// The edge: a router between the public VNI and the outside world, here a third hypervisor
// whose netagent has one static interface in the public VNI, a veth to the internet namespace,
// where one outside host lives. It announces the outside world's prefix in the public VNI.
const (
	edgeNS       = "fo-edge"
	edgeAddr     = "10.252.0.3"
	internetNS   = "fo-inet"
	internetHost = "203.0.113.10"
	internetNet  = "203.0.113.0/24"
	edgeDevice   = "inet0"
)

// topology is the running lab.
type topology struct {
	dir        string
	password   string
	mu         sync.Mutex
	reflectors []*exec.Cmd
	agents     []*exec.Cmd
	forwarders []func()
	stopMover  context.CancelFunc
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func deleteNamespaces() {
	for _, ns := range []string{underlayNS, hypervisors[0].ns, hypervisors[1].ns, edgeNS, internetNS} {
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
}

// startTopology builds the namespaces and starts the reflectors, the API forwarders, the
// agents and the tap mover.
func startTopology(ctx context.Context) (*topology, error) {
	deleteNamespaces()
	t := &topology{dir: filepath.Join(env.Dir, "overlay"), password: "e2e-overlay-secret"}
	if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return nil, err
	}
	steps := [][]string{
		{"netns", "add", underlayNS},
		{"-n", underlayNS, "link", "set", "lo", "up"},
		{"-n", underlayNS, "link", "add", "br0", "type", "bridge"},
		{"-n", underlayNS, "link", "set", "br0", "up"},
	}
	for _, a := range reflectorAddrs {
		steps = append(steps, []string{"-n", underlayNS, "addr", "add", a + "/24", "dev", "br0"})
	}
	underlay := append(slices.Clone(hypervisors), hypervisor{ns: edgeNS, addr: edgeAddr})
	for i, h := range underlay {
		port := fmt.Sprintf("p%d", i+1)
		steps = append(steps,
			[]string{"netns", "add", h.ns},
			[]string{"-n", h.ns, "link", "set", "lo", "up"},
			[]string{"link", "add", "ul0", "netns", h.ns, "type", "veth", "peer", "name", port, "netns", underlayNS},
			[]string{"-n", underlayNS, "link", "set", port, "master", "br0", "up"},
			[]string{"-n", h.ns, "addr", "add", h.addr + "/24", "dev", "ul0"},
			[]string{"-n", h.ns, "link", "set", "ul0", "up"},
		)
	}
	// The internet namespace's host reaches the edge like a guest its hypervisor: a /32 and
	// the gateway 169.254.1.1, which the edge answers by proxy ARP.
	steps = append(steps,
		[]string{"netns", "add", internetNS},
		[]string{"-n", internetNS, "link", "set", "lo", "up"},
		[]string{"link", "add", edgeDevice, "netns", edgeNS, "type", "veth", "peer", "name", "eth0", "netns", internetNS},
		[]string{"-n", edgeNS, "link", "set", edgeDevice, "up"},
		[]string{"-n", internetNS, "addr", "add", internetHost + "/32", "dev", "eth0"},
		[]string{"-n", internetNS, "link", "set", "eth0", "up"},
		[]string{"-n", internetNS, "route", "add", "169.254.1.1/32", "dev", "eth0", "scope", "link"},
		[]string{"-n", internetNS, "route", "add", "default", "via", "169.254.1.1", "dev", "eth0"},
	)
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return t, err
		}
	}
	if err := os.WriteFile(t.passwordFile(), []byte(t.password+"\n"), 0o600); err != nil {
		return t, err
	}
	for i := range reflectorAddrs {
		if err := t.startReflector(i); err != nil {
			return t, err
		}
	}
	api, err := url.Parse(env.Cluster.Config.Host)
	if err != nil {
		return t, err
	}
	for i, h := range hypervisors {
		stop, err := forwardInto(h.ns, api.Host)
		if err != nil {
			return t, fmt.Errorf("API forwarder into %s: %w", h.ns, err)
		}
		t.forwarders = append(t.forwarders, stop)
		if err := t.startAgent(i); err != nil {
			return t, err
		}
	}
	if err := t.startEdge(); err != nil {
		return t, err
	}
	moverCtx, cancel := context.WithCancel(context.Background())
	t.stopMover = cancel
	go moveTaps(moverCtx)
	return t, nil
}

func (t *topology) passwordFile() string { return filepath.Join(t.dir, "bgp-password") }

// startProcess starts a command in a namespace, logging to the lab's directory.
func (t *topology) startProcess(ns, name string, args ...string) (*exec.Cmd, error) {
	log, err := os.OpenFile(filepath.Join(env.Dir, "logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	go func() { _ = cmd.Wait(); log.Close() }()
	return cmd, nil
}

// startReflector starts reflector i (again), peered with the other one.
func (t *topology) startReflector(i int) error {
	other := reflectorAddrs[1-i]
	cmd, err := t.startProcess(underlayNS, fmt.Sprintf("route-reflector-%d", i+1), filepath.Join(root, "bin", "route-reflector"),
		"--router-id="+reflectorAddrs[i], "--listen="+reflectorAddrs[i], "--port=179",
		"--client-prefixes=10.252.0.0/24", "--http=127.0.0.1:0", "--peer="+other+":179",
		"--password-file="+t.passwordFile())
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.reflectors) <= i {
		t.reflectors = append(t.reflectors, cmd)
	} else {
		t.reflectors[i] = cmd
	}
	return nil
}

// startAgent starts the netagent of hypervisor i (again), following its pool in the API.
func (t *topology) startAgent(i int) error {
	h := hypervisors[i]
	reflectors := []string{}
	for _, a := range reflectorAddrs {
		reflectors = append(reflectors, a+":179")
	}
	config, _ := json.Marshal(map[string]any{
		"routerID": h.addr, "localAddress": h.addr, "reflectors": reflectors,
		"passwordFile": t.passwordFile(), "http": "127.0.0.1:9180", "publicVNI": localcluster.PublicVNI,
	})
	configPath := filepath.Join(t.dir, "netagent-"+h.pool+".json")
	if err := os.WriteFile(configPath, config, 0o600); err != nil {
		return err
	}
	kubeconfig, err := env.Cluster.DaemonKubeconfig("netagent", h.pool)
	if err != nil {
		return err
	}
	cmd, err := t.startProcess(h.ns, "netagent-"+h.pool, filepath.Join(root, "bin", "netagent"),
		"--config="+configPath, "--kubeconfig="+kubeconfig, "--machine-pool="+h.pool)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.agents) <= i {
		t.agents = append(t.agents, cmd)
	} else {
		t.agents[i] = cmd
	}
	return nil
}

// startEdge starts the edge's netagent: no API, one static interface in the public VNI that
// routes the internet's prefix to the internet namespace.
func (t *topology) startEdge() error {
	reflectors := []string{}
	for _, a := range reflectorAddrs {
		reflectors = append(reflectors, a+":179")
	}
	config, _ := json.Marshal(map[string]any{
		"routerID": edgeAddr, "localAddress": edgeAddr, "reflectors": reflectors,
		"passwordFile": t.passwordFile(), "http": "127.0.0.1:9180", "publicVNI": localcluster.PublicVNI,
		"interfaces": []map[string]any{{"name": edgeDevice, "vni": localcluster.PublicVNI, "addresses": []string{internetNet}}},
	})
	configPath := filepath.Join(t.dir, "netagent-edge.json")
	if err := os.WriteFile(configPath, config, 0o600); err != nil {
		return err
	}
	cmd, err := t.startProcess(edgeNS, "netagent-edge", filepath.Join(root, "bin", "netagent"), "--config="+configPath)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.agents = append(t.agents, cmd)
	return nil
}

// signal sends sig to a process started with `ip netns exec` (which execs the command, so the
// PID is the command's).
func signal(cmd *exec.Cmd, sig os.Signal) {
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(sig)
	}
}

// stop ends the lab: processes, forwarders, tap mover and namespaces.
func (t *topology) stop() {
	if t.stopMover != nil {
		t.stopMover()
	}
	t.mu.Lock()
	procs := append(append([]*exec.Cmd{}, t.agents...), t.reflectors...)
	t.mu.Unlock()
	for _, cmd := range procs {
		signal(cmd, os.Interrupt)
	}
	time.Sleep(2 * time.Second)
	for _, cmd := range procs {
		signal(cmd, os.Kill)
	}
	for _, stop := range t.forwarders {
		stop()
	}
	deleteNamespaces()
}
