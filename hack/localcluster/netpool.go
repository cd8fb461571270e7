package localcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
	config := map[string]any{
		"routerID": agentAddress, "localAddress": agentAddress,
		"reflectors": []string{fmt.Sprintf("%s:%d", reflectorAddress, reflectorPort)},
		"http":       "127.0.0.1:9180",
		"publicVNI":  PublicVNI,
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
