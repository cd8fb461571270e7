//go:build e2e

// Package volumes tests volumes on a real Ceph cluster: the control plane `make run` starts with
// the local pool (libvirt and QEMU for machines; a single-node Ceph cluster, ceph-provider and a
// volumepoollet for volumes), driven through kubectl (via kube-apiserver) and checked with the
// Ceph tools (rbd, ceph, qemu-io) and virsh. `make e2e-volumes` builds everything and runs it.
package volumes

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	namespace      = "e2e-volumes"
	otherNamespace = "e2e-volumes-other"
	machineClass   = "e2e-small"
	// Volume classes: fast grows (ExpandOnly) and has QoS limits, fixed never changes size,
	// encrypted is LUKS2.
	fastClass      = "e2e-fast"
	fixedClass     = "e2e-fixed"
	encryptedClass = "e2e-encrypted"
	// Limits of fastClass, checked on the RBD image.
	fastIOPS = 500
	fastTPS  = 20 << 20
	// The Ceph pool ceph-provider serves.
	cephPool = "rbd"
)

var (
	root    string
	cluster *localcluster.Cluster
	pool    *localcluster.Pool
	ferrite versioned.Interface
	kube    kubernetes.Interface
	suite   *localtest.Suite
)

func TestMain(m *testing.M) {
	root, _ = filepath.Abs("../../..")
	localtest.Main(m, "e2e-volumes", root, localcluster.PoolOptions{
		ShutdownTimeout: 10 * time.Second,
		// Its own cluster beside a `make run` one: other ports, in memory.
		Ceph: localcluster.CephOptions{MonV2Port: 3340, MonV1Port: 6791, ObjectStore: "memstore", SizeBytes: 3 << 30},
	}, func(env *localtest.Env) int {
		cluster, pool = env.Cluster, env.Pool
		return setUp()
	})
}

// setUp makes the clients, the namespaces and the classes, and waits for both pools.
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
	ctx := context.Background()
	for _, ns := range []string{namespace, otherNamespace} {
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if _, err := ferrite.ComputeV1alpha1().MachineClasses().Create(ctx, &computev1alpha1.MachineClass{
		ObjectMeta:   metav1.ObjectMeta{Name: machineClass},
		Capabilities: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("256Mi")},
	}, metav1.CreateOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The classes through kubectl, as an operator writes them; a tenant "alice" may edit the
	// test namespace and nothing else.
	classes := fmt.Sprintf(`apiVersion: storage.ferrite.dev/v1alpha1
kind: VolumeClass
metadata: {name: %s}
capabilities: {iops: "%d", tps: "%d"}
resizePolicy: ExpandOnly
---
apiVersion: storage.ferrite.dev/v1alpha1
kind: VolumeClass
metadata: {name: %s}
capabilities: {iops: "1000", tps: 50Mi}
resizePolicy: Static
---
apiVersion: storage.ferrite.dev/v1alpha1
kind: VolumeClass
metadata: {name: %s}
capabilities: {iops: "1000", tps: 50Mi}
resizePolicy: ExpandOnly
encryption: {format: LUKS2}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-edit, namespace: %s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}]
`, fastClass, fastIOPS, fastTPS, fixedClass, encryptedClass, namespace)
	apply := exec.Command(filepath.Join(root, "bin", "kubectl"), "--kubeconfig", cluster.Kubeconfig, "apply", "-f", "-")
	apply.Stdin = strings.NewReader(classes)
	if out, err := apply.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "applying the classes: %v\n%s", err, out)
		return 1
	}
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		mp, err1 := ferrite.ComputeV1alpha1().MachinePools().Get(ctx, localcluster.LocalPoolName, metav1.GetOptions{})
		vp, err2 := ferrite.StorageV1alpha1().VolumePools().Get(ctx, localcluster.LocalPoolName, metav1.GetOptions{})
		if err1 == nil && err2 == nil {
			m, v := mp.Status.Allocatable[corev1.ResourceName(machineClass)], vp.Status.Allocatable[corev1.ResourceName(encryptedClass)]
			if m.Value() > 0 && v.Value() > 0 {
				return 0
			}
		}
		time.Sleep(time.Second)
	}
	fmt.Fprintln(os.Stderr, "the local pools never offered the test classes")
	return 1
}
