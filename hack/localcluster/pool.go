package localcluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferrite-dev/ferrite/apiserver/standalone"
)

// LocalPoolName is the MachinePool and the VolumePool that `make run` serves from this machine.
const LocalPoolName = "local"

// GuestImageRepository is the repository of the guest image in the local registry.
const GuestImageRepository = "ferrite/guest"

// PoolOptions configure the local machine pool.
type PoolOptions struct {
	// HackDir holds the scripts that install and start libvirt and build the guest image.
	HackDir string
	// RBACBindingsFile binds the poollet's group to its ClusterRole.
	RBACBindingsFile string
	// RegistryPort is the local registry's port on 127.0.0.1; 0 picks a free one (kept across
	// restarts). `make run` uses DefaultRegistryPort, which config/samples/ names.
	RegistryPort int
	// CPUOvercommitRatio is libvirt-provider's --cpu-overcommit-ratio, vCPUs handed out per
	// host thread; 0 means DefaultCPUOvercommitRatio. A benchmark raises it to place many
	// small guests.
	CPUOvercommitRatio float64
	// ShutdownTimeout is how long a guest has to power off before libvirt-provider forces it
	// (its --shutdown-timeout); 0 keeps the provider's default.
	ShutdownTimeout time.Duration
	// NoVolumePool leaves out the local VolumePool (Ceph, ceph-provider, volumepoollet).
	NoVolumePool bool
	// Network also starts a route reflector and the pool's netagent, which program this
	// machine's own network namespace (`make run`). Two of them on one machine would undo each
	// other's kernel state, so suites and benchmarks leave it off.
	Network bool
	// Ceph configures the volume pool's Ceph cluster.
	Ceph CephOptions
}

// DefaultCPUOvercommitRatio is the local pool's vCPUs per host thread: a 2-core machine runs a
// few guests.
const DefaultCPUOvercommitRatio = 4

// DefaultRegistryPort is the port of `make run`'s local OCI registry.
const DefaultRegistryPort = 5050

// Pool is a running local pool: an OCI registry holding the guest image, libvirtd,
// libvirt-provider and a machinepoollet serving the MachinePool "local", and (unless left out)
// a single-node Ceph cluster, ceph-provider and a volumepoollet serving the VolumePool "local".
type Pool struct {
	registry, provider, poollet         *process
	reflector, netAgent                 *process
	cephProvider, volumePoollet         *process
	providerArgs, poolletArgs           []string
	cephProviderArgs, volumePoolletArgs []string
	// Registry is the local registry's host:port.
	Registry string
	// GuestImage is the reference of the guest image in the local registry.
	GuestImage string
	// RuntimeSocket is libvirt-provider's socket.
	RuntimeSocket string
	// StateDir is libvirt-provider's state directory (machine disks, console logs).
	StateDir string
	// VolumePoolError says why the volume pool is not running ("" when it runs or was left out).
	VolumePoolError string
	// CephDir is the local Ceph cluster's directory, CephConf its configuration.
	CephDir, CephConf string
	// VolumeRuntimeSocket is ceph-provider's socket.
	VolumeRuntimeSocket string
}

// LocalPoolUnavailable says in one line why this machine cannot run a local pool (real VMs
// need root, apt-get to install libvirt and QEMU, and the Ferrite binaries), or "" when it can.
func LocalPoolUnavailable(binDir string) string {
	if os.Geteuid() != 0 {
		return "not running as root (libvirtd and QEMU need it)"
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "not a Debian system (no apt-get to install libvirt and QEMU)"
	}
	for _, name := range []string{"libvirt-provider", "machinepoollet", "ferrite-registry", "route-reflector", "netagent"} {
		if _, err := os.Stat(filepath.Join(binDir, name)); err != nil {
			return name + " is not built"
		}
	}
	return ""
}

// StartPool brings up the local machine pool next to the control plane.
func (c *Cluster) StartPool(ctx context.Context, opts PoolOptions) (*Pool, error) {
	c.pool = &Pool{}
	if err := c.startPool(ctx, opts, c.pool); err != nil {
		c.pool.Stop()
		c.pool = nil
		return nil, err
	}
	return c.pool, nil
}

