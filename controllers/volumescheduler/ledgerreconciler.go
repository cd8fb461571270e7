package volumescheduler

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/controllers/deletions"
)

// PoolRefField indexes Volumes in the cache by spec.volumePoolRef.name.
const PoolRefField = "spec.volumePoolRef.name"

// UIDField indexes Volumes in the cache by metadata.uid: ledger entries carry only the UID, so
// that reading a pool reveals no tenant's namespace or volume names.
const UIDField = "metadata.uid"

// LedgerReconciler keeps each pool's reservations equal to the volumes placed on it: it drops
// entries whose volume is gone from etcd or bound to another pool (a crashed or losing
// scheduler's leftovers) and adopts volumes bound to the pool without an entry (bound by hand
// through the binding subresource) and updates the size of entries whose volume grew. A volume
// being deleted keeps its slot until it is gone:
// its poollet's finalizer holds it while the disk still exists.
type LedgerReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader confirms with the API server before an entry is dropped.
	APIReader client.Reader
	// ResyncInterval re-examines every pool even without events.
	ResyncInterval time.Duration
	// MissingGrace is how long an entry whose volume the cache does not know is kept before it
	// is dropped (the cache of this manager may lag another scheduler's create).
	MissingGrace time.Duration

	// GrowthGrace is how long an entry larger than its volume (a growth reserved by resize
	// admission whose update has not been stored) is kept before it is lowered.
	GrowthGrace time.Duration

	once sync.Once
	// gone tells whether an entry's object, unknown to the cache, is gone.
	gone *deletions.Tracker
	// oversized times entries larger than their volume.
	oversized *deletions.Tracker
}

// Reconcile repairs one pool's ledger.
func (r *LedgerReconciler) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	pool := &storagev1alpha1.VolumePool{}
	if err := r.Client.Get(ctx, request.NamespacedName, pool); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	bound := &storagev1alpha1.VolumeList{}
	if err := r.Client.List(ctx, bound, client.MatchingFields{PoolRefField: pool.Name}); err != nil {
		return reconcile.Result{}, err
	}
	placed := make(map[types.UID]*storagev1alpha1.Volume, len(bound.Items))
	for i := range bound.Items {
		if boundTo(&bound.Items[i], pool) {
			placed[bound.Items[i].UID] = &bound.Items[i]
		}
	}
	grown := false
	requeue := r.ResyncInterval
	var kept []storagev1alpha1.VolumePoolReservation
	listed := map[types.UID]bool{}
	for _, entry := range pool.Status.Reservations {
		keep := placed[entry.VolumeUID] != nil
		if !keep {
			var wait time.Duration
			var err error
			if keep, wait, err = r.pending(ctx, pool, entry.VolumeUID); err != nil {
				return reconcile.Result{}, err
			}
			if wait > 0 && wait < requeue {
				requeue = wait
			}
		}
		if v := placed[entry.VolumeUID]; v != nil {
			size := Requested(v)
			switch size.Cmp(entry.Storage) {
			case 1:
				// A bound volume grew: its ledger entry follows.
				entry.Storage, grown = size, true
				r.trackers().oversized.Found(entry.VolumeUID)
			case -1:
				// A growth that resize admission reserved and that is not (yet) stored: kept
				// for the grace, then given back (the update failed).
				if keepReserved, wait := r.trackers().oversized.Missing(entry.VolumeUID); keepReserved {
					requeue = min(requeue, wait)
				} else {
					entry.Storage, grown = size, true
				}
			default:
				r.trackers().oversized.Found(entry.VolumeUID)
			}
		}
		if keep {
			kept = append(kept, entry)
			listed[entry.VolumeUID] = true
		}
	}
	for uid, m := range placed {
		if !listed[uid] {
			kept = append(kept, storagev1alpha1.VolumePoolReservation{VolumeUID: uid, VolumeClass: m.Spec.VolumeClassRef.Name, Storage: Requested(m)})
		}
	}
	if !grown && len(kept) == len(pool.Status.Reservations) && len(listed) == len(kept) {
		return reconcile.Result{RequeueAfter: requeue}, nil
	}
	pool.Status.Reservations = kept
	// The resourceVersion of the cached pool is the precondition: a reservation added meanwhile
	// makes this write fail and the pool is reconciled again.
	if err := r.Client.Status().Update(ctx, pool); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return reconcile.Result{RequeueAfter: conflictRetryDelay}, nil
		}
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: requeue}, nil
}

// boundTo reports whether the volume is bound to this pool, and not to an earlier pool of the
// same name: a re-created pool does not inherit the volumes of the old one.
func boundTo(volume *storagev1alpha1.Volume, pool *storagev1alpha1.VolumePool) bool {
	ref := volume.Spec.VolumePoolRef
	return ref != nil && ref.Name == pool.Name && (ref.UID == "" || ref.UID == pool.UID)
}

// pending reports whether an entry whose volume the cache does not show bound to this pool
// must stay: the volume exists and is not bound anywhere yet (a reservation whose bind is in
// flight). An entry whose volume the cache does not know at all is kept for MissingGrace
// unless the volume's deletion was observed; wait says when to look again.
func (r *LedgerReconciler) pending(ctx context.Context, pool *storagev1alpha1.VolumePool, uid types.UID) (keep bool, wait time.Duration, err error) {
	volumes := &storagev1alpha1.VolumeList{}
	if err := r.Client.List(ctx, volumes, client.MatchingFields{UIDField: string(uid)}); err != nil {
		return false, 0, err
	}
	if len(volumes.Items) == 0 {
		keep, wait := r.tracker().Missing(uid)
		return keep, wait, nil
	}
	r.tracker().Found(uid)
	cached := &volumes.Items[0]
	if cached.Spec.VolumePoolRef == nil && cached.DeletionTimestamp == nil {
		return true, 0, nil
	}
	// Bound elsewhere or being deleted while unbound, says the cache: confirm live.
	volume := &storagev1alpha1.Volume{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(cached), volume); err != nil {
		if apierrors.IsNotFound(err) {
			return false, 0, nil
		}
		return false, 0, err
	}
	if volume.UID != uid {
		return false, 0, nil
	}
	if volume.Spec.VolumePoolRef == nil {
		// An unbound volume being deleted is never bound (the binding subresource refuses).
		return volume.DeletionTimestamp == nil, 0, nil
	}
	return boundTo(volume, pool), 0, nil
}

// trackers returns the reconciler with its trackers made on first use.
func (r *LedgerReconciler) trackers() *LedgerReconciler {
	r.once.Do(func() {
		r.gone = &deletions.Tracker{Grace: r.MissingGrace}
		grace := r.GrowthGrace
		if grace <= 0 {
			grace = defaultGrowthGrace
		}
		r.oversized = &deletions.Tracker{Grace: grace}
	})
	return r
}

// tracker returns the deletion tracker.
func (r *LedgerReconciler) tracker() *deletions.Tracker { return r.trackers().gone }

// defaultGrowthGrace is GrowthGrace when unset: longer than any update request.
const defaultGrowthGrace = 2 * time.Minute
