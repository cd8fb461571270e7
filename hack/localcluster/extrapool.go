package localcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ExtraPool is one more MachinePool on this machine's libvirtd, next to the local pool: its own
// libvirt-provider instance (state directory, socket, domains) and machinepoollet. Suites that
// need two hypervisors (the overlay network's) run the local pool and one of these.
type ExtraPool struct {
	// Name is the MachinePool's name.
	Name string
	// RuntimeSocket is the pool's libvirt-provider socket.
	RuntimeSocket string
	// StateDir is the provider's state directory.
	StateDir          string
	provider, poollet *process
}

// StartExtraPool starts a MachinePool named name, labelled with labels (k=v,...), on the
// libvirtd and guest image registry of the running local pool.
func (c *Cluster) StartExtraPool(ctx context.Context, name, labels string) (*ExtraPool, error) {
	if c.pool == nil || c.pool.Registry == "" {
		return nil, fmt.Errorf("pool %s: the local pool is not running", name)
	}
	dir := filepath.Join(c.opts.DataDir, "pool-"+name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	e := &ExtraPool{Name: name, RuntimeSocket: filepath.Join(dir, "machine-runtime.sock"),
		StateDir: c.pool.StateDir + "-" + name}
	c.extraPools = append(c.extraPools, e)
	var err error
	if e.provider, err = startProcess("libvirt-provider-"+name, c.logDir(), c.bin("libvirt-provider"),
		"--socket="+e.RuntimeSocket, "--state-dir="+e.StateDir, "--instance="+filepath.Base(e.StateDir),
		"--image-cache-dir="+filepath.Join(e.StateDir, "images"), "--plain-http-registry="+c.pool.Registry,
		"--cpu-overcommit-ratio=8"); err != nil {
		return nil, err
	}
	if err := waitSocket(ctx, e.provider, e.RuntimeSocket, 2*time.Minute); err != nil {
		return nil, err
	}
	kubeconfig, err := c.daemonKubeconfig(dir, "machinepoollet", name)
	if err != nil {
		return nil, err
	}
	e.poollet, err = startProcess("machinepoollet-"+name, c.logDir(), c.bin("machinepoollet"),
		append([]string{"--kubeconfig=" + kubeconfig, "--pool-name=" + name,
			"--runtime-endpoint=unix://" + e.RuntimeSocket, "--provider-id=libvirt://" + hostname() + "/" + name,
			"--pool-labels=" + labels}, c.poolletConsoleArgs()...)...)
	return e, err
}

// DaemonKubeconfig writes, under the data directory, the kubeconfig of a pool's daemon (kind
// machinepoollet or netagent), a client certificate in the group its role is bound to, and
// returns its path.
func (c *Cluster) DaemonKubeconfig(kind, pool string) (string, error) {
	dir := filepath.Join(c.opts.DataDir, "daemons")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return c.daemonKubeconfig(dir, kind, pool)
}

// Stop stops the pool's processes; its machines keep running in libvirt.
func (e *ExtraPool) Stop() {
	for _, proc := range e.processes() {
		if proc != nil {
			proc.stop(15 * time.Second)
		}
	}
}

func (e *ExtraPool) processes() []*process {
	return []*process{e.poollet, e.provider}
}
