package scheduler_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
	"github.com/ferrite-dev/ferrite/controllers/scheduler"
)

// server is shared by the tests of this package; each test uses its own pool labels, classes and
// namespace (prefixed with the kind), so pools of other tests never fit its objects.
var server *testserver.Server

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferrite-scheduler-test-")
	if err != nil {
		panic(err)
	}
	server, err = testserver.StartInDir(dir)
	if err != nil {
		panic(err)
	}
	code := m.Run()
	server.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// poolSpec describes a pool; allocatable is in units (a machine, or 1Gi of a volume).
type poolSpec struct {
	name        string
	labels      map[string]string
	allocatable map[string]int64
	notReady    bool
	taints      []corev1.Taint
}

// objectSpec describes a machine or volume taking one unit of its class.
type objectSpec struct {
	namespace, name, class string
	labels                 map[string]string
	selector               map[string]string
	tolerations            []corev1.Toleration
	spread                 []computev1alpha1.TopologySpreadConstraint
}

// object is what the tests read back of a machine or volume.
type object struct {
	name, pool string
	uid        types.UID
	scheduled  *metav1.Condition
}

// fixture is one kind under test: the same tests run for machines and volumes.
type fixture interface {
	// kind is "machine" or "volume"; names of pools, classes and namespaces start with it.
	kind() string
	add(ctx context.Context, mgr ctrl.Manager, recorder events.EventRecorder, o *controllermanager.Options) error
	createPool(t *testing.T, spec poolSpec) types.UID
	createObject(t *testing.T, spec objectSpec) types.UID
	list(t *testing.T, namespace string) []object
	// ledger reads a pool's ledger in units, with its allocatable in units.
	ledger(t *testing.T, pool string) (scheduler.Ledger, map[string]int64)
	// plant adds entries (in units) to a pool's ledger, as a crashed scheduler would leave them.
	plant(t *testing.T, pool string, entries ...scheduler.Entry)
	bindByHand(t *testing.T, namespace, name, pool string)
	deleteObject(t *testing.T, namespace, name string)
	deleteAll(t *testing.T, namespace string)
}

// forEachKind runs the test for machines and for volumes.
func forEachKind(t *testing.T, test func(t *testing.T, f fixture)) {
	for _, f := range []fixture{machines{}, volumes{}} {
		t.Run(f.kind(), func(t *testing.T) { test(t, f) })
	}
}

// startScheduler runs a manager with the kind's scheduler until the returned stop function is
// called (or the test ends). No leader election: two may run at once.
func startScheduler(t *testing.T, f fixture, recorder events.EventRecorder, configure ...func(*controllermanager.Options)) (stop func()) {
	t.Helper()
	off := false
	o := controllermanager.NewOptions()
	o.MetricsAddress, o.HealthAddress, o.LeaderElect = "0", "0", &off
	o.RetryInterval = 5 * time.Second
	o.SeveralManagersInProcess = true
	o.LedgerMissingGrace = 2 * time.Second
	o.LedgerGrowthGrace = 2 * time.Second
	for _, c := range configure {
		c(o)
	}
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background().V(2)))
	mgr, err := controllermanager.NewManager(ctx, server.Config, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	if recorder == nil {
		recorder = events.NewFakeRecorder(100000)
	}
	if err := f.add(ctx, mgr, recorder, o); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

// readyStatus is the status a poollet writes: allocatable, capacity, Ready and a heartbeat.
func readyStatus(spec poolSpec, unit resource.Quantity, format resource.Format) (corev1.ResourceList, []metav1.Condition, *metav1.Time) {
	list := corev1.ResourceList{}
	for class, n := range spec.allocatable {
		q := unit.DeepCopy()
		q.Mul(n)
		list[corev1.ResourceName(class)] = *resource.NewQuantity(q.Value(), format)
	}
	now := metav1.Now()
	status := metav1.ConditionTrue
	if spec.notReady {
		status = metav1.ConditionFalse
	}
	return list, []metav1.Condition{{Type: "Ready", Status: status, Reason: "Heartbeat", LastTransitionTime: now}}, &now
}

// retryConflicts runs a read-modify-write until it does not conflict.
func retryConflicts(t *testing.T, fn func() error) {
	t.Helper()
	if err := retry.RetryOnConflict(retry.DefaultRetry, fn); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls condition every 100 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, condition func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return condition(), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// boundCounts counts the namespace's objects per pool ("" for unbound).
func boundCounts(t *testing.T, f fixture, namespace string) map[string]int {
	counts := map[string]int{}
	for _, o := range f.list(t, namespace) {
		counts[o.pool]++
	}
	return counts
}

// checkLedgers asserts that no pool holds more than it allocates, and, once settled (no
// entries), that each pool's allocated equals the objects of the namespace bound to it.
func checkLedgers(t *testing.T, f fixture, namespace, class string, pools ...string) {
	t.Helper()
	bound := boundCounts(t, f, namespace)
	for _, pool := range pools {
		var ledger scheduler.Ledger
		waitFor(t, 20*time.Second, "the ledger of "+pool+" to settle", func() bool {
			ledger, _ = f.ledger(t, pool)
			return len(ledger.Entries) == 0 && ledger.Allocated[class] == int64(bound[pool])
		})
		_, allocatable := f.ledger(t, pool)
		if used := ledger.Used(class); used > allocatable[class] {
			t.Errorf("pool %s: %d of %s used, allocatable %d", pool, used, class, allocatable[class])
		}
	}
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}
