package apiserver_test

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	computeac "github.com/ferrite-dev/ferrite/generated/applyconfiguration/compute/v1alpha1"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestStatusAndGeneration checks the contract every kind shares: create clears status and sets
// generation 1; the main resource keeps status and bumps generation on spec changes only; the
// status subresource changes status only.
func TestStatusAndGeneration(t *testing.T) {
	ctx := testContext(t)
	machines := server.Client.ComputeV1alpha1().Machines("semantics")

	created, err := machines.Create(ctx, &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: "m", Generation: 7},
		Spec:       computev1alpha1.MachineSpec{MachineClassRef: ref("small")},
		Status:     computev1alpha1.MachineStatus{State: computev1alpha1.MachineStateRunning, MachineID: "forged"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Generation != 1 || created.Status.State != "" || created.Status.MachineID != "" {
		t.Fatalf("create: generation %d status %+v, want 1 and an empty status", created.Generation, created.Status)
	}

	// The status subresource changes status, ignores spec and user metadata.
	withStatus := created.DeepCopy()
	withStatus.Status.State = computev1alpha1.MachineStateRunning
	withStatus.Status.ObservedGeneration = 1
	withStatus.Spec.Image = "ignored"
	withStatus.Labels = map[string]string{"ignored": "true"}
	statusUpdated, err := machines.UpdateStatus(ctx, withStatus, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if statusUpdated.Status.State != computev1alpha1.MachineStateRunning || statusUpdated.Spec.Image != "" ||
		statusUpdated.Labels["ignored"] != "" || statusUpdated.Generation != 1 {
		t.Fatalf("status update: state %q image %q labels %v generation %d; want Running, no image, no labels, generation 1",
			statusUpdated.Status.State, statusUpdated.Spec.Image, statusUpdated.Labels, statusUpdated.Generation)
	}

	// The main resource ignores status and bumps the generation only for a spec change.
	labelsOnly := statusUpdated.DeepCopy()
	labelsOnly.Labels = map[string]string{"team": "a"}
	labelsOnly.Status.State = computev1alpha1.MachineStateError
	labelsOnly.Generation = 99
	afterLabels, err := machines.Update(ctx, labelsOnly, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if afterLabels.Generation != 1 || afterLabels.Status.State != computev1alpha1.MachineStateRunning {
		t.Fatalf("label update: generation %d state %q, want 1 and Running kept", afterLabels.Generation, afterLabels.Status.State)
	}
	specChange := afterLabels.DeepCopy()
	specChange.Spec.Power = computev1alpha1.PowerOff
	afterSpec, err := machines.Update(ctx, specChange, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if afterSpec.Generation != 2 || afterSpec.Status.ObservedGeneration != 1 {
		t.Fatalf("spec update: generation %d observedGeneration %d, want 2 and 1", afterSpec.Generation, afterSpec.Status.ObservedGeneration)
	}
}

// TestConflict checks that an update based on a stale resourceVersion gets 409.
func TestConflict(t *testing.T) {
	ctx := testContext(t)
	volumes := server.Client.StorageV1alpha1().Volumes("conflict")
	created, err := volumes.Create(ctx, &storagev1alpha1.Volume{ObjectMeta: objectMeta("v"),
		Spec: storagev1alpha1.VolumeSpec{VolumeClassRef: ref("fast"), Resources: quantities("storage", "1Gi")}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first := created.DeepCopy()
	first.Labels = map[string]string{"a": "1"}
	if _, err := volumes.Update(ctx, first, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	stale := created.DeepCopy()
	stale.Labels = map[string]string{"b": "2"}
	if _, err := volumes.Update(ctx, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale update: %v, want 409 Conflict", err)
	}
}

// TestInvalidIsRefusedWithTheField checks 422 responses name the offending fields and nothing
// invalid is stored.
func TestInvalidIsRefusedWithTheField(t *testing.T) {
	ctx := testContext(t)
	machines := server.Client.ComputeV1alpha1().Machines("invalid")
	_, err := machines.Create(ctx, &computev1alpha1.Machine{ObjectMeta: objectMeta("m"),
		Spec: computev1alpha1.MachineSpec{Volumes: []computev1alpha1.MachineVolume{{Name: "root"}}}}, metav1.CreateOptions{})
	wantCauses(t, err, "spec.machineClassRef.name", "spec.volumes[0]")
	if _, err := machines.Get(ctx, "m", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("an invalid machine was stored: %v", err)
	}

	// Immutable fields and quantities on update.
	volumes := server.Client.StorageV1alpha1().Volumes("invalid")
	volume, err := volumes.Create(ctx, &storagev1alpha1.Volume{ObjectMeta: objectMeta("v"),
		Spec: storagev1alpha1.VolumeSpec{VolumeClassRef: ref("fast"), Resources: quantities("storage", "2Gi")}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	volume.Spec.VolumeClassRef.Name = "slow"
	volume.Spec.Resources = quantities("storage", "1Gi")
	_, err = volumes.Update(ctx, volume, metav1.UpdateOptions{})
	wantCauses(t, err, "spec.volumeClassRef", "spec.resources[storage]")

	_, err = server.Client.IpamV1alpha1().Prefixes("invalid").Create(ctx, rootPrefix("bad", "10.0.0.1/16"), metav1.CreateOptions{})
	wantCauses(t, err, "spec.prefix")

	_, err = server.Client.ComputeV1alpha1().MachineClasses().Create(ctx, &computev1alpha1.MachineClass{ObjectMeta: objectMeta("negative"),
		Capabilities: quantities("cpu", "-1", "memory", "1Gi")}, metav1.CreateOptions{})
	wantCauses(t, err, "capabilities[cpu]")
}

func wantCauses(t *testing.T, err error, fields ...string) {
	t.Helper()
	if !apierrors.IsInvalid(err) {
		t.Fatalf("got %v, want 422 Invalid", err)
	}
	status, ok := err.(apierrors.APIStatus)
	if !ok || status.Status().Details == nil {
		t.Fatalf("422 without details: %v", err)
	}
	got := map[string]bool{}
	for _, cause := range status.Status().Details.Causes {
		got[cause.Field] = true
	}
	for _, field := range fields {
		if !got[field] {
			t.Errorf("422 does not name %s: %v", field, err)
		}
	}
}

// TestFieldSelectors checks the selectable reference fields controllers filter on.
func TestFieldSelectors(t *testing.T) {
	ctx := testContext(t)
	const ns = "selectors"
	machines := server.Client.ComputeV1alpha1().Machines(ns)
	for _, pool := range []string{"pool-1", "pool-2"} {
		if _, err := server.Client.ComputeV1alpha1().MachinePools().Create(ctx, &computev1alpha1.MachinePool{ObjectMeta: objectMeta(pool)}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []struct{ name, class, pool string }{{"a", "small", "pool-1"}, {"b", "small", "pool-2"}, {"c", "large", "pool-1"}, {"d", "large", ""}} {
		machine := &computev1alpha1.Machine{ObjectMeta: objectMeta(m.name), Spec: computev1alpha1.MachineSpec{MachineClassRef: ref(m.class)}}
		if _, err := machines.Create(ctx, machine, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if m.pool != "" {
			if _, err := machines.Bind(ctx, m.name, binding(m.name, m.pool), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for selector, want := range map[string][]string{
		"spec.machinePoolRef.name=pool-1":                                  {"a", "c"},
		"spec.machinePoolRef.name=":                                        {"d"},
		"spec.machineClassRef.name=small":                                  {"a", "b"},
		"spec.machineClassRef.name=large,spec.machinePoolRef.name!=pool-1": {"d"},
	} {
		list, err := machines.List(ctx, metav1.ListOptions{FieldSelector: selector})
		if err != nil {
			t.Fatalf("%s: %v", selector, err)
		}
		var got []string
		for _, item := range list.Items {
			got = append(got, item.Name)
		}
		if len(got) != len(want) || (len(got) > 0 && !sameSet(got, want)) {
			t.Errorf("%s: got %v, want %v", selector, got, want)
		}
	}
	if _, err := machines.List(ctx, metav1.ListOptions{FieldSelector: "spec.image=x"}); !apierrors.IsBadRequest(err) {
		t.Errorf("unsupported field selector: %v, want 400", err)
	}

	volumes := server.Client.StorageV1alpha1().Volumes(ns)
	if _, err := server.Client.StorageV1alpha1().VolumePools().Create(ctx, &storagev1alpha1.VolumePool{ObjectMeta: objectMeta("vp-1")}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct{ name, class, pool string }{{"v1", "fast", "vp-1"}, {"v2", "slow", "vp-1"}} {
		_, err := volumes.Create(ctx, &storagev1alpha1.Volume{ObjectMeta: objectMeta(v.name), Spec: storagev1alpha1.VolumeSpec{
			VolumeClassRef: ref(v.class), Resources: quantities("storage", "1Gi")}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := volumes.Bind(ctx, v.name, &storagev1alpha1.VolumeBinding{Target: ref(v.pool)}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := volumes.List(ctx, metav1.ListOptions{FieldSelector: "spec.volumePoolRef.name=vp-1,spec.volumeClassRef.name=slow"})
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "v2" {
		t.Fatalf("volume selectors: %v %v, want only v2", err, list)
	}
}

func sameSet(a, b []string) bool {
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

// TestServerSideApply applies with the generated apply configurations from two managers.
func TestServerSideApply(t *testing.T) {
	ctx := testContext(t)
	machines := server.Client.ComputeV1alpha1().Machines("apply")
	desired := computeac.Machine("m", "apply").WithSpec(computeac.MachineSpec().
		WithMachineClassRef(corev1ac.LocalObjectReference().WithName("small")).
		WithImage("debian-12"))
	applied, err := machines.Apply(ctx, desired, metav1.ApplyOptions{FieldManager: "operator"})
	if err != nil {
		t.Fatal(err)
	}
	if applied.Spec.Image != "debian-12" || applied.Spec.Power != computev1alpha1.PowerOn || applied.Generation != 1 {
		t.Fatalf("apply: %+v", applied.Spec)
	}
	// A second manager that sets the same field differently conflicts unless it forces.
	other := computeac.Machine("m", "apply").WithSpec(computeac.MachineSpec().WithImage("ubuntu"))
	if _, err := machines.Apply(ctx, other, metav1.ApplyOptions{FieldManager: "intruder"}); !apierrors.IsConflict(err) {
		t.Fatalf("conflicting apply: %v, want 409", err)
	}
	forced, err := machines.Apply(ctx, other, metav1.ApplyOptions{FieldManager: "intruder", Force: true})
	if err != nil || forced.Spec.Image != "ubuntu" || forced.Generation != 2 {
		t.Fatalf("forced apply: %v %+v", err, forced)
	}
	// The status is applied through its subresource only, by its own manager.
	status := computeac.Machine("m", "apply").WithStatus(computeac.MachineStatus().WithState(computev1alpha1.MachineStateRunning))
	withStatus, err := machines.ApplyStatus(ctx, status, metav1.ApplyOptions{FieldManager: "poollet"})
	if err != nil || withStatus.Status.State != computev1alpha1.MachineStateRunning || withStatus.Spec.Image != "ubuntu" {
		t.Fatalf("apply status: %v %+v", err, withStatus)
	}
	// The operator re-applies its intent with a status in it: the status part is dropped.
	ignored := computeac.Machine("m", "apply").WithSpec(computeac.MachineSpec().
		WithMachineClassRef(corev1ac.LocalObjectReference().WithName("small"))).
		WithStatus(computeac.MachineStatus().WithState(computev1alpha1.MachineStateError))
	afterMain, err := machines.Apply(ctx, ignored, metav1.ApplyOptions{FieldManager: "operator", Force: true})
	if err != nil || afterMain.Status.State != computev1alpha1.MachineStateRunning {
		t.Fatalf("status through the main resource must be ignored: %v %+v", err, afterMain.Status)
	}
}
