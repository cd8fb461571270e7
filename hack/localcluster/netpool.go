package localcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The local hypervisor's overlay network: one route reflector and the netagent of the local
// MachinePool, on loopback addresses. The agent programs this machine's kernel (a routing table
// and VXLAN device per VNI, policy rules for the taps, the nftables table inet ferrite) and
// answers the guests' DHCP, so a Machine's network interface gets its address.
const (
	// reflectorAddress is the local route reflector's BGP address; the agent dials it from
	// agentAddress (GoBGP tells peers apart by address).
	reflectorAddress = "127.0.0.2"
	agentAddress     = "127.0.0.1"
	// PublicVNI is the virtual network of public addresses (VirtualIPs, NAT gateways, load
	// balancers and the outside world's prefixes). The apiserver hands Networks only VNIs
	// below it (--vni-max), so no tenant network ever gets it.
	PublicVNI = 1<<24 - 1
	// reflectorPort keeps clear of a BGP daemon the machine may run on 179.
	reflectorPort = 1790
	// OutsideNamespace is a network namespace standing for the outside world: its one host,
	// OutsideAddress, sits behind the interface outsideDevice of the public VNI (this machine
	// is its edge router), so VirtualIPs and load balancers can be tried from it:
	// `ip netns exec ferrite-outside ping <VirtualIP>`.
	OutsideNamespace = "ferrite-outside"
	OutsideAddress   = "203.0.113.1"
	outsidePrefix    = "203.0.113.0/24"
	outsideDevice    = "fout0"
)

// startNetwork starts the route reflector and the netagent of the local pool.
func (c *Cluster) startNetwork(ctx context.Context, p *Pool) error {
	dir := filepath.Join(c.opts.DataDir, "net")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	c.step("starting the route reflector on %s:%d", reflectorAddress, reflectorPort)
	var err error
	if p.reflector, err = startProcess("route-reflector", c.logDir(), c.bin("route-reflector"),
		"--router-id="+reflectorAddress, "--listen="+reflectorAddress, fmt.Sprintf("--port=%d", reflectorPort),
		"--client-prefixes=127.0.0.0/8", "--http=127.0.0.1:0"); err != nil {
		return err
	}
	if err := waitTCP(ctx, p.reflector, fmt.Sprintf("%s:%d", reflectorAddress, reflectorPort), 30*time.Second); err != nil {
		return err
	}
	c.step("making the network namespace %s: an outside host %s behind the public VNI", OutsideNamespace, OutsideAddress)
	if err := makeOutside(); err != nil {
		return err
	}
	config := map[string]any{
		"routerID": agentAddress, "localAddress": agentAddress,
		"reflectors": []string{fmt.Sprintf("%s:%d", reflectorAddress, reflectorPort)},
		"http":       "127.0.0.1:9180",
		"publicVNI":  PublicVNI,
		// The outside world's prefix, announced in the public VNI by this machine as its edge.
		"interfaces": []map[string]any{{"name": outsideDevice, "vni": PublicVNI, "addresses": []string{outsidePrefix}}},
	}
	data, _ := json.MarshalIndent(config, "", "  ")
	configPath := filepath.Join(dir, "netagent.json")
	if err := os.WriteFile(configPath, data, 0o600); err != nil {
		return err
	}
	kubeconfig, err := c.poolletKubeconfig(dir, "netagent")
	if err != nil {
		return err
	}
	c.step("starting netagent for the MachinePool %q (kernel dataplane, DHCP for its guests)", LocalPoolName)
	p.netAgent, err = startProcess("netagent", c.logDir(), c.bin("netagent"),
		"--config="+configPath, "--kubeconfig="+kubeconfig, "--machine-pool="+LocalPoolName)
	return err
}

// makeOutside makes the outside namespace and its veth to this namespace, unless an earlier run
// left both in place. The outside host reaches the edge as a guest its hypervisor: a /32 and the
// gateway 169.254.1.1, which the dataplane answers by proxy ARP.
func makeOutside() error {
	if exec.Command("ip", "netns", "exec", OutsideNamespace, "true").Run() == nil &&
		exec.Command("ip", "link", "show", outsideDevice).Run() == nil {
		return nil
	}
	_ = exec.Command("ip", "netns", "del", OutsideNamespace).Run()
	_ = exec.Command("ip", "link", "del", outsideDevice).Run()
	steps := [][]string{
		{"netns", "add", OutsideNamespace},
		{"-n", OutsideNamespace, "link", "set", "lo", "up"},
		{"link", "add", outsideDevice, "type", "veth", "peer", "name", "eth0", "netns", OutsideNamespace},
		{"link", "set", outsideDevice, "up"},
		{"-n", OutsideNamespace, "addr", "add", OutsideAddress + "/32", "dev", "eth0"},
		{"-n", OutsideNamespace, "link", "set", "eth0", "up"},
		{"-n", OutsideNamespace, "route", "add", "169.254.1.1/32", "dev", "eth0", "scope", "link"},
		{"-n", OutsideNamespace, "route", "add", "default", "via", "169.254.1.1", "dev", "eth0"},
	}
	for _, step := range steps {
		if out, err := exec.Command("ip", step...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(step, " "), err, out)
		}
	}
	return nil
}