func (c *Cluster) startPool(ctx context.Context, opts PoolOptions, p *Pool) error {
	dir := filepath.Join(c.opts.DataDir, "pool")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	c.step("installing and starting libvirtd and QEMU (hack/libvirt-up.sh)")
	if out, err := exec.CommandContext(ctx, filepath.Join(opts.HackDir, "libvirt-up.sh")).CombinedOutput(); err != nil {
		return fmt.Errorf("hack/libvirt-up.sh: %w\n%s", err, out)
	}

	port := opts.RegistryPort
	if port == 0 {
		var err error
		if port, err = recordedPort(filepath.Join(dir, "registry-port")); err != nil {
			return err
		}
	} else if !standalone.PortFree(port) {
		return fmt.Errorf("the local registry's port 127.0.0.1:%d is in use", port)
	}
	p.Registry = "127.0.0.1:" + strconv.Itoa(port)
	c.step("starting the local OCI registry on %s", p.Registry)
	var err error
	if p.registry, err = startProcess("ferrite-registry", c.logDir(), c.bin("ferrite-registry"),
		"serve", "--listen="+p.Registry, "--dir="+filepath.Join(dir, "registry")); err != nil {
		return err
	}
	if err := waitTCP(ctx, p.registry, p.Registry, 30*time.Second); err != nil {
		return err
	}
	p.GuestImage = p.Registry + "/" + GuestImageRepository + ":latest"
	c.step("building the guest image (once) and pushing it to %s (hack/guest-image.sh)", p.GuestImage)
	guest := exec.CommandContext(ctx, filepath.Join(opts.HackDir, "guest-image.sh"), "--push", p.GuestImage)
	guest.Env = append(os.Environ(), "FERRITE_REGISTRY="+c.bin("ferrite-registry"))
	if out, err := guest.CombinedOutput(); err != nil {
		return fmt.Errorf("hack/guest-image.sh: %w\n%s", err, out)
	}

	// The provider's files must be readable by QEMU's user, so they live outside the
	// (private) data directory, in a directory named after it.
	sum := sha256.Sum256([]byte(c.opts.DataDir))
	instance := "local-" + hex.EncodeToString(sum[:4])
	p.StateDir = filepath.Join("/var/lib/ferrite", instance)
	p.RuntimeSocket = filepath.Join(dir, "machine-runtime.sock")
	ratio := opts.CPUOvercommitRatio
	if ratio == 0 {
		ratio = DefaultCPUOvercommitRatio
	}
	// A development pool, overcommitted so that a 2-core machine runs a few guests. Its own
	// instance, so that two local pools on one libvirtd (make run and an e2e suite) never take
	// each other's domains.
	p.providerArgs = []string{"--socket=" + p.RuntimeSocket, "--state-dir=" + p.StateDir, "--instance=" + instance,
		"--image-cache-dir=" + filepath.Join(p.StateDir, "images"), "--plain-http-registry=" + p.Registry,
		"--cpu-overcommit-ratio=" + strconv.FormatFloat(ratio, 'f', -1, 64)}
	if opts.ShutdownTimeout > 0 {
		p.providerArgs = append(p.providerArgs, "--shutdown-timeout="+opts.ShutdownTimeout.String())
	}
	c.step("starting libvirt-provider (state in %s)", p.StateDir)
	if err := c.StartProvider(ctx); err != nil {
		return err
	}

	kubeconfig, err := c.poolletKubeconfig(dir, "machinepoollet")
	if err != nil {
		return err
	}
	if data, err := os.ReadFile(opts.RBACBindingsFile); err == nil {
		if err := applyYAML(ctx, c.Config, data); err != nil {
			return fmt.Errorf("applying %s: %w", opts.RBACBindingsFile, err)
		}
	}
	p.poolletArgs = append([]string{"--kubeconfig=" + kubeconfig, "--pool-name=" + LocalPoolName,
		"--runtime-endpoint=unix://" + p.RuntimeSocket, "--provider-id=libvirt://" + hostname(),
		// config/samples/ places its Machine in zone-a.
		"--pool-labels=topology.ferrite.dev/zone=zone-a"},
		c.poolletConsoleArgs()...)
	c.step("starting machinepoollet for the MachinePool %q", LocalPoolName)
	if err := c.StartPoollet(); err != nil {
		return err
	}
	if opts.Network {
		if err := c.startNetwork(ctx, p); err != nil {
			return err
		}
	}
	if !opts.NoVolumePool {
		// Machines run without it (their volumes wait); say why instead of failing.
		if err := c.startVolumePool(ctx, opts, p); err != nil {
			p.VolumePoolError = err.Error()
			for _, proc := range []*process{p.volumePoollet, p.cephProvider} {
				if proc != nil {
					proc.stop(5 * time.Second)
				}
			}
			p.volumePoollet, p.cephProvider = nil, nil
		}
	}
	return nil
}

