// Command bench-volumes measures volumes on a real Ceph cluster (`make bench-volumes`). It starts
// `make run`'s control plane with the local pool in a temporary directory (its own single-node
// memstore Ceph cluster on its own ports, ceph-provider, a volumepoollet; libvirt-provider and a
// machinepoollet) and prints, in one run:
//
//   - Volumes created per second and create-to-Available p50 and p99: empty volumes and volumes
//     cloned from an OCI image, N created at once through the API; next to the ceilings, the
//     rate of rbd_create alone and of rbd_clone alone (librbd from this process, same cluster,
//     same concurrency);
//   - boot from volume against local disk: create-to-Running of machines booting the guest image
//     from an ephemeral RBD volume, and from the provider's local copy-on-write disk.
//
// It prints figures and never fails on a number. Root on Debian only; elsewhere it says why and
// exits.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/hack/localcluster"
)

// Names the benchmark creates in its own cluster.
const (
	benchNamespace    = "bench-volumes"
	benchVolumeClass  = "bench-volume"
	benchMachineClass = "bench-small"
)

type options struct {
	binDir, repoDir string
	volumes         int
	workers         int
	machines        int
	volumeSize      string
	roundTimeout    time.Duration
	keep            bool
}

// system is the running cluster and its clients.
type system struct {
	opts    options
	dir     string
	cluster *localcluster.Cluster
	pool    *localcluster.Pool
	ferrite versioned.Interface
}

func main() {
	var o options
	flag.StringVar(&o.binDir, "bin-dir", "bin", "directory of the Ferrite binaries, etcd, kube-apiserver and kube-controller-manager")
	flag.StringVar(&o.repoDir, "repo", ".", "the repository (its hack/ scripts and config/rbac/)")
	flag.IntVar(&o.volumes, "volumes", 50, "volumes per round")
	flag.IntVar(&o.workers, "workers", 8, "creates sent at once (API rounds and the librbd ceilings alike)")
	flag.IntVar(&o.machines, "machines", 2, "machines per boot round")
	flag.StringVar(&o.volumeSize, "volume-size", "64Mi", "size of every volume")
	flag.DurationVar(&o.roundTimeout, "round-timeout", 5*time.Minute, "how long a round waits")
	flag.BoolVar(&o.keep, "keep", false, "keep the cluster's directory (logs) afterwards")
	flag.Parse()
	bin, _ := filepath.Abs(o.binDir)
	o.binDir = bin
	o.repoDir, _ = filepath.Abs(o.repoDir)
	if reason := localcluster.LocalPoolUnavailable(o.binDir); reason != "" {
		fmt.Printf("bench-volumes: skipped: %s\n", reason)
		return
	}
	s, err := start(o)
	if err == nil {
		err = s.run()
	}
	if s != nil {
		s.stop(err)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-volumes: %v\n", err)
		os.Exit(1)
	}
}

func start(o options) (*system, error) {
	dir, err := os.MkdirTemp("", "ferrite-bench-volumes-")
	if err != nil {
		return nil, err
	}
	s := &system{opts: o, dir: dir}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if s.cluster, err = localcluster.Start(ctx, localcluster.Options{DataDir: dir, BinDir: o.binDir,
		RBACFile: filepath.Join(o.repoDir, "config", "rbac", "roles.yaml"), Progress: os.Stderr}); err != nil {
		return s, err
	}
	if s.pool, err = s.cluster.StartPool(ctx, localcluster.PoolOptions{
		HackDir: filepath.Join(o.repoDir, "hack"), RBACBindingsFile: filepath.Join(o.repoDir, "config", "rbac", "bindings.yaml"),
		CPUOvercommitRatio: 16, ShutdownTimeout: 10 * time.Second,
		Ceph: localcluster.CephOptions{MonV2Port: 3350, MonV1Port: 6793, ObjectStore: "memstore", SizeBytes: 4 << 30, OvercommitRatio: 8},
	}); err != nil {
		return s, err
	}
	if s.pool.VolumePoolError != "" {
		return s, fmt.Errorf("the volume pool did not start: %s", s.pool.VolumePoolError)
	}
	// The bench is the only client: no client-side throttling in what it measures.
	config := rest.CopyConfig(s.cluster.Config)
	config.QPS, config.Burst = 1000, 2000
	if s.ferrite, err = versioned.NewForConfig(config); err != nil {
		return s, err
	}
	kube, err := kubernetes.NewForConfig(s.cluster.Config)
	if err != nil {
		return s, err
	}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}}, metav1.CreateOptions{}); err != nil {
		return s, err
	}
	if _, err := s.ferrite.StorageV1alpha1().VolumeClasses().Create(ctx, &storagev1alpha1.VolumeClass{
		ObjectMeta:   metav1.ObjectMeta{Name: benchVolumeClass},
		Capabilities: corev1.ResourceList{"iops": resource.MustParse("10000"), "tps": resource.MustParse("1Gi")},
		ResizePolicy: storagev1alpha1.ResizePolicyExpandOnly,
	}, metav1.CreateOptions{}); err != nil {
		return s, err
	}
	if _, err := s.ferrite.ComputeV1alpha1().MachineClasses().Create(ctx, &computev1alpha1.MachineClass{
		ObjectMeta:   metav1.ObjectMeta{Name: benchMachineClass},
		Capabilities: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("256Mi")},
	}, metav1.CreateOptions{}); err != nil {
		return s, err
	}
	return s, s.waitPools(ctx)
}

