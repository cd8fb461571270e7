package volumescheduler

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/controllers/placement"
)

// Allocatable returns the bytes of class the pool allocates (zero when it does not offer it).
func Allocatable(pool *storagev1alpha1.VolumePool, class string) resource.Quantity {
	return pool.Status.Allocatable[corev1.ResourceName(class)]
}

// Reserved returns the bytes of class the pool's ledger holds.
func Reserved(pool *storagev1alpha1.VolumePool, class string) resource.Quantity {
	var sum resource.Quantity
	for _, r := range pool.Status.Reservations {
		if r.VolumeClass == class {
			sum.Add(r.Storage)
		}
	}
	return sum
}

// Requested returns the volume's requested storage.
func Requested(volume *storagev1alpha1.Volume) resource.Quantity {
	return volume.Spec.Resources[corev1.ResourceStorage]
}

// Free returns the bytes of class still free in the pool.
func Free(pool *storagev1alpha1.VolumePool, class string) resource.Quantity {
	free := Allocatable(pool, class)
	free.Sub(Reserved(pool, class))
	return free
}

// fits reports whether the volume's storage fits in what the pool has free of its class.
func fits(pool *storagev1alpha1.VolumePool, volume *storagev1alpha1.Volume) bool {
	free := Free(pool, volume.Spec.VolumeClassRef.Name)
	return free.Cmp(Requested(volume)) >= 0
}

// HasReservation reports whether the pool's ledger holds the volume.
func HasReservation(pool *storagev1alpha1.VolumePool, uid types.UID) bool {
	for _, r := range pool.Status.Reservations {
		if r.VolumeUID == uid {
			return true
		}
	}
	return false
}

// eligible reports whether the pool may take the volume leaving capacity aside, and if not, the
// reason (a Reason* constant).
func eligible(pool *storagev1alpha1.VolumePool, volume *storagev1alpha1.Volume, now time.Time, grace time.Duration) (bool, string) {
	allocatable := Allocatable(pool, volume.Spec.VolumeClassRef.Name)
	switch {
	case allocatable.Sign() <= 0:
		return false, ReasonNoPoolOffersClass
	case pool.DeletionTimestamp != nil || !placement.Fresh(pool.Status.Conditions, pool.Status.LastHeartbeatTime, now, grace):
		return false, ReasonNoReadyPool
	case !placement.SelectorMatches(volume.Spec.VolumePoolSelector, pool.Labels):
		return false, ReasonNoPoolMatchesSelector
	case placement.UntoleratedTaint(pool.Spec.Taints, volume.Spec.Tolerations) != nil:
		return false, ReasonUntoleratedTaints
	}
	return true, ""
}

// filterOrder is the order in which filters remove pools; the verdict names the last one that
// removed candidates.
var filterOrder = []string{ReasonNoPoolOffersClass, ReasonNoReadyPool, ReasonNoPoolMatchesSelector, ReasonUntoleratedTaints, ReasonPoolsFull}

// Feasible returns the pools that can take the volume now, as candidates with their free share.
// When none can, it returns the reason and a message counting the pools each filter removed.
func Feasible(pools []storagev1alpha1.VolumePool, volume *storagev1alpha1.Volume, now time.Time, grace time.Duration) ([]placement.Candidate, string, string) {
	class := volume.Spec.VolumeClassRef.Name
	removed := map[string]int{}
	var candidates []placement.Candidate
	for i := range pools {
		pool := &pools[i]
		ok, reason := eligible(pool, volume, now, grace)
		if ok && !fits(pool, volume) {
			ok, reason = false, ReasonPoolsFull
		}
		if !ok {
			removed[reason]++
			continue
		}
		allocatable, free := Allocatable(pool, class), Free(pool, class)
		candidates = append(candidates, placement.Candidate{Name: pool.Name, FreeShare: free.AsApproximateFloat64() / allocatable.AsApproximateFloat64()})
	}
	if len(candidates) > 0 {
		return candidates, "", ""
	}
	verdict := ReasonNoPoolOffersClass
	requested := Requested(volume)
	message := fmt.Sprintf("0/%d pools fit %s of volume class %q:", len(pools), requested.String(), class)
	for _, reason := range filterOrder {
		if removed[reason] > 0 {
			verdict = reason
			message += fmt.Sprintf(" %d %s;", removed[reason], reason)
		}
	}
	return nil, verdict, message
}
