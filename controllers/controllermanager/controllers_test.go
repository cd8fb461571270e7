package controllermanager_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
)

// TestTheBinaryRunsEveryController starts the manager exactly as the binary does (New, which
// adds every controller) and checks the work of controllers that are easy to lose from the
// registration list: the claim, pool binding and class protection controllers.
func TestTheBinaryRunsEveryController(t *testing.T) {
	server := testserver.Start(t)
	ctx := context.Background()
	off := false
	o := controllermanager.NewOptions()
	o.MetricsAddress, o.HealthAddress, o.LeaderElect = "0", "0", &off
	managerCtx, cancel := context.WithCancel(klog.NewContext(ctx, klog.Background()))
	mgr, err := controllermanager.New(managerCtx, server.Config, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(managerCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	compute, storage := server.Client.ComputeV1alpha1(), server.Client.StorageV1alpha1()
	if _, err := compute.MachinePools().Create(ctx, &computev1alpha1.MachinePool{ObjectMeta: metav1.ObjectMeta{Name: "host"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.Volumes("default").Create(ctx, &storagev1alpha1.Volume{
		ObjectMeta: metav1.ObjectMeta{Name: "disk"},
		Spec: storagev1alpha1.VolumeSpec{
			VolumeClassRef: corev1.LocalObjectReference{Name: "fast"},
			Resources:      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := compute.Machines("default").Create(ctx, &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: "vm"},
		Spec: computev1alpha1.MachineSpec{
			MachineClassRef: corev1.LocalObjectReference{Name: "small"},
			Volumes:         []computev1alpha1.MachineVolume{{Name: "data", VolumeRef: &corev1.LocalObjectReference{Name: "disk"}}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := compute.Machines("default").Bind(ctx, "vm", &computev1alpha1.MachineBinding{Target: corev1.LocalObjectReference{Name: "host"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := compute.MachineClasses().Create(ctx, &computev1alpha1.MachineClass{
		ObjectMeta:   metav1.ObjectMeta{Name: "unused"},
		Capabilities: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	waitFor(t, "the claim controller to claim the volume", func() bool {
		v, err := storage.Volumes("default").Get(ctx, "disk", metav1.GetOptions{})
		return err == nil && v.Spec.ClaimRef != nil && v.Spec.ClaimRef.Name == "vm"
	})
	if err := compute.MachinePools().Delete(ctx, "host", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pool binding controller to mark the machine", func() bool {
		m, err := compute.Machines("default").Get(ctx, "vm", metav1.GetOptions{})
		return err == nil && meta.IsStatusConditionFalse(m.Status.Conditions, "PoolAvailable")
	})
	if err := compute.MachineClasses().Delete(ctx, "unused", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the class protection controller to let an unused class go", func() bool {
		_, err := compute.MachineClasses().Get(ctx, "unused", metav1.GetOptions{})
		return err != nil
	})
}

func waitFor(t *testing.T, what string, condition func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return condition(), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}
