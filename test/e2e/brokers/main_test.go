//go:build e2e

// Package brokers tests federation end to end: three Ferrite control planes on this machine,
// each `make run`'s (etcd, kube-apiserver, ferrite-apiserver, controller managers) with its own
// data directory and ports.
//
//   - zone: the lower cluster, with the local pool (libvirt and QEMU, a single-node Ceph
//     cluster, libvirt-provider and ceph-provider under their poollets);
//   - region: a MachinePool and a VolumePool "zone-a" whose runtimes are a machinebroker and a
//     volumebroker over the zone cluster (namespace region-brokers), under unchanged poollets;
//   - global: a MachinePool "region-1" whose runtime is a machinebroker over the region
//     cluster (namespace global-brokers): the third level.
//
// The brokers act below with their own certificates, bound to config/rbac's broker roles in
// their namespace only. The zone cluster's kube-apiserver writes an audit log of the brokers'
// requests, which TestLowerRequests counts. `make e2e-brokers` builds everything and runs it.
package brokers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/hack/localcluster"
	"github.com/ferrite-dev/ferrite/test/e2e/localtest"
)

// Names shared by the tests.
const (
	// namespace holds the tests' own objects in every cluster.
	namespace    = "e2e"
	machineClass = "e2e-small"
	volumeClass  = "e2e-fast"
	// regionPool is the region's broker pool over the zone; globalPool the global one over the
	// region.
	regionPool = "zone-a"
	globalPool = "region-1"
	// regionBrokers and globalBrokers are the brokers' namespaces in the cluster below them.
	regionBrokers = "region-brokers"
	globalBrokers = "global-brokers"
)

// level is one of the three clusters as the tests use it.
type level struct {
	name    string
	cluster *localcluster.Cluster
	ferrite versioned.Interface
	kube    kubernetes.Interface
	suite   *localtest.Suite
}

var (
	root                 string
	zone, region, global *level
	// zonePool is the zone cluster's local pool (libvirt, Ceph).
	zonePool *localcluster.Pool
	// regionBroker runs in the region cluster over the zone; globalBroker in the global
	// cluster over the region.
	regionBroker, globalBroker *localcluster.BrokerPool
)

func TestMain(m *testing.M) {
	root, _ = filepath.Abs("../../..")
	env, skip, err := localtest.StartWith("e2e-brokers", root,
		localcluster.Options{AuditUserGroups: []string{"ferrite:machinebrokers", "ferrite:volumebrokers"}},
		localcluster.PoolOptions{
			ShutdownTimeout: 10 * time.Second,
			// Its own Ceph cluster beside a `make run` one and the other suites': other ports,
			// in memory.
			Ceph: localcluster.CephOptions{MonV2Port: 3342, MonV1Port: 6793, ObjectStore: "memstore", SizeBytes: 2 << 30},
		})
	if skip != "" {
		fmt.Fprintf(os.Stderr, "e2e-brokers: skipped: %s\n", skip)
		os.Exit(0)
	}
	code := 1
	var upper []*localcluster.Cluster
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e-brokers: starting the zone cluster and its pool: %v\n", err)
	} else if upper, err = setUp(env); err != nil {
		fmt.Fprintf(os.Stderr, "e2e-brokers: %v\n", err)
	} else {
		code = m.Run()
	}
	for i := len(upper) - 1; i >= 0; i-- {
		upper[i].Stop()
	}
	env.Stop(code)
	os.Exit(code)
}

