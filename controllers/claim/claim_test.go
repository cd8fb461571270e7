package claim_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/ferrite-dev/ferrite/apis/compute/templates"
	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/controllers/claim"
)

// A machine gets the claim of the volume it references; a second machine referencing the
// volume is then refused at admission, with the field and the holder named. Dropping the
// reference releases the claim, and the second machine can have it.
func TestSecondMachineRefusedOnceClaimed(t *testing.T) {
	ctx := testContext(t)
	ns := namespace("claim-admission")
	startClaims(t)
	machines := server.Client.ComputeV1alpha1().Machines(ns)
	createVolume(t, ns, "shared")
	first, err := machines.Create(ctx, machineWithVolume("first", "shared"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first claims shared", func() bool {
		ref := volumeClaim(t, ns, "shared")
		return ref != nil && ref.Name == "first" && ref.UID == first.UID
	})
	waitFor(t, "first Claimed=True", func() bool {
		c := claimedCondition(t, ns, "first")
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == claim.ReasonClaimed
	})

	// The admission informer sees the claim a moment after it was written.
	waitFor(t, "admission to see the claim", func() bool {
		_, err := machines.Create(ctx, machineWithVolume("second", "shared"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return apierrors.IsInvalid(err)
	})
	_, err = machines.Create(ctx, machineWithVolume("second", "shared"), metav1.CreateOptions{})
	wantInvalid(t, err, "spec.volumes[0].volumeRef", "shared", `"first"`)

	// first lets go of the volume: the claim is released, and second may now use it.
	first, _ = machines.Get(ctx, "first", metav1.GetOptions{})
	first.Spec.Volumes = nil
	if _, err := machines.Update(ctx, first, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "shared released", func() bool { return volumeClaim(t, ns, "shared") == nil })
	var second *computev1alpha1.Machine
	waitFor(t, "admission to see the release", func() bool {
		second, err = machines.Create(ctx, machineWithVolume("second", "shared"), metav1.CreateOptions{})
		return err == nil
	})
	waitFor(t, "second claims shared", func() bool {
		ref := volumeClaim(t, ns, "shared")
		return ref != nil && ref.UID == second.UID
	})
}

// Two machines created at once (here: before the controller runs, so both pass admission)
// reference the same volume: exactly one gets the claim; the other gets Claimed=False naming
// the volume and the winner, and a Warning event. The winner, deleted while a finalizer holds
// it, keeps the claim; once it is gone the claim is released and passes to the other.
func TestRacePastAdmission(t *testing.T) {
	ctx := testContext(t)
	ns := namespace("claim-race")
	machines := server.Client.ComputeV1alpha1().Machines(ns)
	createVolume(t, ns, "disk")
	const hold = "test.ferrite.dev/hold"
	for _, name := range []string{"x", "y"} {
		if _, err := machines.Create(ctx, machineWithVolume(name, "disk", hold), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, name := range []string{"x", "y"} {
			_, _ = machines.Patch(context.Background(), name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		}
	})
	recorder := startClaims(t)

	var winner, loser string
	waitFor(t, "disk claimed", func() bool {
		ref := volumeClaim(t, ns, "disk")
		if ref == nil {
			return false
		}
		winner, loser = ref.Name, map[string]string{"x": "y", "y": "x"}[ref.Name]
		return true
	})
	waitFor(t, "the loser's Claimed=False", func() bool {
		c := claimedCondition(t, ns, loser)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == claim.ReasonClaimedByOtherMachine
	})
	c := claimedCondition(t, ns, loser)
	if want := "Volume disk is claimed by Machine " + winner; !strings.Contains(c.Message, want) {
		t.Errorf("loser's condition message %q does not say %q", c.Message, want)
	}
	waitEvent(t, recorder, corev1.EventTypeWarning, claim.ReasonClaimedByOtherMachine, "Volume disk", "Machine "+winner)
	if c := claimedCondition(t, ns, winner); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("winner's Claimed condition %+v, want True", c)
	}
	winnerUID := volumeClaim(t, ns, "disk").UID

	// Deleting the winner: while its finalizer holds it (its VM may still use the disk), it
	// keeps the claim. A release the same controller makes after it saw the deletion shows
	// that it did decide on the winner's claim meanwhile.
	createVolume(t, ns, "marker")
	if _, err := machines.Create(ctx, machineWithVolume("marker", "marker"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "marker claimed", func() bool { return volumeClaim(t, ns, "marker") != nil })
	if err := machines.Delete(ctx, winner, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The claim controller writes the marker's status meanwhile: retry on conflict.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		marker, err := machines.Get(ctx, "marker", metav1.GetOptions{})
		if err != nil {
			return err
		}
		marker.Spec.Volumes = nil
		_, err = machines.Update(ctx, marker, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "marker released", func() bool { return volumeClaim(t, ns, "marker") == nil })
	if ref := volumeClaim(t, ns, "disk"); ref == nil || ref.UID != winnerUID {
		t.Fatalf("claim of disk while its machine is being deleted: %+v, want kept by %s", ref, winner)
	}

	// Once the winner is gone, the claim is released and the loser gets it.
	if _, err := machines.Patch(ctx, winner, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	loserMachine, _ := machines.Get(ctx, loser, metav1.GetOptions{})
	waitFor(t, "the loser claims disk", func() bool {
		ref := volumeClaim(t, ns, "disk")
		return ref != nil && ref.UID == loserMachine.UID
	})
	waitFor(t, "the loser's Claimed=True", func() bool {
		c := claimedCondition(t, ns, loser)
		return c != nil && c.Status == metav1.ConditionTrue
	})
}

// A machine's ephemeral volume and network interface are claimed by it right after creation;
// another machine cannot claim them through the subresource (422); deleting the machine
// releases nothing before it is gone, and then its objects go with it.
func TestEphemeralObjectsClaimedByOwner(t *testing.T) {
	ctx := testContext(t)
	ns := namespace("claim-ephemeral")
	startClaims(t)
	machines := server.Client.ComputeV1alpha1().Machines(ns)
	volumes := server.Client.StorageV1alpha1().Volumes(ns)
	nics := server.Client.NetworkingV1alpha1().NetworkInterfaces(ns)
	web, err := machines.Create(ctx, &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: computev1alpha1.MachineSpec{
			MachineClassRef: corev1.LocalObjectReference{Name: "small"}, Image: "debian-12",
			Volumes: []computev1alpha1.MachineVolume{{Name: "root", Ephemeral: &computev1alpha1.EphemeralVolumeSource{
				VolumeClassRef: corev1.LocalObjectReference{Name: "fast"},
				Resources:      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			}}},
			NetworkInterfaces: []computev1alpha1.MachineNetworkInterface{{Name: "eth0", Ephemeral: &computev1alpha1.EphemeralNetworkInterfaceSource{
				NetworkRef: corev1.LocalObjectReference{Name: "net"}, IPs: []string{"10.0.0.5"},
			}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rootName, eth0Name := templates.VolumeName("web", "root"), templates.NetworkInterfaceName("web", "eth0")
	waitFor(t, "ephemeral volume claimed by web", func() bool {
		ref := volumeClaim(t, ns, rootName)
		return ref != nil && ref.Name == "web" && ref.UID == web.UID
	})
	waitFor(t, "ephemeral network interface claimed by web", func() bool {
		nic, err := nics.Get(ctx, eth0Name, metav1.GetOptions{})
		return err == nil && nic.Spec.MachineRef != nil && nic.Spec.MachineRef.UID == web.UID
	})
	waitFor(t, "web Claimed=True", func() bool {
		c := claimedCondition(t, ns, "web")
		return c != nil && c.Status == metav1.ConditionTrue
	})

	// Another machine cannot claim web's volume, even released: only its owner may.
	root, _ := volumes.Get(ctx, rootName, metav1.GetOptions{})
	root.Spec.ClaimRef = &storagev1alpha1.ClaimReference{Name: "intruder", UID: "uid-intruder"}
	_, err = volumes.UpdateClaim(ctx, rootName, root, metav1.UpdateOptions{})
	wantInvalid(t, err, "spec.claimRef", `"web"`)
	eth0, _ := nics.Get(ctx, eth0Name, metav1.GetOptions{})
	eth0.Spec.MachineRef = &networkingv1alpha1.MachineReference{Name: "intruder", UID: "uid-intruder"}
	_, err = nics.UpdateClaim(ctx, eth0Name, eth0, metav1.UpdateOptions{})
	wantInvalid(t, err, "spec.machineRef", `"web"`)

	// Nor can a machine referencing it be created: admission names the owner.
	intruder := machineWithVolume("intruder", rootName)
	_, err = machines.Create(ctx, intruder, metav1.CreateOptions{})
	wantInvalid(t, err, "spec.volumes[0].volumeRef", `"web"`)

	// The machine goes, and its ephemeral objects with it.
	if err := machines.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ephemeral objects deleted", func() bool {
		_, errV := volumes.Get(ctx, rootName, metav1.GetOptions{})
		_, errN := nics.Get(ctx, eth0Name, metav1.GetOptions{})
		return apierrors.IsNotFound(errV) && apierrors.IsNotFound(errN)
	})
}

// Deleting a machine releases the claim of a volume it referenced once the machine is gone,
// also when that happened while the controllers were not running: the claim records the UID,
// and a new machine of the same name does not inherit it.
func TestReleaseAfterMachineGone(t *testing.T) {
	ctx := testContext(t)
	ns := namespace("claim-gone")
	machines := server.Client.ComputeV1alpha1().Machines(ns)
	volumes := server.Client.StorageV1alpha1().Volumes(ns)
	createVolume(t, ns, "v")
	// A claim left by a machine that no longer exists, as after a crash.
	v, _ := volumes.Get(ctx, "v", metav1.GetOptions{})
	v.Spec.ClaimRef = &storagev1alpha1.ClaimReference{Name: "db", UID: "uid-of-a-deleted-db"}
	if _, err := volumes.UpdateClaim(ctx, "v", v, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A new machine of the same name passes admission (same name), and gets the claim once the
	// stale one is released.
	db, err := machines.Create(ctx, machineWithVolume("db", "v"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	startClaims(t)
	waitFor(t, "the new db claims v", func() bool {
		ref := volumeClaim(t, ns, "v")
		return ref != nil && ref.UID == db.UID
	})
	if err := machines.Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "v released", func() bool { return volumeClaim(t, ns, "v") == nil })
}
