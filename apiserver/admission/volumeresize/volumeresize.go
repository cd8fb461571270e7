// Package volumeresize is the admission plugin that enforces a VolumeClass's resize policy and
// the bound pool's room when a Volume's spec.resources.storage changes:
//   - Static: the size never changes;
//   - ExpandOnly: the size may grow, never shrink (validation also refuses every shrink);
//   - a bound volume grows only as far as its pool can still hold: the pool's allocatable for
//     the class minus what the pool's ledger (status.reservations) counts for other volumes.
//
// Refusals are 422 naming spec.resources[storage]. An unbound volume has no disk yet: only the
// policy is checked, and not at all when its class does not exist yet.
//
// A growth that fits is reserved in the pool's ledger before it is admitted: the volume's entry
// takes the new size in a status update preconditioned on the pool's resourceVersion. So two
// volumes growing on one pool at the same moment are serialized by the pool object, as the
// scheduler's placements are, and the second is checked against the first's new size. If the
// volume update then fails, the entry is larger than the volume until the ledger reconciler
// lowers it after a grace (controllers/volumescheduler). The plugin writes only that entry, and
// runs before quota.
package volumeresize

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/admission"

	"github.com/ferrite-dev/ferrite/apis/storage"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
)

// PluginName is the name of the plugin in the admission chain.
const PluginName = "ferrite.dev/VolumeResize"

var (
	storagePath = field.NewPath("spec", "resources").Key(string(corev1.ResourceStorage))
	classPath   = field.NewPath("spec", "volumeClassRef", "name")
)

// Plugin is the volume resize admission plugin.
type Plugin struct {
	*admission.Handler
	client versioned.Interface
}

var _ admission.ValidationInterface = &Plugin{}

// New returns the plugin; client reads VolumeClasses and VolumePools.
func New(client versioned.Interface) *Plugin {
	return &Plugin{Handler: admission.NewHandler(admission.Update), client: client}
}

// Validate refuses a change of a volume's storage that its class's resize policy or its pool's
// room does not allow.
func (p *Plugin) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetSubresource() != "" || a.GetResource().GroupResource() != storage.Resource("volumes") {
		return nil
	}
	volume, ok := a.GetObject().(*storage.Volume)
	old, okOld := a.GetOldObject().(*storage.Volume)
	if !ok || !okOld {
		return nil
	}
	newSize, oldSize := volume.Spec.Resources[corev1.ResourceStorage], old.Spec.Resources[corev1.ResourceStorage]
	if newSize.Cmp(oldSize) == 0 {
		return nil
	}
	bound := volume.Spec.VolumePoolRef != nil
	errs, err := p.checkPolicy(ctx, volume, newSize, oldSize, bound)
	if err == nil && len(errs) == 0 && bound && newSize.Cmp(oldSize) > 0 {
		errs, err = p.checkPoolRoom(ctx, volume, volume.Spec.VolumePoolRef.Name, newSize)
	}
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(a.GetKind().GroupKind(), a.GetName(), errs)
	}
	return nil
}

// checkPolicy applies the class's resize policy.
func (p *Plugin) checkPolicy(ctx context.Context, volume *storage.Volume, newSize, oldSize resource.Quantity, bound bool) (field.ErrorList, error) {
	className := volume.Spec.VolumeClassRef.Name
	class, err := p.client.StorageV1alpha1().VolumeClasses().Get(ctx, className, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && !bound:
		// Nothing exists on a backend yet; the policy applies once the class does.
		return nil, nil
	case apierrors.IsNotFound(err):
		return field.ErrorList{field.Invalid(classPath, className, "the volume class does not exist, so the volume's resize policy is unknown and its size cannot change")}, nil
	case err != nil:
		return nil, apierrors.NewInternalError(fmt.Errorf("reading volume class %s: %w", className, err))
	}
	switch class.ResizePolicy {
	case storagev1alpha1.ResizePolicyExpandOnly:
		if newSize.Cmp(oldSize) < 0 {
			return field.ErrorList{field.Forbidden(storagePath, fmt.Sprintf("volume class %q has resizePolicy ExpandOnly: a volume may grow from %s, never shrink", className, oldSize.String()))}, nil
		}
		return nil, nil
	default:
		// Static, and the default when unset.
		return field.ErrorList{field.Forbidden(storagePath, fmt.Sprintf("volume class %q has resizePolicy Static: the size of its volumes cannot change from %s", className, oldSize.String()))}, nil
	}
}