// setUp starts the region and global clusters and their broker pools, and makes the classes
// and namespaces everywhere. It returns the clusters it started, for TestMain to stop.
func setUp(env *localtest.Env) ([]*localcluster.Cluster, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	zonePool = env.Pool
	var err error
	if zone, err = newLevel("zone", env.Cluster); err != nil {
		return nil, err
	}
	var started []*localcluster.Cluster
	for _, name := range []string{"region", "global"} {
		c, err := localcluster.Start(ctx, localcluster.Options{DataDir: filepath.Join(env.Dir, name), BinDir: filepath.Join(root, "bin"),
			RBACFile: filepath.Join(root, "config", "rbac", "roles.yaml"), Progress: os.Stderr})
		if err != nil {
			return started, fmt.Errorf("starting the %s cluster: %w", name, err)
		}
		started = append(started, c)
	}
	if region, err = newLevel("region", started[0]); err != nil {
		return started, err
	}
	if global, err = newLevel("global", started[1]); err != nil {
		return started, err
	}
	for _, l := range []*level{zone, region, global} {
		if err := l.makeClassesAndNamespace(ctx); err != nil {
			return started, fmt.Errorf("%s: %w", l.name, err)
		}
	}
	bindings := filepath.Join(root, "config", "rbac", "bindings.yaml")
	if regionBroker, err = region.cluster.StartBrokerPool(ctx, localcluster.BrokerPoolOptions{
		Name: regionPool, Lower: zone.cluster, Namespace: regionBrokers, Labels: "topology.ferrite.dev/zone=zone-a",
		MachinePoolSelector: "topology.ferrite.dev/zone=zone-a", VolumePoolSelector: "topology.ferrite.dev/zone=zone-a",
		SweepInterval: 10 * time.Second, SweepGrace: 30 * time.Second, RBACBindingsFile: bindings,
	}); err != nil {
		return started, fmt.Errorf("the region's broker pool: %w", err)
	}
	if globalBroker, err = global.cluster.StartBrokerPool(ctx, localcluster.BrokerPoolOptions{
		Name: globalPool, Lower: region.cluster, Namespace: globalBrokers, Labels: "topology.ferrite.dev/region=region-1",
		NoVolumes: true, RBACBindingsFile: bindings,
	}); err != nil {
		return started, fmt.Errorf("the global broker pool: %w", err)
	}
	// Every pool offers the machine class (and the volume pools the volume class) once its
	// poollet has reported the capacity of the level below.
	for _, p := range []struct {
		l    *level
		pool string
	}{{zone, localcluster.LocalPoolName}, {region, regionPool}, {global, globalPool}} {
		if err := p.l.waitPoolAllocatable(ctx, p.pool, p.l != global); err != nil {
			return started, err
		}
	}
	return started, nil
}

func newLevel(name string, c *localcluster.Cluster) (*level, error) {
	l := &level{name: name, cluster: c}
	var err error
	if l.ferrite, err = versioned.NewForConfig(c.Config); err != nil {
		return nil, err
	}
	if l.kube, err = kubernetes.NewForConfig(c.Config); err != nil {
		return nil, err
	}
	l.suite = &localtest.Suite{Root: root, Kubeconfig: c.Kubeconfig, Namespace: namespace, Kube: l.kube}
	return l, nil
}

// makeClassesAndNamespace creates the test namespace and the classes, the same in every cluster:
// a broker passes a class down by name.
func (l *level) makeClassesAndNamespace(ctx context.Context) error {
	if _, err := l.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := l.ferrite.ComputeV1alpha1().MachineClasses().Create(ctx, &computev1alpha1.MachineClass{
		ObjectMeta:   metav1.ObjectMeta{Name: machineClass},
		Capabilities: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("256Mi")},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	_, err := l.ferrite.StorageV1alpha1().VolumeClasses().Create(ctx, &storagev1alpha1.VolumeClass{
		ObjectMeta:   metav1.ObjectMeta{Name: volumeClass},
		Capabilities: corev1.ResourceList{"iops": resource.MustParse("1000"), "tps": resource.MustParse("50Mi")},
		ResizePolicy: storagev1alpha1.ResizePolicyExpandOnly,
	}, metav1.CreateOptions{})
	return err
}

// waitPoolAllocatable waits until the MachinePool (and, with volumes, the VolumePool) pool
// offers the test classes.
func (l *level) waitPoolAllocatable(ctx context.Context, pool string, volumes bool) error {
	deadline := time.Now().Add(3 * time.Minute)
	var last string
	for time.Now().Before(deadline) {
		mp, err := l.ferrite.ComputeV1alpha1().MachinePools().Get(ctx, pool, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
		} else if n := mp.Status.Allocatable[corev1.ResourceName(machineClass)]; n.Value() == 0 {
			last = fmt.Sprintf("MachinePool %s allocatable %v", pool, mp.Status.Allocatable)
		} else if !volumes {
			return nil
		} else if vp, err := l.ferrite.StorageV1alpha1().VolumePools().Get(ctx, pool, metav1.GetOptions{}); err != nil {
			last = err.Error()
		} else if n := vp.Status.Allocatable[corev1.ResourceName(volumeClass)]; n.Value() == 0 {
			last = fmt.Sprintf("VolumePool %s allocatable %v", pool, vp.Status.Allocatable)
		} else {
			return nil
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("%s: the pool %s never offered the test classes: %s", l.name, pool, last)
}