// waitPools waits until both local pools offer the bench classes.
func (s *system) waitPools(ctx context.Context) error {
	return waitEmpty(ctx, func() (int, error) {
		mp, err := s.ferrite.ComputeV1alpha1().MachinePools().Get(ctx, localcluster.LocalPoolName, metav1.GetOptions{})
		if err != nil {
			return 1, err
		}
		vp, err := s.ferrite.StorageV1alpha1().VolumePools().Get(ctx, localcluster.LocalPoolName, metav1.GetOptions{})
		if err != nil {
			return 1, err
		}
		m, v := mp.Status.Allocatable[benchMachineClass], vp.Status.Allocatable[benchVolumeClass]
		if m.Value() == 0 || v.Value() == 0 {
			return 1, fmt.Errorf("allocatable: machines %s, volumes %s", m.String(), v.String())
		}
		return 0, nil
	})
}

func (s *system) run() error {
	o := s.opts
	size := resource.MustParse(o.volumeSize)
	timed := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), o.roundTimeout)
	}

	fmt.Printf("\n== Volumes: %d created at once (%d creates in flight), %s each, single-node memstore Ceph on this machine\n\n", o.volumes, o.workers, o.volumeSize)
	ctx, cancel := timed()
	ceilings, err := measureRBD(ctx, s.pool.CephConf, "rbd", o.volumes, o.workers, uint64(size.Value()))
	cancel()
	if err != nil {
		return fmt.Errorf("librbd ceilings: %w", err)
	}
	// The image is imported once, before the measured clone round.
	ctx, cancel = timed()
	_, err = s.volumeRound(ctx, "warm", 1, 1, s.pool.GuestImage)
	cancel()
	if err != nil {
		return fmt.Errorf("importing the image: %w", err)
	}
	ctx, cancel = timed()
	empty, err := s.volumeRound(ctx, "empty", o.volumes, o.workers, "")
	cancel()
	if err != nil {
		return fmt.Errorf("empty volumes: %w", err)
	}
	ctx, cancel = timed()
	cloned, err := s.volumeRound(ctx, "image", o.volumes, o.workers, s.pool.GuestImage)
	cancel()
	if err != nil {
		return fmt.Errorf("volumes from the image: %w", err)
	}
	fmt.Printf("%-34s %12s %10s %10s %10s\n", "", "rate", "p50", "p99", "max")
	fmt.Printf("%-34s %12s %10s %10s %10s\n", "rbd_create alone (ceiling)", perSecond(ceilings.create), ms(ceilings.create.Percentile(50)), ms(ceilings.create.Percentile(99)), ms(ceilings.create.Percentile(100)))
	fmt.Printf("%-34s %12s %10s %10s %10s\n", "Volume, empty: create to Available", empty.perSecondOf(), ms(empty.p50), ms(empty.p99), ms(empty.maxDelay))
	fmt.Printf("%-34s %12s %10s %10s %10s\n", "rbd_clone alone (ceiling)", perSecond(ceilings.clone), ms(ceilings.clone.Percentile(50)), ms(ceilings.clone.Percentile(99)), ms(ceilings.clone.Percentile(100)))
	fmt.Printf("%-34s %12s %10s %10s %10s\n", "Volume, image: create to Available", cloned.perSecondOf(), ms(cloned.p50), ms(cloned.p99), ms(cloned.maxDelay))

	fmt.Printf("\n== Machines: %d created at once, booting the guest image (TCG without /dev/kvm)\n\n", o.machines)
	// One machine first, so that both rounds find the image in the provider's cache (the
	// boot-from-volume machines take their kernel from it too).
	ctx, cancel = timed()
	_, err = s.machineRound(ctx, "warm", 1, false)
	cancel()
	if err != nil {
		return fmt.Errorf("warming the image cache: %w", err)
	}
	ctx, cancel = timed()
	local, err := s.machineRound(ctx, "local", o.machines, false)
	cancel()
	if err != nil {
		return fmt.Errorf("machines on a local disk: %w", err)
	}
	ctx, cancel = timed()
	volume, err := s.machineRound(ctx, "volume", o.machines, true)
	cancel()
	if err != nil {
		return fmt.Errorf("machines booting from a volume: %w", err)
	}
	fmt.Printf("%-34s %10s %10s\n", "create to Running", "p50", "max")
	fmt.Printf("%-34s %10s %10s\n", "local disk (image cached)", ms(local.p50), ms(local.maxDelay))
	fmt.Printf("%-34s %10s %10s\n", "boot from volume (RBD clone)", ms(volume.p50), ms(volume.maxDelay))
	return nil
}

func (s *system) stop(err error) {
	if s.cluster != nil {
		s.cluster.Stop()
	}
	if s.pool != nil && s.pool.CephDir != "" {
		_ = stopCeph(s.opts.repoDir, s.pool.CephDir)
	}
	if err == nil && !s.opts.keep {
		os.RemoveAll(s.dir)
	} else {
		fmt.Fprintf(os.Stderr, "logs kept in %s/logs\n", s.dir)
	}
}

// stopCeph stops the benchmark's Ceph cluster (hack/ceph-down.sh).
func stopCeph(repo, base string) error {
	cmd := exec.Command(filepath.Join(repo, "hack", "ceph-down.sh"))
	cmd.Env = append(os.Environ(), "CEPH_BASE="+base)
	return cmd.Run()
}
