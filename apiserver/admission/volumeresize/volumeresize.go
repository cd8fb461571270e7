// Package volumeresize is the admission plugin that enforces a VolumeClass's resize policy and
// the bound pool's room when a Volume's spec.resources.storage changes:
//   - Static: the size never changes;
//   - ExpandOnly: the size may grow, never shrink (validation also refuses every shrink);
//   - a bound volume grows only as far as its pool can still hold: the pool's allocatable for
//     the class minus what the pool's ledger counts for the class's other volumes.
//
// The ledger counts a class as status.allocated[class] (the bound volumes the ledger controller
// has observed, leaving out volumes that hold an entry) plus the class's entries in
// status.reservations (placements and growths in flight, each at the volume's full size); a
// volume with an entry is counted by its entry only. So what other volumes use is
// allocated[class] plus the class's other entries when the volume has an entry, and
// allocated[class] less the volume's stored size (it is counted there) plus the class's
// entries when it has none.
//
// Refusals are 422 naming spec.resources[storage]. An unbound volume has no disk yet: only the
// policy is checked, and not at all when its class does not exist yet.
//
// A growth that fits is reserved in the pool's ledger before it is admitted, in one status
// update preconditioned on the pool's resourceVersion: a volume with an entry has the entry
// raised to the new size; a volume without one gets an entry at the new size and
// allocated[class] is lowered by its stored size (not below 0), so it is counted once. So two
// volumes growing on one pool at the same moment are serialized by the pool object, as the
// scheduler's placements are, and the second is checked against the first's new size. A
// conflict re-reads the pool and checks again, a bounded number of times. When the ledger
// already holds its 1024 entries in flight, a growth that needs a new entry is refused with
// 429 and Retry-After. If the volume update then fails, the entry is larger than the volume
// until the ledger controller gives the growth back after --ledger-growth-grace. The plugin
// writes only that entry and allocated[class], never status.allocatedRevision, and runs before
// quota.
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
	apivalidation "github.com/ferrite-dev/ferrite/apis/validation"
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
		errs, err = p.checkPoolRoom(ctx, volume, volume.Spec.VolumePoolRef.Name, newSize, oldSize)
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

// ledgerFullRetryAfter is the Retry-After, in seconds, of a growth refused because the pool's
// ledger is full: entries in flight leave it as the ledger controller observes their volumes.
const ledgerFullRetryAfter = 1

