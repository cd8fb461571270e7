package localcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ferrite-dev/ferrite/apiserver/pki"
	"github.com/ferrite-dev/ferrite/apiserver/standalone"
)

// Ceph ports of `make run`'s cluster. Suites that run their own cluster next to it pick others,
// outside 6800-7300 where OSDs bind.
const (
	DefaultCephMonV2Port = 3300
	DefaultCephMonV1Port = 6789
)

// CephOptions configure the local Ceph cluster of the volume pool.
type CephOptions struct {
	// MonV2Port and MonV1Port are the monitor's ports on 127.0.0.1; 0 means the defaults.
	MonV2Port, MonV1Port int
	// ObjectStore is "bluestore" (data kept on a sparse file across restarts; `make run`) or
	// "memstore" (in memory, quicker; tests). Empty means bluestore.
	ObjectStore string
	// SizeBytes is the store's size: bluestore's file or memstore's memory. 0 means 16 GiB for
	// bluestore (a sparse file) and 2 GiB for memstore.
	SizeBytes int64
	// OvercommitRatio is the volumepoollet's --overcommit-ratio: thin volumes may promise this
	// many times the physical space. 0 means 4.
	OvercommitRatio float64
}

// startVolumePool brings up a single-node Ceph cluster under the data directory
// (hack/ceph-up.sh), ceph-provider on its pool "rbd" and a volumepoollet serving the VolumePool
// LocalPoolName. It needs the registry of the machine pool (images of volumes come from it).
func (c *Cluster) startVolumePool(ctx context.Context, opts PoolOptions, p *Pool) error {
	for _, name := range []string{"ceph-provider", "volumepoollet"} {
		if _, err := os.Stat(c.bin(name)); err != nil {
			return fmt.Errorf("%s is not built (it needs librados-dev and librbd-dev: make build-deps build)", name)
		}
	}
	dir := filepath.Join(c.opts.DataDir, "pool")
	ceph := opts.Ceph
	if ceph.ObjectStore == "" {
		ceph.ObjectStore = "bluestore"
	}
	if ceph.MonV2Port == 0 {
		ceph.MonV2Port, ceph.MonV1Port = DefaultCephMonV2Port, DefaultCephMonV1Port
	}
	if ceph.SizeBytes == 0 {
		ceph.SizeBytes = 16 << 30
		if ceph.ObjectStore == "memstore" {
			ceph.SizeBytes = 2 << 30
		}
	}
	if ceph.OvercommitRatio == 0 {
		ceph.OvercommitRatio = 4
	}
	p.CephDir = filepath.Join(c.opts.DataDir, "ceph")
	c.step("installing and starting a single-node Ceph cluster (%s) in %s (hack/ceph-up.sh)", ceph.ObjectStore, p.CephDir)
	up := exec.CommandContext(ctx, filepath.Join(opts.HackDir, "ceph-up.sh"))
	size := strconv.FormatInt(ceph.SizeBytes, 10)
	up.Env = append(os.Environ(), "CEPH_BASE="+p.CephDir, "OBJECTSTORE="+ceph.ObjectStore,
		"MON_V2_PORT="+strconv.Itoa(ceph.MonV2Port), "MON_V1_PORT="+strconv.Itoa(ceph.MonV1Port),
		"BLUESTORE_BYTES="+size, "MEMSTORE_BYTES="+size)
	if out, err := up.CombinedOutput(); err != nil {
		return fmt.Errorf("hack/ceph-up.sh: %w\n%s", err, out)
	}
	p.CephConf = filepath.Join(p.CephDir, "ceph.conf")
	fsid, err := cephFSID(p.CephConf)
	if err != nil {
		return err
	}

	p.VolumeRuntimeSocket = filepath.Join(dir, "volume-runtime.sock")
	p.cephProviderArgs = []string{"--socket=" + p.VolumeRuntimeSocket, "--ceph-conf=" + p.CephConf, "--pool=rbd",
		"--image-cache-dir=" + filepath.Join(dir, "volume-images"), "--plain-http-registry=" + p.Registry}
	c.step("starting ceph-provider on the pool rbd")
	if err := c.StartCephProvider(ctx); err != nil {
		return err
	}

	kubeconfig, err := c.poolletKubeconfig(dir, "volumepoollet")
	if err != nil {
		return err
	}
	p.volumePoolletArgs = []string{"--kubeconfig=" + kubeconfig, "--pool-name=" + LocalPoolName,
		"--runtime-endpoint=unix://" + p.VolumeRuntimeSocket, "--provider-id=ceph://" + fsid + "/rbd",
		"--pool-labels=topology.ferrite.dev/zone=zone-a", "--key-namespace=" + ServiceNamespace,
		"--overcommit-ratio=" + strconv.FormatFloat(ceph.OvercommitRatio, 'f', -1, 64)}
	c.step("starting volumepoollet for the VolumePool %q", LocalPoolName)
	return c.StartVolumePoollet()
}

// StartCephProvider starts ceph-provider (again, after KillCephProvider) and waits for its socket.
func (c *Cluster) StartCephProvider(ctx context.Context) error {
	p := c.pool
	var err error
	if p.cephProvider, err = startProcess("ceph-provider", c.logDir(), c.bin("ceph-provider"), p.cephProviderArgs...); err != nil {
		return err
	}
	return waitSocket(ctx, p.cephProvider, p.VolumeRuntimeSocket, 2*time.Minute)
}

// StartVolumePoollet starts the volumepoollet (again, after KillVolumePoollet).
func (c *Cluster) StartVolumePoollet() error {
	var err error
	c.pool.volumePoollet, err = startProcess("volumepoollet", c.logDir(), c.bin("volumepoollet"), c.pool.volumePoolletArgs...)
	return err
}

// KillVolumePoollet ends the volumepoollet at once (SIGKILL), as a crash would.
func (c *Cluster) KillVolumePoollet() { c.pool.volumePoollet.kill() }

// KillCephProvider ends ceph-provider at once (SIGKILL), as a crash would.
func (c *Cluster) KillCephProvider() { c.pool.cephProvider.kill() }

// poolletKubeconfig writes the kubeconfig of a local poollet ("machinepoollet" or
// "volumepoollet"): a client certificate in the group its role is bound to
// (config/rbac/bindings.yaml).
func (c *Cluster) poolletKubeconfig(dir, kind string) (string, error) {
	return c.daemonKubeconfig(dir, kind, LocalPoolName)
}

// daemonKubeconfig writes the kubeconfig of a pool's daemon (kind: machinepoollet, netagent) with
// its own client certificate, CN ferrite:<kind>:<pool> in group ferrite:<kind>s.
func (c *Cluster) daemonKubeconfig(dir, kind, pool string) (string, error) {
	user := "ferrite:" + kind + ":" + pool
	pair, err := c.creds.clusterCA.Ensure(kind+"-"+pool, pki.Spec{
		CommonName: user, Organizations: []string{"ferrite:" + kind + "s"}, Client: true,
	})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, kind+"-"+pool+".kubeconfig")
	kubeURL := "https://127.0.0.1:" + strconv.Itoa(c.ports.kubeAPIServer)
	return path, standalone.WriteKubeconfig(path, kubeURL, c.creds.clusterCA.CertFile, pair.CertFile, pair.KeyFile, user)
}

// cephFSID reads the cluster's fsid from its configuration.
func cephFSID(conf string) (string, error) {
	data, err := os.ReadFile(conf)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		key, value, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(key) == "fsid" {
			return strings.TrimSpace(value), nil
		}
	}
	return "", fmt.Errorf("%s has no fsid", conf)
}
