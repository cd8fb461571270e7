// Package ephemeral creates the Volumes and NetworkInterfaces that a Machine declares inline
// (spec.volumes[].ephemeral, spec.networkInterfaces[].ephemeral), owned by the machine, and
// deletes them when the machine is gone or no longer declares them.
//
// The objects are rendered by apis/compute/templates, named "<machine>-<entry name>" so that a
// poollet finds them without a lookup, and carry a controller owner reference to the machine.
// Templates are immutable once the machine exists (Machine validation refuses a change), so an
// object is created once and never updated from its template. Whether every object exists is
// the machine's EphemeralResourcesReady condition; a failed create (a quota's 403, a 422, a
// name taken by a foreign object) sets it False with the entry named, and a Warning event.
//
// A standalone ferrite-apiserver runs no garbage collector, so this package deletes the objects
// itself: an object whose controlling Machine (by name and UID) no longer exists is deleted,
// whether the machine went while this controller was running or not.
package ephemeral

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
)

// OwnerField indexes Volumes and NetworkInterfaces by the UID of their controlling Machine.
const OwnerField = "metadata.ownerReferences.machineUID"

// controllingMachine returns the owner reference to the Machine controlling obj, or nil.
func controllingMachine(obj metav1.Object) *metav1.OwnerReference {
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.Kind != "Machine" || ref.APIVersion != computev1alpha1.SchemeGroupVersion.String() {
		return nil
	}
	return ref
}

// ownerIndex is the index function of OwnerField.
func ownerIndex(obj client.Object) []string {
	if ref := controllingMachine(obj); ref != nil {
		return []string{string(ref.UID)}
	}
	return nil
}

// ownedBy reports whether obj is controlled by the machine.
func ownedBy(obj metav1.Object, machine *computev1alpha1.Machine) bool {
	ref := controllingMachine(obj)
	return ref != nil && ref.UID == machine.UID
}

// machineGone reports whether obj's controlling machine no longer exists, reading live so that a
// lagging cache never deletes the objects of a new machine.
func machineGone(ctx context.Context, reader client.Reader, obj client.Object) (bool, error) {
	ref := controllingMachine(obj)
	if ref == nil {
		return false, nil
	}
	machine := &computev1alpha1.Machine{}
	err := reader.Get(ctx, client.ObjectKey{Namespace: obj.GetNamespace(), Name: ref.Name}, machine)
	if err != nil {
		return client.IgnoreNotFound(err) == nil, client.IgnoreNotFound(err)
	}
	return machine.UID != ref.UID, nil
}
