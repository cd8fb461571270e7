package poolbinding_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
	"github.com/ferrite-dev/ferrite/controllers/poolbinding"
)

// TestDeletedAndReplacedPools deletes the pool of a bound machine and of a bound volume: both get
// PoolAvailable=False (PoolDeleted) and a Warning event, and keep their binding. A pool
// re-created under the same name is another pool: the objects turn PoolReplaced, and the
// re-created pool's ledger does not adopt them.
func TestDeletedAndReplacedPools(t *testing.T) {
	server := testserver.Start(t)
	ctx := context.Background()
	off := false
	o := controllermanager.NewOptions()
	o.MetricsAddress, o.HealthAddress, o.LeaderElect = "0", "0", &off
	o.LedgerResync = time.Second
	managerCtx, cancel := context.WithCancel(klog.NewContext(ctx, klog.Background()))
	mgr, err := controllermanager.NewManager(managerCtx, server.Config, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	recorder := events.NewFakeRecorder(100)
	for _, add := range []func(context.Context, ctrl.Manager, events.EventRecorder, *controllermanager.Options) error{
		controllermanager.AddMachineScheduler, controllermanager.AddVolumeScheduler, controllermanager.AddPoolBinding,
	} {
		if err := add(managerCtx, mgr, recorder, o); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(managerCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	machinePools := server.Client.ComputeV1alpha1().MachinePools()
	machines := server.Client.ComputeV1alpha1().Machines("tenant")
	if _, err := machinePools.Create(ctx, &computev1alpha1.MachinePool{ObjectMeta: metav1.ObjectMeta{Name: "host"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := machines.Create(ctx, &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: "vm"},
		Spec:       computev1alpha1.MachineSpec{MachineClassRef: corev1.LocalObjectReference{Name: "small"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the scheduler to find no pool", func() bool {
		m, err := machines.Get(ctx, "vm", metav1.GetOptions{})
		return err == nil && meta.IsStatusConditionFalse(m.Status.Conditions, "Scheduled")
	})
	// An operator places the machine by hand.
	if _, err := machines.Bind(ctx, "vm", &computev1alpha1.MachineBinding{Target: corev1.LocalObjectReference{Name: "host"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A machine bound by hand never keeps the scheduler's Scheduled=False (the pool offers no
	// class, so the scheduler may have found none before the bind).
	waitFor(t, 20*time.Second, "no Scheduled=False on the hand-bound machine", func() bool {
		m, err := machines.Get(ctx, "vm", metav1.GetOptions{})
		return err == nil && !meta.IsStatusConditionFalse(m.Status.Conditions, "Scheduled")
	})
	// The ledger adopts the hand-placed machine.
	waitFor(t, 20*time.Second, "the ledger to adopt the bound machine", func() bool {
		pool, err := machinePools.Get(ctx, "host", metav1.GetOptions{})
		return err == nil && len(pool.Status.Reservations) == 0 && counted(pool.Status.Allocated) == 1
	})

	volumePools := server.Client.StorageV1alpha1().VolumePools()
	volumes := server.Client.StorageV1alpha1().Volumes("tenant")
	if _, err := volumePools.Create(ctx, &storagev1alpha1.VolumePool{ObjectMeta: metav1.ObjectMeta{Name: "ceph"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := volumes.Create(ctx, &storagev1alpha1.Volume{
		ObjectMeta: metav1.ObjectMeta{Name: "disk"},
		Spec: storagev1alpha1.VolumeSpec{
			VolumeClassRef: corev1.LocalObjectReference{Name: "fast"},
			Resources:      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := volumes.Bind(ctx, "disk", &storagev1alpha1.VolumeBinding{Target: corev1.LocalObjectReference{Name: "ceph"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := machinePools.Delete(ctx, "host", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := volumePools.Delete(ctx, "ceph", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the machine to turn PoolAvailable=False PoolDeleted", func() bool {
		m, err := machines.Get(ctx, "vm", metav1.GetOptions{})
		return err == nil && hasReason(m.Status.Conditions, poolbinding.ReasonPoolDeleted) && m.Spec.MachinePoolRef != nil
	})
	waitFor(t, 20*time.Second, "the volume to turn PoolAvailable=False PoolDeleted", func() bool {
		v, err := volumes.Get(ctx, "disk", metav1.GetOptions{})
		return err == nil && hasReason(v.Status.Conditions, poolbinding.ReasonPoolDeleted)
	})

	// A new pool of the same name: another UID, no adoption.
	if _, err := machinePools.Create(ctx, &computev1alpha1.MachinePool{ObjectMeta: metav1.ObjectMeta{Name: "host"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the machine to turn PoolReplaced", func() bool {
		m, err := machines.Get(ctx, "vm", metav1.GetOptions{})
		return err == nil && hasReason(m.Status.Conditions, poolbinding.ReasonPoolReplaced)
	})
	// Give the ledger reconciler (1 s resync) time to act, then check that it adopted nothing.
	time.Sleep(3 * time.Second)
	pool, err := machinePools.Get(ctx, "host", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pool.Status.Reservations) != 0 || counted(pool.Status.Allocated) != 0 {
		t.Fatalf("the re-created pool's ledger holds %v and %v, want nothing adopted from the old pool", pool.Status.Allocated, pool.Status.Reservations)
	}
}

// counted sums a ledger's per-class counts.
func counted(allocated corev1.ResourceList) int64 {
	var n int64
	for _, q := range allocated {
		n += q.Value()
	}
	return n
}

func hasReason(conditions []metav1.Condition, reason string) bool {
	c := meta.FindStatusCondition(conditions, poolbinding.ConditionPoolAvailable)
	return c != nil && c.Status == metav1.ConditionFalse && c.Reason == reason
}

func waitFor(t *testing.T, timeout time.Duration, what string, condition func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return condition(), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}
