package localtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferrite-dev/ferrite/hack/localcluster"
)

// Env is a suite's local cluster and pool, started in a temporary directory.
type Env struct {
	// Dir holds the cluster's state and logs.
	Dir     string
	Cluster *localcluster.Cluster
	Pool    *localcluster.Pool
	root    string
}

// Start brings up `make run`'s control plane and local pool for the suite name in a temporary
// directory, with opts (HackDir and RBACBindingsFile are filled in from root, the repository).
// skip says why this machine cannot run the suite (not root, no apt, binaries not built);
// err why the start failed. A volume pool that was asked for and did not start is an error.
// The returned Env is never nil, so Stop can always be called.
func Start(name, root string, opts localcluster.PoolOptions) (env *Env, skip string, err error) {
	return StartWith(name, root, localcluster.Options{}, opts)
}

// StartWith is Start with options of the control plane: DataDir, BinDir, RBACFile and Progress
// are filled in; the rest of clusterOpts (such as AuditUserGroups) is kept.
func StartWith(name, root string, clusterOpts localcluster.Options, opts localcluster.PoolOptions) (env *Env, skip string, err error) {
	env = &Env{root: root}
	bin := filepath.Join(root, "bin")
	if reason := localcluster.LocalPoolUnavailable(bin); reason != "" {
		return env, reason, nil
	}
	if env.Dir, err = os.MkdirTemp("", "ferrite-"+name+"-"); err != nil {
		return env, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	clusterOpts.DataDir, clusterOpts.BinDir, clusterOpts.Progress = env.Dir, bin, os.Stderr
	clusterOpts.RBACFile = filepath.Join(root, "config", "rbac", "roles.yaml")
	if env.Cluster, err = localcluster.Start(ctx, clusterOpts); err != nil {
		return env, "", err
	}
	opts.HackDir = filepath.Join(root, "hack")
	opts.RBACBindingsFile = filepath.Join(root, "config", "rbac", "bindings.yaml")
	if env.Pool, err = env.Cluster.StartPool(ctx, opts); err != nil {
		return env, "", err
	}
	if !opts.NoVolumePool && env.Pool.VolumePoolError != "" {
		return env, "", fmt.Errorf("the volume pool did not start: %s", env.Pool.VolumePoolError)
	}
	return env, "", nil
}

// Stop stops the cluster and the pool's Ceph cluster, and removes the directory when the suite
// passed (code 0); otherwise it keeps it and says where the logs are.
func (e *Env) Stop(code int) {
	if e.Cluster != nil {
		e.Cluster.Stop()
	}
	if e.Pool != nil && e.Pool.CephDir != "" {
		down := exec.Command(filepath.Join(e.root, "hack", "ceph-down.sh"))
		down.Env = append(os.Environ(), "CEPH_BASE="+e.Pool.CephDir)
		_ = down.Run()
	}
	if e.Dir == "" {
		return
	}
	if code == 0 {
		os.RemoveAll(e.Dir)
		// The providers' state (disks, console logs, image caches) lives outside the data
		// directory, readable by QEMU: the local pool's and its extra pools' (<state dir>-<name>).
		if e.Pool != nil && e.Pool.StateDir != "" {
			extra, _ := filepath.Glob(e.Pool.StateDir + "-*")
			for _, dir := range append(extra, e.Pool.StateDir) {
				os.RemoveAll(dir)
			}
		}
	} else {
		fmt.Fprintf(os.Stderr, "logs kept in %s/logs\n", e.Dir)
	}
}

// Main runs a suite (name: "e2e-volumes") against a local cluster and pool started with opts:
// setUp gets the running Env and returns 0 when the tests may run; then the tests run,
// everything stops and the process exits with the result. A machine that cannot run the suite
// skips it with one line saying why.
func Main(m *testing.M, name, root string, opts localcluster.PoolOptions, setUp func(*Env) int) {
	env, skip, err := Start(name, root, opts)
	if skip != "" {
		fmt.Fprintf(os.Stderr, "%s: skipped: %s\n", name, skip)
		os.Exit(0)
	}
	code := 1
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: starting the control plane and the local pool: %v\n", name, err)
	} else if code = setUp(env); code == 0 {
		code = m.Run()
	}
	env.Stop(code)
	os.Exit(code)
}