// checkPoolRoom refuses growth past what the pool can still hold for the volume (its
// allocatable for the class minus what its ledger counts for other volumes of the class), and
// reserves a growth that fits in the ledger.
func (p *Plugin) checkPoolRoom(ctx context.Context, volume *storage.Volume, poolName string, newSize, oldSize resource.Quantity) (field.ErrorList, error) {
	for attempt := 0; attempt < maxReserveAttempts; attempt++ {
		pool, errs, err := p.readPool(ctx, volume, poolName)
		if err != nil || len(errs) > 0 {
			return errs, err
		}
		className := volume.Spec.VolumeClassRef.Name
		s := shareOf(pool, className, volume.UID, oldSize)
		if errs := s.fits(poolName, className, newSize); len(errs) > 0 {
			return errs, nil
		}
		write, err := reserve(pool, volume, s, newSize, oldSize)
		if err != nil || !write {
			return nil, err
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

// readPool reads the pool live; errs when it is gone or is not the pool the volume was bound to.
func (p *Plugin) readPool(ctx context.Context, volume *storage.Volume, poolName string) (*storagev1alpha1.VolumePool, field.ErrorList, error) {
	pool, err := p.client.StorageV1alpha1().VolumePools().Get(ctx, poolName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, field.ErrorList{field.Forbidden(storagePath, fmt.Sprintf("the volume is bound to volume pool %q, which does not exist: it cannot grow", poolName))}, nil
	}
	if err != nil {
		return nil, nil, apierrors.NewInternalError(fmt.Errorf("reading volume pool %s: %w", poolName, err))
	}
	if ref := volume.Spec.VolumePoolRef; ref != nil && ref.UID != "" && ref.UID != pool.UID {
		return nil, field.ErrorList{field.Forbidden(storagePath, fmt.Sprintf("volume pool %q was deleted and re-created since the volume was bound: it cannot grow", poolName))}, nil
	}
	return pool, nil, nil
}

// share is a pool's ledger for one class as seen by one volume.
type share struct {
	allocatable resource.Quantity
	// entry is the index of the volume's entry in status.reservations, -1 when it has none.
	entry int
	// counted is what status.allocated counts for the class's other volumes: allocated[class],
	// less the volume's stored size when the volume has no entry (it is counted there), not
	// below 0.
	counted resource.Quantity
	// inFlight is what the class's entries of other volumes hold.
	inFlight resource.Quantity
}

// shareOf reads the pool's ledger for class as seen by the volume of uid, stored at oldSize.
// Entries are matched to the volume by UID only: that is all a ledger entry is sure to name.
func shareOf(pool *storagev1alpha1.VolumePool, class string, uid types.UID, oldSize resource.Quantity) share {
	s := share{allocatable: pool.Status.Allocatable[corev1.ResourceName(class)].DeepCopy(), entry: -1}
	for i, r := range pool.Status.Reservations {
		switch {
		case r.VolumeUID == uid:
			s.entry = i
		case r.VolumeClass == class:
			s.inFlight.Add(r.Storage)
		}
	}
	s.counted = pool.Status.Allocated[corev1.ResourceName(class)].DeepCopy()
	if s.entry < 0 {
		s.counted = subFloored(s.counted, oldSize)
	}
	return s
}

// others is what the class's other volumes use on the pool.
func (s share) others() resource.Quantity {
	others := s.counted.DeepCopy()
	others.Add(s.inFlight)
	return others
}

// fits refuses newSize when it is more than allocatable less what the other volumes use.
func (s share) fits(poolName, className string, newSize resource.Quantity) field.ErrorList {
	others := s.others()
	free := subFloored(s.allocatable, others)
	if newSize.Cmp(free) <= 0 {
		return nil
	}
	return field.ErrorList{field.Forbidden(storagePath, fmt.Sprintf(
		"volume pool %q can hold at most %s of volume class %q for this volume (allocatable %s, used by other volumes %s: %s counted in status.allocated, %s reserved in status.reservations); %s does not fit",
		poolName, free.String(), className, s.allocatable.String(), others.String(), s.counted.String(), s.inFlight.String(), newSize.String()))}
}

// reserve writes the growth into the pool's ledger: the volume's entry is raised to newSize or,
// when it has none, an entry at newSize is added and allocated[class] is lowered by the
// volume's stored size, so the volume is counted by its entry only. write is false when the
// entry already holds at least newSize. A new entry in a ledger at its cap is a 429.
func reserve(pool *storagev1alpha1.VolumePool, volume *storage.Volume, s share, newSize, oldSize resource.Quantity) (write bool, err error) {
	if s.entry >= 0 {
		entry := &pool.Status.Reservations[s.entry]
		if entry.Storage.Cmp(newSize) >= 0 {
			return false, nil
		}
		entry.Storage = newSize.DeepCopy()
		return true, nil
	}
	if len(pool.Status.Reservations) >= apivalidation.MaxLedgerReservations {
		// 429 with Retry-After rather than 409: the request is right and the volume has not
		// changed; the ledger is full of placements in flight, which leave it as the ledger
		// controller observes their volumes, so the same update can be sent again as is after a
		// short wait (client-go does so by itself on a 429 with Retry-After). A 409 would send
		// RetryOnConflict loops into an immediate re-read and retry against a ledger still full.
		return false, apierrors.NewTooManyRequests(fmt.Sprintf(
			"the ledger of volume pool %s already holds %d volumes in flight, its limit: the growth cannot be reserved now; retry later",
			pool.Name, len(pool.Status.Reservations)), ledgerFullRetryAfter)
	}
	class := volume.Spec.VolumeClassRef.Name
	pool.Status.Reservations = append(pool.Status.Reservations, storagev1alpha1.VolumePoolReservation{
		VolumeUID: volume.UID, VolumeClass: class, Storage: newSize.DeepCopy(),
	})
	if allocated, ok := pool.Status.Allocated[corev1.ResourceName(class)]; ok {
		pool.Status.Allocated[corev1.ResourceName(class)] = subFloored(allocated, oldSize)
	}
	return true, nil
}

// subFloored is a - b, not below 0.
func subFloored(a, b resource.Quantity) resource.Quantity {
	d := a.DeepCopy()
	d.Sub(b)
	if d.Sign() < 0 {
		d.Set(0)
	}
	return d
}