// maxReserveAttempts bounds the optimistic-concurrency retries on one pool ledger.
const maxReserveAttempts = 8

// checkPoolRoom refuses growth past what the pool can still hold for the volume (its
// allocatable for the class minus what its ledger counts for other volumes of the class), and
// reserves a growth that fits in the ledger.
func (p *Plugin) checkPoolRoom(ctx context.Context, volume *storage.Volume, poolName string, newSize resource.Quantity) (field.ErrorList, error) {
	for attempt := 0; attempt < maxReserveAttempts; attempt++ {
		errs, pool, err := p.fits(ctx, volume, poolName, newSize)
		if err != nil || len(errs) > 0 {
			return errs, err
		}
		if !reserve(pool, volume, newSize) {
			return nil, nil
		}
		_, err = p.client.StorageV1alpha1().VolumePools().UpdateStatus(ctx, pool, metav1.UpdateOptions{})
		if err == nil {
			return nil, nil
		}
		if !apierrors.IsConflict(err) {
			return nil, apierrors.NewInternalError(fmt.Errorf("reserving the growth in volume pool %s: %w", poolName, err))
		}
	}
	return nil, apierrors.NewConflict(storage.Resource("volumes"), volume.Name, fmt.Errorf("the ledger of volume pool %s stayed contended; retry", poolName))
}

// reserve sets the volume's ledger entry to newSize, adding the entry if the ledger lacks it;
// false when the entry already holds at least newSize.
func reserve(pool *storagev1alpha1.VolumePool, volume *storage.Volume, newSize resource.Quantity) bool {
	for i := range pool.Status.Reservations {
		entry := &pool.Status.Reservations[i]
		if entry.VolumeUID == volume.UID {
			if entry.Storage.Cmp(newSize) >= 0 {
				return false
			}
			entry.Storage = newSize.DeepCopy()
			return true
		}
	}
	pool.Status.Reservations = append(pool.Status.Reservations, storagev1alpha1.VolumePoolReservation{
		VolumeUID: volume.UID, VolumeClass: volume.Spec.VolumeClassRef.Name, Storage: newSize.DeepCopy(),
	})
	return true
}

// fits reads the pool live and checks the growth against its room.
func (p *Plugin) fits(ctx context.Context, volume *storage.Volume, poolName string, newSize resource.Quantity) (field.ErrorList, *storagev1alpha1.VolumePool, error) {
	pool, err := p.client.StorageV1alpha1().VolumePools().Get(ctx, poolName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return field.ErrorList{field.Forbidden(storagePath, fmt.Sprintf("the volume is bound to volume pool %q, which does not exist: it cannot grow", poolName))}, nil, nil
	}
	if err != nil {
		return nil, nil, apierrors.NewInternalError(fmt.Errorf("reading volume pool %s: %w", poolName, err))
	}
	if ref := volume.Spec.VolumePoolRef; ref != nil && ref.UID != "" && ref.UID != pool.UID {
		return field.ErrorList{field.Forbidden(storagePath, fmt.Sprintf("volume pool %q was deleted and re-created since the volume was bound: it cannot grow", poolName))}, nil, nil
	}
	className := volume.Spec.VolumeClassRef.Name
	allocatable, others := room(pool, className, volume.UID)
	free := allocatable.DeepCopy()
	free.Sub(others)
	if newSize.Cmp(free) > 0 {
		return field.ErrorList{field.Forbidden(storagePath, fmt.Sprintf(
			"volume pool %q can hold at most %s of volume class %q for this volume (allocatable %s, reserved by other volumes %s); %s does not fit",
			poolName, free.String(), className, allocatable.String(), others.String(), newSize.String()))}, nil, nil
	}
	return nil, pool, nil
}

// room returns the pool's allocatable bytes of class and the bytes its ledger counts for the
// class's volumes other than uid. Entries are matched by UID only: that is all a ledger entry
// is sure to name.
func room(pool *storagev1alpha1.VolumePool, class string, uid types.UID) (allocatable, others resource.Quantity) {
	allocatable = pool.Status.Allocatable[corev1.ResourceName(class)].DeepCopy()
	for _, r := range pool.Status.Reservations {
		if r.VolumeClass == class && r.VolumeUID != uid {
			others.Add(r.Storage)
		}
	}
	return allocatable, others
}
