package apiserver_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	computeac "github.com/ferrite-dev/ferrite/generated/applyconfiguration/compute/v1alpha1"
)

// TestPoolRefOnlyThroughBinding checks that the pool reference of a Machine cannot be set or
// changed through create, update, patch or apply (422 naming the field), and that the binding
// subresource sets it with the pool's UID, is idempotent, never moves a bound machine, and
// refuses a pool that does not exist.
func TestPoolRefOnlyThroughBinding(t *testing.T) {
	ctx := testContext(t)
	pools := server.Client.ComputeV1alpha1().MachinePools()
	machines := server.Client.ComputeV1alpha1().Machines("binding")
	poolA, err := pools.Create(ctx, &computev1alpha1.MachinePool{ObjectMeta: objectMeta("binding-a")}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pools.Create(ctx, &computev1alpha1.MachinePool{ObjectMeta: objectMeta("binding-b")}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Create with a pool reference: refused, naming the field.
	_, err = machines.Create(ctx, &computev1alpha1.Machine{
		ObjectMeta: objectMeta("preset"),
		Spec: computev1alpha1.MachineSpec{
			MachineClassRef: ref("small"),
			MachinePoolRef:  &computev1alpha1.MachinePoolReference{Name: "binding-a"},
		},
	}, metav1.CreateOptions{})
	wantCauses(t, err, "spec.machinePoolRef")

	m, err := machines.Create(ctx, &computev1alpha1.Machine{
		ObjectMeta: objectMeta("m"), Spec: computev1alpha1.MachineSpec{MachineClassRef: ref("small")},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Update, merge patch and server-side apply that set it: refused.
	withRef := m.DeepCopy()
	withRef.Spec.MachinePoolRef = &computev1alpha1.MachinePoolReference{Name: "binding-a"}
	_, err = machines.Update(ctx, withRef, metav1.UpdateOptions{})
	wantCauses(t, err, "spec.machinePoolRef")
	_, err = machines.Patch(ctx, "m", types.MergePatchType, []byte(`{"spec":{"machinePoolRef":{"name":"binding-a"}}}`), metav1.PatchOptions{})
	wantCauses(t, err, "spec.machinePoolRef")
	apply := computeac.Machine("m", "binding").WithSpec(computeac.MachineSpec().
		WithMachineClassRef(corev1ac.LocalObjectReference().WithName("small")).
		WithMachinePoolRef(computeac.MachinePoolReference().WithName("binding-a")))
	_, err = machines.Apply(ctx, apply, metav1.ApplyOptions{FieldManager: "tenant", Force: true})
	wantCauses(t, err, "spec.machinePoolRef")

	// A pool that does not exist: 422 on target.name.
	_, err = machines.Bind(ctx, "m", binding("m", "no-such-pool"), metav1.CreateOptions{})
	wantCauses(t, err, "target.name")
	// A binding named for another machine: 422.
	_, err = machines.Bind(ctx, "m", binding("other", "binding-a"), metav1.CreateOptions{})
	wantCauses(t, err, "metadata.name")

	bound, err := machines.Bind(ctx, "m", binding("m", "binding-a"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := bound.Spec.MachinePoolRef; got == nil || got.Name != "binding-a" || got.UID != poolA.UID {
		t.Fatalf("bound: machinePoolRef %+v, want binding-a with UID %s", got, poolA.UID)
	}
	if bound.Generation != 2 {
		t.Fatalf("bound: generation %d, want 2 (the spec changed)", bound.Generation)
	}
	// Binding again to the same pool is a no-op; to another pool a conflict.
	if _, err := machines.Bind(ctx, "m", binding("m", "binding-a"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("re-binding to the same pool: %v", err)
	}
	if _, err := machines.Bind(ctx, "m", binding("m", "binding-b"), metav1.CreateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("moving a bound machine: %v, want 409", err)
	}

	// An update that omits the reference (a client that does not know the field) keeps it.
	omitted := bound.DeepCopy()
	omitted.Spec.MachinePoolRef = nil
	omitted.Spec.Image = "ghcr.io/ferrite/os:1"
	kept, err := machines.Update(ctx, omitted, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if kept.Spec.MachinePoolRef == nil || kept.Spec.MachinePoolRef.UID != poolA.UID {
		t.Fatalf("update without machinePoolRef: %+v, want the binding kept", kept.Spec.MachinePoolRef)
	}
	// Changing it through the main resource: refused.
	moved := kept.DeepCopy()
	moved.Spec.MachinePoolRef.Name = "binding-b"
	_, err = machines.Update(ctx, moved, metav1.UpdateOptions{})
	wantCauses(t, err, "spec.machinePoolRef")
}

// TestVolumeBinding checks the same for Volumes, and that a volume being deleted is not bound.
func TestVolumeBinding(t *testing.T) {
	ctx := testContext(t)
	pool, err := server.Client.StorageV1alpha1().VolumePools().Create(ctx, &storagev1alpha1.VolumePool{ObjectMeta: objectMeta("binding-v")}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	volumes := server.Client.StorageV1alpha1().Volumes("binding")
	_, err = volumes.Create(ctx, &storagev1alpha1.Volume{
		ObjectMeta: objectMeta("preset"),
		Spec: storagev1alpha1.VolumeSpec{
			VolumeClassRef: ref("fast"), Resources: quantities("storage", "1Gi"),
			VolumePoolRef: &storagev1alpha1.VolumePoolReference{Name: "binding-v"},
		},
	}, metav1.CreateOptions{})
	wantCauses(t, err, "spec.volumePoolRef")

	create := func(name string, finalizers ...string) {
		t.Helper()
		_, err := volumes.Create(ctx, &storagev1alpha1.Volume{
			ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: finalizers},
			Spec:       storagev1alpha1.VolumeSpec{VolumeClassRef: ref("fast"), Resources: quantities("storage", "1Gi")},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	create("v")
	bound, err := volumes.Bind(ctx, "v", &storagev1alpha1.VolumeBinding{ObjectMeta: objectMeta("v"), Target: ref("binding-v")}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := bound.Spec.VolumePoolRef; got == nil || got.UID != pool.UID {
		t.Fatalf("bound: volumePoolRef %+v, want binding-v with UID %s", got, pool.UID)
	}

	create("dying", "test.ferrite.dev/hold")
	if err := volumes.Delete(ctx, "dying", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := volumes.Bind(ctx, "dying", &storagev1alpha1.VolumeBinding{Target: ref("binding-v")}, metav1.CreateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("binding a volume being deleted: %v, want 409", err)
	}
}

// TestPoolletFinalizerThroughStatus checks what a poollet needs with only status rights: it adds
// its finalizer through the status subresource (labels stay out of reach), a deletion then waits,
// and removing the finalizer through the status subresource completes it.
func TestPoolletFinalizerThroughStatus(t *testing.T) {
	ctx := testContext(t)
	machines := server.Client.ComputeV1alpha1().Machines("poollet-finalizer")
	m, err := machines.Create(ctx, &computev1alpha1.Machine{
		ObjectMeta: objectMeta("vm"), Spec: computev1alpha1.MachineSpec{MachineClassRef: ref("small")},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const finalizer = "compute.ferrite.dev/machinepoollet"
	m.Finalizers = []string{finalizer}
	m.Labels = map[string]string{"forged": "true"}
	m.Status.State = computev1alpha1.MachineStatePending
	held, err := machines.UpdateStatus(ctx, m, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(held.Finalizers) != 1 || held.Labels["forged"] != "" {
		t.Fatalf("status update: finalizers %v labels %v, want the finalizer and no label", held.Finalizers, held.Labels)
	}
	if err := machines.Delete(ctx, "vm", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	dying, err := machines.Get(ctx, "vm", metav1.GetOptions{})
	if err != nil || dying.DeletionTimestamp == nil {
		t.Fatalf("after delete: %v, deletionTimestamp %v; want the machine kept while the finalizer holds it", err, dying.DeletionTimestamp)
	}
	dying.Finalizers = nil
	if _, err := machines.UpdateStatus(ctx, dying, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := machines.Get(ctx, "vm", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after the finalizer is removed: %v, want NotFound", err)
	}
}

func binding(name, pool string) *computev1alpha1.MachineBinding {
	return &computev1alpha1.MachineBinding{ObjectMeta: objectMeta(name), Target: corev1.LocalObjectReference{Name: pool}}
}
