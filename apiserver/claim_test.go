package apiserver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// TestVolumeClaimSubresource checks volumes/claim through the generated client: a claim needs
// name and UID, is idempotent, cannot be taken over by another machine until it is released,
// and changes nothing but the claim. It also checks that the main resource cannot write the
// claim (422 naming spec.claimRef) and keeps it when an update omits it.
func TestVolumeClaimSubresource(t *testing.T) {
	ctx := testContext(t)
	volumes := server.Client.StorageV1alpha1().Volumes("claims")
	spec := storagev1alpha1.VolumeSpec{VolumeClassRef: ref("fast"), Resources: quantities("storage", "1Gi")}

	// Create with a claim: refused, naming the field.
	preset := spec.DeepCopy()
	preset.ClaimRef = &storagev1alpha1.ClaimReference{Name: "a", UID: "uid-a"}
	_, err := volumes.Create(ctx, &storagev1alpha1.Volume{ObjectMeta: objectMeta("preset"), Spec: *preset}, metav1.CreateOptions{})
	wantCauses(t, err, "spec.claimRef")

	v, err := volumes.Create(ctx, &storagev1alpha1.Volume{ObjectMeta: objectMeta("v"), Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	claim := func(ref *storagev1alpha1.ClaimReference) (*storagev1alpha1.Volume, error) {
		latest, err := volumes.Get(ctx, "v", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		latest.Spec.ClaimRef = ref
		return volumes.UpdateClaim(ctx, "v", latest, metav1.UpdateOptions{})
	}

	// A claim names the machine and its UID.
	_, err = claim(&storagev1alpha1.ClaimReference{Name: "a"})
	wantCauses(t, err, "spec.claimRef.uid")

	// Claim, and claim again: the same claim is accepted. The body's other changes are not.
	latest := v.DeepCopy()
	latest.Spec.ClaimRef = &storagev1alpha1.ClaimReference{Name: "a", UID: "uid-a"}
	latest.Spec.Resources = quantities("storage", "5Gi")
	latest.Labels = map[string]string{"sneaked": "in"}
	claimed, err := volumes.UpdateClaim(ctx, "v", latest, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := claimed.Spec.ClaimRef; got == nil || got.Name != "a" || got.UID != "uid-a" {
		t.Fatalf("claimed: claimRef %+v, want a/uid-a", got)
	}
	if got := claimed.Spec.Resources.Storage().String(); got != "1Gi" || claimed.Labels["sneaked"] != "" {
		t.Errorf("the claim subresource changed more than the claim: storage %s, labels %v", got, claimed.Labels)
	}
	if _, err := claim(&storagev1alpha1.ClaimReference{Name: "a", UID: "uid-a"}); err != nil {
		t.Fatalf("re-claim by the same machine: %v", err)
	}

	// Another machine cannot take it, neither by name nor by UID.
	_, err = claim(&storagev1alpha1.ClaimReference{Name: "b", UID: "uid-b"})
	wantCauses(t, err, "spec.claimRef")
	if err != nil && !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("refusal does not name the holder: %v", err)
	}
	_, err = claim(&storagev1alpha1.ClaimReference{Name: "a", UID: "uid-a2"})
	wantCauses(t, err, "spec.claimRef")

	// The main resource: setting, changing or clearing by update or patch is refused; an update
	// that omits the claim keeps it.
	stored, _ := volumes.Get(ctx, "v", metav1.GetOptions{})
	changed := stored.DeepCopy()
	changed.Spec.ClaimRef = &storagev1alpha1.ClaimReference{Name: "b", UID: "uid-b"}
	_, err = volumes.Update(ctx, changed, metav1.UpdateOptions{})
	wantCauses(t, err, "spec.claimRef")
	_, err = volumes.Patch(ctx, "v", types.MergePatchType, []byte(`{"spec":{"claimRef":{"name":"b","uid":"uid-b"}}}`), metav1.PatchOptions{})
	wantCauses(t, err, "spec.claimRef")
	omitted := stored.DeepCopy()
	omitted.Spec.ClaimRef = nil
	omitted.Labels = map[string]string{"team": "x"}
	kept, err := volumes.Update(ctx, omitted, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update omitting the claim: %v", err)
	}
	if got := kept.Spec.ClaimRef; got == nil || got.UID != "uid-a" {
		t.Errorf("update omitting the claim: claimRef %+v, want it kept", got)
	}

	// Release, then another machine claims.
	released, err := claim(nil)
	if err != nil {
		t.Fatalf("release: %v", err)
	}
	if released.Spec.ClaimRef != nil {
		t.Fatalf("released: claimRef %+v", released.Spec.ClaimRef)
	}
	reclaimed, err := claim(&storagev1alpha1.ClaimReference{Name: "b", UID: "uid-b"})
	if err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	if got := reclaimed.Spec.ClaimRef; got == nil || got.UID != "uid-b" {
		t.Errorf("reclaimed: claimRef %+v, want b/uid-b", got)
	}

	// A claim written on a stale resourceVersion is a conflict, so no decision is made on
	// outdated data.
	stale := released.DeepCopy()
	stale.Spec.ClaimRef = nil
	if _, err := volumes.UpdateClaim(ctx, "v", stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("release on a stale resourceVersion: %v, want 409", err)
	}
}

// TestClaimRules checks the rules the claim subresource enforces beyond the claim itself, on
// NetworkInterfaces: an interface controlled by a Machine can only be claimed by that machine
// (its UID), and an object being deleted cannot be newly claimed but can be released.
func TestClaimRules(t *testing.T) {
	ctx := testContext(t)
	nics := server.Client.NetworkingV1alpha1().NetworkInterfaces("claims")
	yes := true
	owned, err := nics.Create(ctx, &networkingv1alpha1.NetworkInterface{
		ObjectMeta: metav1.ObjectMeta{Name: "web-eth0", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: computev1alpha1.SchemeGroupVersion.String(), Kind: "Machine", Name: "web", UID: "uid-web", Controller: &yes}}},
		Spec: networkingv1alpha1.NetworkInterfaceSpec{NetworkRef: ref("n")},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	claimNIC := func(name string, ref *networkingv1alpha1.MachineReference) (*networkingv1alpha1.NetworkInterface, error) {
		latest, err := nics.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		latest.Spec.MachineRef = ref
		return nics.UpdateClaim(ctx, name, latest, metav1.UpdateOptions{})
	}
	_, err = claimNIC(owned.Name, &networkingv1alpha1.MachineReference{Name: "db", UID: "uid-db"})
	wantCauses(t, err, "spec.machineRef")
	if err != nil && !strings.Contains(err.Error(), `"web"`) {
		t.Errorf("refusal does not name the owner: %v", err)
	}
	if _, err := claimNIC(owned.Name, &networkingv1alpha1.MachineReference{Name: "web", UID: "uid-web"}); err != nil {
		t.Fatalf("claim by the owner: %v", err)
	}
	// The main resource cannot set the claim either.
	_, err = nics.Patch(ctx, owned.Name, types.MergePatchType, []byte(`{"spec":{"machineRef":{"name":"db","uid":"uid-db"}}}`), metav1.PatchOptions{})
	wantCauses(t, err, "spec.machineRef")

	// Being deleted (a finalizer holds it): no new claim; a release is fine.
	if _, err := nics.Create(ctx, &networkingv1alpha1.NetworkInterface{
		ObjectMeta: metav1.ObjectMeta{Name: "going", Finalizers: []string{"test.ferrite.dev/hold"}},
		Spec:       networkingv1alpha1.NetworkInterfaceSpec{NetworkRef: ref("n")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := nics.Delete(ctx, "going", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = claimNIC("going", &networkingv1alpha1.MachineReference{Name: "db", UID: "uid-db"})
	wantCauses(t, err, "spec.machineRef")
	t.Cleanup(func() {
		_, _ = nics.Patch(context.Background(), "going", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	})
	if _, err := claimNIC(owned.Name, nil); err != nil {
		t.Fatalf("release: %v", err)
	}
}

// TestMachineAdmissionRefusesClaimedReferences checks the claims admission plugin: a Machine
// that references a Volume claimed by another machine, or a NetworkInterface controlled by
// another machine, is refused with a 422 on the entry naming that machine; the holder itself
// is admitted; on update only added references are checked.
func TestMachineAdmissionRefusesClaimedReferences(t *testing.T) {
	ctx := testContext(t)
	const ns = "claims-admission"
	volumes := server.Client.StorageV1alpha1().Volumes(ns)
	nics := server.Client.NetworkingV1alpha1().NetworkInterfaces(ns)
	machines := server.Client.ComputeV1alpha1().Machines(ns)

	if _, err := volumes.Create(ctx, &storagev1alpha1.Volume{ObjectMeta: objectMeta("data"),
		Spec: storagev1alpha1.VolumeSpec{VolumeClassRef: ref("fast"), Resources: quantities("storage", "1Gi")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	data, _ := volumes.Get(ctx, "data", metav1.GetOptions{})
	data.Spec.ClaimRef = &storagev1alpha1.ClaimReference{Name: "holder", UID: "uid-holder"}
	if _, err := volumes.UpdateClaim(ctx, "data", data, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	yes := true
	if _, err := nics.Create(ctx, &networkingv1alpha1.NetworkInterface{
		ObjectMeta: metav1.ObjectMeta{Name: "holder-eth0", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: computev1alpha1.SchemeGroupVersion.String(), Kind: "Machine", Name: "holder", UID: "uid-holder", Controller: &yes}}},
		Spec: networkingv1alpha1.NetworkInterfaceSpec{NetworkRef: ref("n")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	withVolume := func(name string) *computev1alpha1.Machine {
		return &computev1alpha1.Machine{ObjectMeta: objectMeta(name), Spec: computev1alpha1.MachineSpec{
			MachineClassRef: ref("small"),
			Volumes:         []computev1alpha1.MachineVolume{{Name: "data", VolumeRef: localRef("data")}},
		}}
	}

	// The admission informers see the claim a moment after it was written.
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := machines.Create(ctx, withVolume("probe"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return apierrors.IsInvalid(err), nil
	})
	if err != nil {
		t.Fatalf("admission never refused a machine referencing a claimed volume: %v", err)
	}
	_, err = machines.Create(ctx, withVolume("thief"), metav1.CreateOptions{})
	wantCauses(t, err, "spec.volumes[0].volumeRef")
	if err != nil && !strings.Contains(err.Error(), `"holder"`) {
		t.Errorf("refusal does not name the holder: %v", err)
	}
	if _, err := machines.Create(ctx, withVolume("holder"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("the holder itself: %v", err)
	}

	// A controlled (ephemeral) interface of another machine: refused, at create and when an
	// update adds it.
	withNIC := &computev1alpha1.Machine{ObjectMeta: objectMeta("nic-thief"), Spec: computev1alpha1.MachineSpec{
		MachineClassRef: ref("small"),
		NetworkInterfaces: []computev1alpha1.MachineNetworkInterface{{Name: "eth0",
			NetworkInterfaceRef: localRef("holder-eth0")}},
	}}
	_, err = machines.Create(ctx, withNIC, metav1.CreateOptions{})
	wantCauses(t, err, "spec.networkInterfaces[0].networkInterfaceRef")
	plain, err := machines.Create(ctx, &computev1alpha1.Machine{ObjectMeta: objectMeta("plain"),
		Spec: computev1alpha1.MachineSpec{MachineClassRef: ref("small")}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	plain.Spec.NetworkInterfaces = withNIC.Spec.NetworkInterfaces
	_, err = machines.Update(ctx, plain, metav1.UpdateOptions{})
	wantCauses(t, err, "spec.networkInterfaces[0].networkInterfaceRef")

	// The holder's later updates, which keep the reference, pass.
	holder, _ := machines.Get(ctx, "holder", metav1.GetOptions{})
	holder.Labels = map[string]string{"updated": "yes"}
	if _, err := machines.Update(ctx, holder, metav1.UpdateOptions{}); err != nil {
		t.Errorf("update of the holder: %v", err)
	}
}

func localRef(name string) *corev1.LocalObjectReference {
	return &corev1.LocalObjectReference{Name: name}
}
