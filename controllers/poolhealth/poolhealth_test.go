package poolhealth_test

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

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
	"github.com/ferrite-dev/ferrite/controllers/machinescheduler"
	"github.com/ferrite-dev/ferrite/controllers/poolhealth"
)

func waitFor(t *testing.T, timeout time.Duration, what string, condition func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return condition(), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// A pool whose poollet stops heartbeating turns Ready=Unknown after the grace period; the
// scheduler avoids it until a heartbeat makes it Ready again, and then binds the waiting machine.
func TestStalePoolTurnsUnknownAndIsAvoided(t *testing.T) {
	server := testserver.Start(t)
	ctx := context.Background()
	off := false
	o := controllermanager.NewOptions()
	o.MetricsAddress, o.HealthAddress, o.LeaderElect = "0", "0", &off
	o.HeartbeatGrace, o.RetryInterval = 2*time.Second, time.Minute
	managerCtx, cancel := context.WithCancel(klog.NewContext(ctx, klog.Background()))
	mgr, err := controllermanager.NewManager(managerCtx, server.Config, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	recorder := events.NewFakeRecorder(100)
	if err := controllermanager.AddPoolHealth(managerCtx, mgr, recorder, o); err != nil {
		t.Fatal(err)
	}
	if err := controllermanager.AddMachineScheduler(managerCtx, mgr, recorder, o); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(managerCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	machinePools := server.Client.ComputeV1alpha1().MachinePools()
	pool, err := machinePools.Create(ctx, &computev1alpha1.MachinePool{ObjectMeta: metav1.ObjectMeta{Name: "host-a"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	heartbeat := func(pool *computev1alpha1.MachinePool) *computev1alpha1.MachinePool {
		now := metav1.Now()
		pool.Status.Allocatable = corev1.ResourceList{"small": resource.MustParse("4")}
		pool.Status.LastHeartbeatTime = &now
		meta.SetStatusCondition(&pool.Status.Conditions, metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Heartbeat"})
		pool, err := machinePools.UpdateStatus(ctx, pool, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return pool
	}
	// Heartbeat times travel with second precision, so the pool may turn stale up to a second
	// before start+grace.
	start := time.Now()
	pool = heartbeat(pool)
	volumePool, err := server.Client.StorageV1alpha1().VolumePools().Create(ctx, &storagev1alpha1.VolumePool{ObjectMeta: metav1.ObjectMeta{Name: "ceph-a"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	volumePool.Status.LastHeartbeatTime = &now
	volumePool.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Heartbeat", LastTransitionTime: now}}
	if _, err := server.Client.StorageV1alpha1().VolumePools().UpdateStatus(ctx, volumePool, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	readyOf := func() *metav1.Condition {
		got, err := machinePools.Get(ctx, "host-a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pool = got
		return meta.FindStatusCondition(got.Status.Conditions, "Ready")
	}
	waitFor(t, 20*time.Second, "Ready=Unknown", func() bool {
		c := readyOf()
		return c.Status == metav1.ConditionUnknown && c.Reason == poolhealth.ReasonHeartbeatMissed
	})
	if elapsed := time.Since(start); elapsed < o.HeartbeatGrace-time.Second {
		t.Errorf("Ready=Unknown after %v, before the %v grace", elapsed, o.HeartbeatGrace)
	}
	waitFor(t, 20*time.Second, "volume pool Ready=Unknown", func() bool {
		got, err := server.Client.StorageV1alpha1().VolumePools().Get(ctx, "ceph-a", metav1.GetOptions{})
		return err == nil && meta.IsStatusConditionPresentAndEqual(got.Status.Conditions, "Ready", metav1.ConditionUnknown)
	})

	machine, err := server.Client.ComputeV1alpha1().Machines("health").Create(ctx, &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "health"},
		Spec:       computev1alpha1.MachineSpec{MachineClassRef: corev1.LocalObjectReference{Name: "small"}, Image: "debian-12"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scheduled := func() *metav1.Condition {
		got, err := server.Client.ComputeV1alpha1().Machines("health").Get(ctx, machine.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return meta.FindStatusCondition(got.Status.Conditions, machinescheduler.ConditionScheduled)
	}
	waitFor(t, 20*time.Second, "NoReadyPool", func() bool {
		c := scheduled()
		return c != nil && c.Reason == machinescheduler.ReasonNoReadyPool
	})

	// The poollet comes back: the machine is bound without waiting for the retry interval.
	readyOf()
	heartbeat(pool)
	waitFor(t, 20*time.Second, "bound after the heartbeat", func() bool {
		c := scheduled()
		return c != nil && c.Status == metav1.ConditionTrue
	})
}
