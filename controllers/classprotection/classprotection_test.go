package classprotection_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"

	"github.com/ferrite-dev/ferrite/apis/compute"
	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/storage"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/classprotection"
	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
)

func start(t *testing.T, server *testserver.Server) *events.FakeRecorder {
	t.Helper()
	off := false
	o := controllermanager.NewOptions()
	o.MetricsAddress, o.HealthAddress, o.LeaderElect, o.SeveralManagersInProcess = "0", "0", &off, true
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background()))
	mgr, err := controllermanager.NewManager(ctx, server.Config, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	recorder := events.NewFakeRecorder(1000)
	if err := controllermanager.AddClassProtection(ctx, mgr, recorder, o); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return recorder
}

func waitFor(t *testing.T, what string, condition func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		return condition(), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// waitForEvent waits for an event whose text contains every part.
func waitForEvent(t *testing.T, recorder *events.FakeRecorder, parts ...string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case event := <-recorder.Events:
			matches := true
			for _, part := range parts {
				matches = matches && strings.Contains(event, part)
			}
			if matches {
				return
			}
		case <-timeout:
			t.Fatalf("no event with %q", parts)
		}
	}
}

// A MachineClass used by a Machine is not deleted while the machine exists; the wait is
// explained by an event on the class; it finishes once the machine is gone.
func TestMachineClassInUseWaits(t *testing.T) {
	server := testserver.Start(t)
	recorder := start(t, server)
	ctx := context.Background()
	classes := server.Client.ComputeV1alpha1().MachineClasses()
	class, err := classes.Create(ctx, &computev1alpha1.MachineClass{ObjectMeta: metav1.ObjectMeta{Name: "small"},
		Capabilities: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(class.Finalizers, compute.ClassProtectionFinalizer) {
		t.Fatalf("finalizers %v: the apiserver did not protect the new class", class.Finalizers)
	}
	machines := server.Client.ComputeV1alpha1().Machines("cp")
	if _, err := machines.Create(ctx, &computev1alpha1.Machine{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: computev1alpha1.MachineSpec{MachineClassRef: corev1.LocalObjectReference{Name: "small"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := classes.Delete(ctx, "small", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForEvent(t, recorder, "Warning "+classprotection.ReasonInUse, "MachineClass in use by 1 object: Machine cp/web")
	if class, err := classes.Get(ctx, "small", metav1.GetOptions{}); err != nil || class.DeletionTimestamp == nil {
		t.Fatalf("class %v (%v), want it waiting for deletion", class, err)
	}

	if err := machines.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the class deleted", func() bool {
		_, err := classes.Get(ctx, "small", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}

// A VolumeClass is in use by Volumes and by Machines' ephemeral volume templates; a class
// without the finalizer (created before protection existed) gets it from the controller.
func TestVolumeClassProtection(t *testing.T) {
	server := testserver.Start(t)
	recorder := start(t, server)
	ctx := context.Background()
	classes := server.Client.StorageV1alpha1().VolumeClasses()
	if _, err := classes.Create(ctx, &storagev1alpha1.VolumeClass{ObjectMeta: metav1.ObjectMeta{Name: "fast"},
		Capabilities: corev1.ResourceList{"iops": resource.MustParse("1000"), "tps": resource.MustParse("100Mi")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// As if stored before protection: the controller puts the finalizer back.
	if _, err := classes.Patch(ctx, "fast", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the finalizer added by the controller", func() bool {
		class, err := classes.Get(ctx, "fast", metav1.GetOptions{})
		return err == nil && slices.Contains(class.Finalizers, storage.ClassProtectionFinalizer)
	})

	volumes := server.Client.StorageV1alpha1().Volumes("cp")
	if _, err := volumes.Create(ctx, &storagev1alpha1.Volume{ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: storagev1alpha1.VolumeSpec{VolumeClassRef: corev1.LocalObjectReference{Name: "fast"},
			Resources: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	machines := server.Client.ComputeV1alpha1().Machines("cp")
	if _, err := machines.Create(ctx, &computev1alpha1.Machine{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: computev1alpha1.MachineSpec{MachineClassRef: corev1.LocalObjectReference{Name: "small"},
			Volumes: []computev1alpha1.MachineVolume{{Name: "root", Ephemeral: &computev1alpha1.EphemeralVolumeSource{
				VolumeClassRef: corev1.LocalObjectReference{Name: "fast"},
				Resources:      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}}}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := classes.Delete(ctx, "fast", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForEvent(t, recorder, "VolumeClass in use by 2 objects: Machine cp/db, Volume cp/data")

	if err := volumes.Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForEvent(t, recorder, "VolumeClass in use by 1 object: Machine cp/db")
	if _, err := classes.Get(ctx, "fast", metav1.GetOptions{}); err != nil {
		t.Fatalf("the class went while a machine's template still uses it: %v", err)
	}
	if err := machines.Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the class deleted", func() bool {
		_, err := classes.Get(ctx, "fast", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}
