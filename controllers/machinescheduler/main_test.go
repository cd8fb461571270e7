package machinescheduler_test

import (
	"context"
	"fmt"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
	"github.com/ferrite-dev/ferrite/controllers/machinescheduler"
)

// server is shared by the tests of this package; each test uses its own labels, classes and
// namespace, so pools of other tests never fit its machines.
var server *testserver.Server

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferrite-machinescheduler-test-")
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

// startScheduler runs a manager with the machine scheduler and its ledger reconciler until the
// returned stop function is called (or the test ends). No leader election: two may run at once.
func startScheduler(t *testing.T, recorder events.EventRecorder) (stop func()) {
	t.Helper()
	return startSchedulerWith(t, recorder, controllermanager.NewOptions())
}

// startSchedulerWith is startScheduler with options to start from.
func startSchedulerWith(t *testing.T, recorder events.EventRecorder, o *controllermanager.Options) (stop func()) {
	t.Helper()
	off := false
	o.MetricsAddress, o.HealthAddress, o.LeaderElect = "0", "0", &off
	o.RetryInterval = 5 * time.Second
	o.SeveralManagersInProcess = true
	o.HeartbeatGrace = time.Hour
	// Planted entries of machines that never existed are dropped after this.
	o.LedgerMissingGrace = 2 * time.Second
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background().V(2)))
	mgr, err := controllermanager.NewManager(ctx, server.Config, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	if recorder == nil {
		recorder = events.NewFakeRecorder(10000)
	}
	if err := controllermanager.AddMachineScheduler(ctx, mgr, recorder, o); err != nil {
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

type poolSpec struct {
	name        string
	labels      map[string]string
	allocatable map[string]int64
	ready       bool
	heartbeat   time.Time
	taints      []corev1.Taint
	reserved    []*computev1alpha1.Machine
}

// createPool creates a pool and writes its status as a poollet would.
func createPool(t *testing.T, spec poolSpec) *computev1alpha1.MachinePool {
	t.Helper()
	ctx := context.Background()
	pool, err := server.Client.ComputeV1alpha1().MachinePools().Create(ctx, &computev1alpha1.MachinePool{
		ObjectMeta: metav1.ObjectMeta{Name: spec.name, Labels: spec.labels},
		Spec:       computev1alpha1.MachinePoolSpec{Taints: spec.taints},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	status := metav1.ConditionTrue
	if !spec.ready {
		status = metav1.ConditionFalse
	}
	if spec.heartbeat.IsZero() {
		spec.heartbeat = time.Now()
	}
	// Like a poollet, write the status on the latest version of the pool: the ledger
	// reconciler may already have adopted a machine bound to it at create.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		latest, err := server.Client.ComputeV1alpha1().MachinePools().Get(ctx, spec.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		latest.Status.Allocatable = corev1.ResourceList{}
		for class, n := range spec.allocatable {
			latest.Status.Allocatable[corev1.ResourceName(class)] = *resource.NewQuantity(n, resource.DecimalSI)
		}
		latest.Status.Capacity = latest.Status.Allocatable
		beat := metav1.NewTime(spec.heartbeat)
		latest.Status.LastHeartbeatTime = &beat
		latest.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: status, Reason: "Heartbeat", LastTransitionTime: beat}}
		for _, m := range spec.reserved {
			if !hasReservation(latest.Status.Reservations, m.UID) {
				latest.Status.Reservations = append(latest.Status.Reservations, computev1alpha1.MachinePoolReservation{
					MachineUID: m.UID, MachineClass: m.Spec.MachineClassRef.Name})
			}
		}
		updated, err := server.Client.ComputeV1alpha1().MachinePools().UpdateStatus(ctx, latest, metav1.UpdateOptions{})
		if err == nil {
			pool = updated
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

// cleanNamespace deletes the namespace's machines when the test ends, so that later tests'
// schedulers do not work on them.
func cleanNamespace(t *testing.T, namespace string) {
	t.Cleanup(func() {
		err := server.Client.ComputeV1alpha1().Machines(namespace).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
		if err != nil {
			t.Errorf("cleaning %s: %v", namespace, err)
		}
	})
}

func newMachine(namespace, name, class string, selector map[string]string) *computev1alpha1.Machine {
	return &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: computev1alpha1.MachineSpec{
			MachineClassRef:     corev1.LocalObjectReference{Name: class},
			MachinePoolSelector: selector,
			Image:               "debian-12",
		},
	}
}

func createMachine(t *testing.T, m *computev1alpha1.Machine) *computev1alpha1.Machine {
	t.Helper()
	created, err := server.Client.ComputeV1alpha1().Machines(m.Namespace).Create(context.Background(), m, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return created
}

// waitFor polls condition every 200 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, condition func() (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return condition()
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// boundCounts lists the namespace's machines and counts them per pool ("" for unbound).
func boundCounts(t *testing.T, namespace string) map[string]int {
	t.Helper()
	list, err := server.Client.ComputeV1alpha1().Machines(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, m := range list.Items {
		pool := ""
		if m.Spec.MachinePoolRef != nil {
			pool = m.Spec.MachinePoolRef.Name
		}
		counts[pool]++
	}
	return counts
}

// checkLedgers asserts that no pool of the names holds more reservations than it allocates, and
// that each ledger lists exactly the machines of the namespace bound to the pool.
func checkLedgers(t *testing.T, namespace, class string, pools []string) {
	t.Helper()
	list, err := server.Client.ComputeV1alpha1().Machines(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	boundTo := map[string]string{}
	for _, m := range list.Items {
		if m.Spec.MachinePoolRef != nil {
			boundTo[string(m.UID)] = m.Spec.MachinePoolRef.Name
		}
	}
	for _, name := range pools {
		pool, err := server.Client.ComputeV1alpha1().MachinePools().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if reserved, allocatable := machinescheduler.Reserved(pool, class), machinescheduler.Allocatable(pool, class); reserved > allocatable {
			t.Errorf("pool %s: %d reservations of %s, allocatable %d", name, reserved, class, allocatable)
		}
		for _, r := range pool.Status.Reservations {
			if boundTo[string(r.MachineUID)] != name {
				t.Errorf("pool %s: ledger entry %s is bound to %q", name, r.MachineUID, boundTo[string(r.MachineUID)])
			}
		}
	}
	for uid, pool := range boundTo {
		found := false
		p, _ := server.Client.ComputeV1alpha1().MachinePools().Get(context.Background(), pool, metav1.GetOptions{})
		for _, r := range p.Status.Reservations {
			found = found || string(r.MachineUID) == uid
		}
		if !found {
			t.Errorf("machine %s bound to %s has no ledger entry", uid, pool)
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

func hasReservation(reservations []computev1alpha1.MachinePoolReservation, uid types.UID) bool {
	for _, r := range reservations {
		if r.MachineUID == uid {
			return true
		}
	}
	return false
}
