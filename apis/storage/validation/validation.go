// Package validation checks storage.ferrite.dev objects; every error names its field.
package validation

import (
	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ferrite-dev/ferrite/apis/storage"
	apivalidation "github.com/ferrite-dev/ferrite/apis/validation"
)

var (
	specPath   = field.NewPath("spec")
	statusPath = field.NewPath("status")
)

// ResourceIOPS and ResourceTPS are the capabilities of a volume class.
const (
	ResourceIOPS corev1.ResourceName = "iops"
	ResourceTPS  corev1.ResourceName = "tps"
)

// ValidateVolume checks a new Volume.
func ValidateVolume(volume *storage.Volume) field.ErrorList {
	return append(validateVolume(volume), apivalidation.ValidateImage(volume.Spec.Image, specPath.Child("image"))...)
}

// validateVolume checks what a Volume satisfies on create and on every update. The image is
// immutable and checked only on create, so a volume stored before that check existed stays
// updatable.
func validateVolume(volume *storage.Volume) field.ErrorList {
	spec := &volume.Spec
	errs := apivalidation.ValidateLocalRef(spec.VolumeClassRef, specPath.Child("volumeClassRef"))
	errs = append(errs, apivalidation.ValidateSelectorMap(spec.VolumePoolSelector, specPath.Child("volumePoolSelector"))...)
	errs = append(errs, apivalidation.ValidateResourceList(spec.Resources, []corev1.ResourceName{corev1.ResourceStorage}, specPath.Child("resources"))...)
	if spec.Image != "" && spec.SnapshotRef != nil {
		errs = append(errs, field.Invalid(specPath.Child("snapshotRef"), spec.SnapshotRef.Name, "must not be set together with spec.image"))
	}
	errs = append(errs, apivalidation.ValidateOptionalLocalRef(spec.SnapshotRef, specPath.Child("snapshotRef"))...)
	errs = append(errs, apivalidation.ValidateTolerations(spec.Tolerations, specPath.Child("tolerations"))...)
	return errs
}

