// Package claim gives each Volume and NetworkInterface to at most one Machine at a time.
//
// A Volume's spec.claimRef and a NetworkInterface's spec.machineRef (the claim: the machine's
// name and UID) are written only through their claim subresource, which refuses to overwrite
// another machine's claim, to claim an object being deleted, and to claim an object controlled
// by another Machine. This package is the writer:
//
//   - Machines (controller machine-claims) claims, for every Machine not being deleted, each
//     Volume and NetworkInterface it references: spec.volumes[].volumeRef,
//     spec.networkInterfaces[].networkInterfaceRef, and its ephemeral objects named
//     "<machine>-<entry>" (apis/compute/templates), which are thus claimed right after the
//     ephemeral controller creates them. Its Claimed condition says whether it holds them all;
//     an object claimed by another machine makes it False (ClaimedByOtherMachine) with a
//     Warning event.
//   - Releaser (controllers volume-claim-release, networkinterface-claim-release) clears a
//     claim once the claiming machine, by UID, no longer exists or no longer references the
//     object, confirmed by a live read. A machine being deleted keeps its claims until it is
//     gone: its VM may still use the disk.
//
// Every claim and release carries the resourceVersion the decision was made on, so a write
// based on a stale cache fails with a conflict and is retried on fresh data.
package claim

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrite-dev/ferrite/apis/compute/templates"
	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// Subresource is the name of the claim subresource of Volumes and NetworkInterfaces.
const Subresource = "claim"

// Ref is a claim in kind-neutral form: the claiming machine's name and UID.
type Ref struct {
	Name string
	UID  types.UID
}

// Kind is what this package needs to know of a kind that one machine at a time may use.
type Kind[O client.Object] struct {
	// Name is the kind's name, for messages and events ("Volume").
	Name string
	// New returns an empty object; NewList an empty list.
	New     func() O
	NewList func() client.ObjectList
	// Claim returns the object's claim, nil when unclaimed; SetClaim sets or (with nil) clears it.
	Claim    func(O) *Ref
	SetClaim func(O, *Ref)
	// References returns the names of the objects of this kind that the machine uses.
	References func(*computev1alpha1.Machine) []string
	// MachineIndex indexes Machines by References; ClaimIndex indexes the objects by the name
	// of their claiming machine.
	MachineIndex, ClaimIndex string
}

// Volumes is the claim of Volumes (spec.claimRef).
var Volumes = &Kind[*storagev1alpha1.Volume]{
	Name:    "Volume",
	New:     func() *storagev1alpha1.Volume { return &storagev1alpha1.Volume{} },
	NewList: func() client.ObjectList { return &storagev1alpha1.VolumeList{} },
	Claim: func(v *storagev1alpha1.Volume) *Ref {
		if v.Spec.ClaimRef == nil {
			return nil
		}
		return &Ref{Name: v.Spec.ClaimRef.Name, UID: v.Spec.ClaimRef.UID}
	},
	SetClaim: func(v *storagev1alpha1.Volume, ref *Ref) {
		v.Spec.ClaimRef = nil
		if ref != nil {
			v.Spec.ClaimRef = &storagev1alpha1.ClaimReference{Name: ref.Name, UID: ref.UID}
		}
	},
	References: func(m *computev1alpha1.Machine) []string {
		var names []string
		for _, v := range m.Spec.Volumes {
			switch {
			case v.VolumeRef != nil:
				names = append(names, v.VolumeRef.Name)
			case v.Ephemeral != nil:
				names = append(names, templates.VolumeName(m.Name, v.Name))
			}
		}
		return names
	},
	MachineIndex: "claim/volumes",
	ClaimIndex:   "claim/spec.claimRef.name",
}

// NetworkInterfaces is the claim of NetworkInterfaces (spec.machineRef).
var NetworkInterfaces = &Kind[*networkingv1alpha1.NetworkInterface]{
	Name:    "NetworkInterface",
	New:     func() *networkingv1alpha1.NetworkInterface { return &networkingv1alpha1.NetworkInterface{} },
	NewList: func() client.ObjectList { return &networkingv1alpha1.NetworkInterfaceList{} },
	Claim: func(n *networkingv1alpha1.NetworkInterface) *Ref {
		if n.Spec.MachineRef == nil {
			return nil
		}
		return &Ref{Name: n.Spec.MachineRef.Name, UID: n.Spec.MachineRef.UID}
	},
	SetClaim: func(n *networkingv1alpha1.NetworkInterface, ref *Ref) {
		n.Spec.MachineRef = nil
		if ref != nil {
			n.Spec.MachineRef = &networkingv1alpha1.MachineReference{Name: ref.Name, UID: ref.UID}
		}
	},
	References: func(m *computev1alpha1.Machine) []string {
		var names []string
		for _, n := range m.Spec.NetworkInterfaces {
			switch {
			case n.NetworkInterfaceRef != nil:
				names = append(names, n.NetworkInterfaceRef.Name)
			case n.Ephemeral != nil:
				names = append(names, templates.NetworkInterfaceName(m.Name, n.Name))
			}
		}
		return names
	},
	MachineIndex: "claim/networkinterfaces",
	ClaimIndex:   "claim/spec.machineRef.name",
}

// usedBy reports whether machine, as read, is the claimer ref and keeps the object named name:
// it references the object, or it is being deleted (its VM may still use the object).
func (k *Kind[O]) usedBy(machine *computev1alpha1.Machine, ref *Ref, name string) bool {
	if machine.UID != ref.UID {
		return false
	}
	return machine.DeletionTimestamp != nil || slices.Contains(k.References(machine), name)
}

// controllingMachine returns the owner reference to the Machine controlling obj, or nil.
func controllingMachine(obj metav1.Object) *metav1.OwnerReference {
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.Kind != "Machine" {
		return nil
	}
	if gv, err := schema.ParseGroupVersion(ref.APIVersion); err != nil || gv.Group != computev1alpha1.SchemeGroupVersion.Group {
		return nil
	}
	return ref
}
