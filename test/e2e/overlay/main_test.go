//go:build e2e

// Package overlay tests the overlay network end to end: two hypervisors as network namespaces
// on an underlay bridge, two route reflectors, a netagent per hypervisor following the API, and
// real QEMU guests of two MachinePools (the local pool and a second one on the same libvirtd)
// that get their addresses by DHCP and ping each other across hosts. Each guest's tap, which
// libvirt makes in this machine's namespace, is moved into its pool's hypervisor namespace, as
// if the guest ran there. `make e2e-overlay` builds everything and runs it (root on Debian).
package overlay

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
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/hack/localcluster"
	"github.com/ferrite-dev/ferrite/test/e2e/localtest"
)

// Names shared by the tests.
const (
	namespace = "e2e-overlay"
	class     = "e2e-overlay"
	// secondPool is the second hypervisor's MachinePool; the first is the local pool.
	secondPool = "h2"
)

var (
	root    string
	env     *localtest.Env
	ferrite versioned.Interface
	kube    kubernetes.Interface
	suite   *localtest.Suite
	lab     *topology
)

func TestMain(m *testing.M) {
	root, _ = filepath.Abs("../../..")
	var skip string
	var err error
	env, skip, err = localtest.Start("e2e-overlay", root, localcluster.PoolOptions{
		ShutdownTimeout: 10 * time.Second,
		NoVolumePool:    true,
	})
	if skip != "" {
		fmt.Fprintf(os.Stderr, "e2e-overlay: skipped: %s\n", skip)
		os.Exit(0)
	}
	code := 1
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e-overlay: starting the control plane and the local pool: %v\n", err)
	} else if code = setUp(); code == 0 {
		code = m.Run()
	}
	deleteMachines()
	if lab != nil {
		lab.stop()
	}
	env.Stop(code)
	os.Exit(code)
}

// setUp makes the clients, the namespace and class, the second pool and the overlay lab.
func setUp() int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "e2e-overlay:", err)
		return 1
	}
	var err error
	if ferrite, err = versioned.NewForConfig(env.Cluster.Config); err == nil {
		kube, err = kubernetes.NewForConfig(env.Cluster.Config)
	}
	if err != nil {
		return fail(err)
	}
	suite = &localtest.Suite{Root: root, Kubeconfig: env.Cluster.Kubeconfig, Namespace: namespace, Kube: kube}
	ctx := context.Background()
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		return fail(err)
	}
	if _, err := ferrite.ComputeV1alpha1().MachineClasses().Create(ctx, &computev1alpha1.MachineClass{
		ObjectMeta:   metav1.ObjectMeta{Name: class},
		Capabilities: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("192Mi")},
	}, metav1.CreateOptions{}); err != nil {
		return fail(err)
	}
	if _, err := env.Cluster.StartExtraPool(ctx, secondPool, "overlay.ferrite.dev/host="+secondPool); err != nil {
		return fail(fmt.Errorf("second pool: %w", err))
	}
	for _, pool := range []string{localcluster.LocalPoolName, secondPool} {
		if err := waitPool(ctx, pool); err != nil {
			return fail(err)
		}
	}
	if lab, err = startTopology(ctx); err != nil {
		return fail(fmt.Errorf("overlay lab: %w", err))
	}
	return 0
}

// waitPool waits until a MachinePool offers the class.
func waitPool(ctx context.Context, name string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		p, err := ferrite.ComputeV1alpha1().MachinePools().Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			if q, ok := p.Status.Allocatable[corev1.ResourceName(class)]; ok && q.Value() > 0 {
				return nil
			}
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("the MachinePool %s never offered the class %s", name, class)
}

// deleteMachines deletes the suite's Machines and waits until their domains are gone: guests
// left running would keep the machine's CPUs busy for the suites after this one.
func deleteMachines() {
	if ferrite == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	machines := ferrite.ComputeV1alpha1().Machines(namespace)
	if err := machines.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, "e2e-overlay: deleting the machines:", err)
		return
	}
	for ctx.Err() == nil {
		list, err := machines.List(ctx, metav1.ListOptions{})
		if err == nil && len(list.Items) == 0 {
			return
		}
		time.Sleep(time.Second)
	}
	fmt.Fprintln(os.Stderr, "e2e-overlay: machines still there after 3 minutes")
}