// StartProvider starts libvirt-provider (again, after KillProvider) and waits for its socket.
func (c *Cluster) StartProvider(ctx context.Context) error {
	p := c.pool
	var err error
	if p.provider, err = startProcess("libvirt-provider", c.logDir(), c.bin("libvirt-provider"), p.providerArgs...); err != nil {
		return err
	}
	return waitSocket(ctx, p.provider, p.RuntimeSocket, 2*time.Minute)
}

// StartPoollet starts the machinepoollet (again, after KillPoollet).
func (c *Cluster) StartPoollet() error {
	var err error
	c.pool.poollet, err = startProcess("machinepoollet", c.logDir(), c.bin("machinepoollet"), c.pool.poolletArgs...)
	return err
}

// KillPoollet ends the machinepoollet at once (SIGKILL), as a crash would.
func (c *Cluster) KillPoollet() { c.pool.poollet.kill() }

// KillProvider ends libvirt-provider at once (SIGKILL), as a crash would.
func (c *Cluster) KillProvider() { c.pool.provider.kill() }

// Stop stops the pool's processes (the machines keep running in libvirt, as on a hypervisor
// whose agents restart, and the Ceph cluster keeps running with its volumes).
func (p *Pool) Stop() {
	for _, proc := range []*process{p.netAgent, p.reflector, p.volumePoollet, p.cephProvider, p.poollet, p.provider, p.registry} {
		if proc != nil {
			proc.stop(15 * time.Second)
		}
	}
}

// ProviderPID is libvirt-provider's process ID, 0 when it is not running.
func (p *Pool) ProviderPID() int { return pidOf(p.provider) }

// PoolletPID is the machinepoollet's process ID, 0 when it is not running.
func (p *Pool) PoolletPID() int { return pidOf(p.poollet) }

func pidOf(proc *process) int {
	if proc == nil || !proc.running() {
		return 0
	}
	return proc.cmd.Process.Pid
}

func (p *Pool) processes() []*process {
	if p == nil {
		return nil
	}
	return []*process{p.registry, p.provider, p.poollet, p.cephProvider, p.volumePoollet, p.reflector, p.netAgent}
}

// recordedPort reuses the port recorded in path while it is free, and picks a free one
// otherwise.
func recordedPort(path string) (int, error) {
	if data, err := os.ReadFile(path); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && standalone.PortFree(n) {
			return n, nil
		}
	}
	port, err := standalone.FreePort()
	if err != nil {
		return 0, err
	}
	return port, os.WriteFile(path, []byte(strconv.Itoa(port)+"\n"), 0o600)
}

func waitTCP(ctx context.Context, p *process, address string, timeout time.Duration) error {
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		if !p.running() {
			return false, p.exitError()
		}
		conn, err := net.DialTimeout("tcp", address, time.Second)
		if err != nil {
			return false, nil
		}
		conn.Close()
		return true, nil
	})
}

func waitSocket(ctx context.Context, p *process, path string, timeout time.Duration) error {
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		if !p.running() {
			return false, p.exitError()
		}
		conn, err := net.DialTimeout("unix", path, time.Second)
		if err != nil {
			return false, nil
		}
		conn.Close()
		return true, nil
	})
}

func hostname() string {
	name, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return name
}