// ValidateVolumeUpdate checks an update: class, data source and binding are fixed, and storage
// never shrinks. Whether it may grow depends on the class's resize policy, which the
// admission of the controller manager checks.
func ValidateVolumeUpdate(newVolume, oldVolume *storage.Volume) field.ErrorList {
	errs := validateVolume(newVolume)
	newSpec, oldSpec := &newVolume.Spec, &oldVolume.Spec
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(newSpec.VolumeClassRef, oldSpec.VolumeClassRef, specPath.Child("volumeClassRef"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(newSpec.Image, oldSpec.Image, specPath.Child("image"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(newSpec.SnapshotRef, oldSpec.SnapshotRef, specPath.Child("snapshotRef"))...)
	// spec.volumePoolRef and spec.claimRef are written only by the binding and claim
	// subresources (registry/kind).
	newSize, oldSize := newSpec.Resources[corev1.ResourceStorage], oldSpec.Resources[corev1.ResourceStorage]
	if newSize.Cmp(oldSize) < 0 {
		errs = append(errs, field.Forbidden(specPath.Child("resources").Key(string(corev1.ResourceStorage)), "volumes cannot shrink, only grow"))
	}
	return errs
}

var volumeStates = []storage.VolumeState{storage.VolumeStatePending, storage.VolumeStateAvailable, storage.VolumeStateError}

// ValidateVolumeStatusUpdate checks a status written by a poollet.
func ValidateVolumeStatusUpdate(newVolume, _ *storage.Volume) field.ErrorList {
	status := &newVolume.Status
	errs := apivalidation.ValidateEnum(status.State, volumeStates, false, statusPath.Child("state"))
	errs = append(errs, apivalidation.ValidateConditions(status.Conditions, statusPath.Child("conditions"))...)
	if access := status.Access; access != nil {
		if access.Driver == "" {
			errs = append(errs, field.Required(statusPath.Child("access", "driver"), ""))
		}
		if access.Handle == "" {
			errs = append(errs, field.Required(statusPath.Child("access", "handle"), ""))
		}
		errs = append(errs, apivalidation.ValidateOptionalLocalRef(access.SecretRef, statusPath.Child("access", "secretRef"))...)
	}
	return errs
}

// ValidateVolumePool checks a new VolumePool.
func ValidateVolumePool(pool *storage.VolumePool) field.ErrorList {
	return apivalidation.ValidateTaints(pool.Spec.Taints, specPath.Child("taints"))
}

// ValidateVolumePoolUpdate keeps the provider ID once set.
func ValidateVolumePoolUpdate(newPool, oldPool *storage.VolumePool) field.ErrorList {
	errs := ValidateVolumePool(newPool)
	if oldPool.Spec.ProviderID != "" {
		errs = append(errs, apimachineryvalidation.ValidateImmutableField(newPool.Spec.ProviderID, oldPool.Spec.ProviderID, specPath.Child("providerID"))...)
	}
	return errs
}

// ValidateVolumePoolStatusUpdate checks a status written by a poollet.
func ValidateVolumePoolStatusUpdate(newPool, _ *storage.VolumePool) field.ErrorList {
	errs := apivalidation.ValidateResourceList(newPool.Status.Capacity, nil, statusPath.Child("capacity"))
	errs = append(errs, apivalidation.ValidateResourceList(newPool.Status.Allocatable, nil, statusPath.Child("allocatable"))...)
	errs = append(errs, apivalidation.ValidateConditions(newPool.Status.Conditions, statusPath.Child("conditions"))...)
	errs = append(errs, apivalidation.ValidateLedger(newPool.Status.Allocated, len(newPool.Status.Reservations), statusPath)...)
	return append(errs, validateVolumePoolReservations(newPool.Status.Reservations, statusPath.Child("reservations"))...)
}

// validateVolumePoolReservations keeps the scheduler's ledger well formed: one entry per
// volume UID, each naming its volume and class with a non-negative size.
func validateVolumePoolReservations(reservations []storage.VolumePoolReservation, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := make(map[string]bool, len(reservations))
	for i, r := range reservations {
		p := path.Index(i)
		if r.VolumeUID == "" {
			errs = append(errs, field.Required(p.Child("volumeUID"), ""))
		} else if seen[string(r.VolumeUID)] {
			errs = append(errs, field.Duplicate(p.Child("volumeUID"), r.VolumeUID))
		}
		seen[string(r.VolumeUID)] = true
		if r.VolumeClass == "" {
			errs = append(errs, field.Required(p.Child("volumeClass"), ""))
		}
		if r.Storage.Sign() < 0 {
			errs = append(errs, field.Invalid(p.Child("storage"), r.Storage.String(), "must not be negative"))
		}
	}
	return errs
}

// ValidateVolumeSnapshot checks a new VolumeSnapshot.
func ValidateVolumeSnapshot(snapshot *storage.VolumeSnapshot) field.ErrorList {
	return apivalidation.ValidateLocalRef(snapshot.Spec.VolumeRef, specPath.Child("volumeRef"))
}

// ValidateVolumeSnapshotUpdate keeps the source volume fixed.
func ValidateVolumeSnapshotUpdate(newSnapshot, oldSnapshot *storage.VolumeSnapshot) field.ErrorList {
	errs := ValidateVolumeSnapshot(newSnapshot)
	return append(errs, apimachineryvalidation.ValidateImmutableField(newSnapshot.Spec.VolumeRef, oldSnapshot.Spec.VolumeRef, specPath.Child("volumeRef"))...)
}

var snapshotStates = []storage.VolumeSnapshotState{storage.VolumeSnapshotStatePending, storage.VolumeSnapshotStateReady, storage.VolumeSnapshotStateFailed}

// ValidateVolumeSnapshotStatusUpdate checks a status written by a poollet.
func ValidateVolumeSnapshotStatusUpdate(newSnapshot, oldSnapshot *storage.VolumeSnapshot) field.ErrorList {
	errs := apivalidation.ValidateEnum(newSnapshot.Status.State, snapshotStates, false, statusPath.Child("state"))
	if size := newSnapshot.Status.RestoreSize; size != nil {
		errs = append(errs, apivalidation.ValidateNonNegativeQuantity(*size, statusPath.Child("restoreSize"))...)
	}
	errs = append(errs, apivalidation.ValidateOptionalLocalRef(newSnapshot.Status.VolumePoolRef, statusPath.Child("volumePoolRef"))...)
	// The pool holds the snapshot's data: moving the reference would strand it and send
	// restores to a pool that cannot serve them.
	if oldSnapshot.Status.VolumePoolRef != nil {
		errs = append(errs, apimachineryvalidation.ValidateImmutableField(newSnapshot.Status.VolumePoolRef, oldSnapshot.Status.VolumePoolRef, statusPath.Child("volumePoolRef"))...)
	}
	return errs
}
