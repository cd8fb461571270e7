//go:build e2e

// Package machines tests machines that really run: the control plane `make run` starts (etcd,
// kube-apiserver, ferrite-apiserver, the controller managers) with the local pool (a local OCI
// registry holding the guest image, libvirtd with QEMU, libvirt-provider and a machinepoollet),
// driven through kubectl, the kubectl-ferrite plugin, the generated clientset, virsh and the
// provider's socket. `make e2e-machines` builds everything and runs it.
package machines

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/hack/localcluster"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/test/e2e/localtest"
)

// Names shared by the tests.
const (
	namespace = "e2e-machines"
	class     = "e2e-small"
)

var (
	root    string
	cluster *localcluster.Cluster
	pool    *localcluster.Pool
	ferrite versioned.Interface
	kube    kubernetes.Interface
	runtime runtimev1alpha1.MachineRuntimeClient
	suite   *localtest.Suite
)

func TestMain(m *testing.M) {
	root, _ = filepath.Abs("../../..")
	localtest.Main(m, "e2e-machines", root, localcluster.PoolOptions{
		// Machines are deleted right after they start, before the guest listens to the ACPI
		// button: force them off soon.
		ShutdownTimeout: 10 * time.Second,
		// Volumes have their own suite (test/e2e/volumes).
		NoVolumePool: true,
	}, func(env *localtest.Env) int {
		cluster, pool = env.Cluster, env.Pool
		return setUp()
	})
}

// setUp makes the clients, the namespace and the machine class, and waits for the pool.
func setUp() int {
	var err error
	if ferrite, err = versioned.NewForConfig(cluster.Config); err == nil {
		kube, err = kubernetes.NewForConfig(cluster.Config)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	suite = &localtest.Suite{Root: root, Kubeconfig: cluster.Kubeconfig, Namespace: namespace, Kube: kube}
	conn, err := grpc.NewClient("unix://"+pool.RuntimeSocket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	runtime = runtimev1alpha1.NewMachineRuntimeClient(conn)
	ctx := context.Background()
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := ferrite.ComputeV1alpha1().MachineClasses().Create(ctx, &computev1alpha1.MachineClass{
		ObjectMeta:   metav1.ObjectMeta{Name: class},
		Capabilities: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("256Mi")},
	}, metav1.CreateOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		p, err := ferrite.ComputeV1alpha1().MachinePools().Get(ctx, localcluster.LocalPoolName, metav1.GetOptions{})
		if err == nil {
			if q, ok := p.Status.Allocatable[corev1.ResourceName(class)]; ok && q.Value() > 0 {
				return 0
			}
		}
		time.Sleep(time.Second)
	}
	fmt.Fprintln(os.Stderr, "the MachinePool local never offered the class", class)
	return 1
}

// run runs a command (a path under the repository, or one on PATH) and returns its combined
// output.
func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	return suite.Run(t, "", name, args...)
}

// kubectl runs bin/kubectl against the cluster and fails the test on an error.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	return suite.MustKubectl(t, args...)
}

// eventually retries f every half second until it returns nil or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	localtest.Eventually(t, timeout, what, f)
}

// runInput runs a command of the repository (a path relative to its root) with stdin.
func runInput(t *testing.T, stdin, name string, args ...string) (string, error) {
	t.Helper()
	return suite.Run(t, stdin, name, args...)
}

// filesOf lists the files under the provider's state directory whose path names the machine.
func filesOf(t *testing.T, uid string) []string {
	t.Helper()
	var found []string
	_ = filepath.Walk(pool.StateDir, func(path string, info os.FileInfo, err error) error {
		if err == nil && strings.Contains(path, uid) {
			found = append(found, path)
		}
		return nil
	})
	return found
}
