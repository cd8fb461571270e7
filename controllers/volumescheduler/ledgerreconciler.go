package volumescheduler

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// PoolRefField indexes Volumes in the cache by spec.volumePoolRef.name.
const PoolRefField = "spec.volumePoolRef.name"

// LedgerReconciler keeps each pool's reservations equal to the volumes placed on it: it drops
// entries whose volume was deleted or bound to another pool (a crashed or losing scheduler's
// leftovers), adopts volumes bound to the pool without an entry (bound at create by a user) and
// updates the size of entries whose volume grew.
type LedgerReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader confirms with the API server before an entry is dropped.
	APIReader client.Reader
	// ResyncInterval re-examines every pool even without events.
	ResyncInterval time.Duration
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
	placed := make(map[string]bool, len(bound.Items))
	sizes := make(map[string]resource.Quantity, len(bound.Items))
	for i, m := range bound.Items {
		placed[string(m.UID)] = true
		sizes[string(m.UID)] = Requested(&bound.Items[i])
	}
	grown := false
	var kept []storagev1alpha1.VolumePoolReservation
	listed := map[string]bool{}
	for _, entry := range pool.Status.Reservations {
		keep := placed[string(entry.VolumeUID)]
		if !keep {
			var err error
			if keep, err = r.pending(ctx, pool.Name, entry); err != nil {
				return reconcile.Result{}, err
			}
		}
		if size, ok := sizes[string(entry.VolumeUID)]; ok && size.Cmp(entry.Storage) != 0 {
			// A bound volume grew: its ledger entry follows.
			entry.Storage, grown = size, true
		}
		if keep {
			kept = append(kept, entry)
			listed[string(entry.VolumeUID)] = true
		}
	}
	for _, m := range bound.Items {
		if !listed[string(m.UID)] && m.DeletionTimestamp == nil {
			kept = append(kept, storagev1alpha1.VolumePoolReservation{
				VolumeUID: m.UID, Namespace: m.Namespace, Name: m.Name, VolumeClass: m.Spec.VolumeClassRef.Name,
				Storage: Requested(&m),
			})
		}
	}
	if !grown && len(kept) == len(pool.Status.Reservations) && len(listed) == len(kept) {
		return reconcile.Result{RequeueAfter: r.ResyncInterval}, nil
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
	return reconcile.Result{RequeueAfter: r.ResyncInterval}, nil
}

// pending reports whether an entry whose volume the cache does not show bound to this pool must
// stay: the volume exists (checked live, the cache may lag) and is not bound anywhere yet.
func (r *LedgerReconciler) pending(ctx context.Context, poolName string, entry storagev1alpha1.VolumePoolReservation) (bool, error) {
	key := client.ObjectKey{Namespace: entry.Namespace, Name: entry.Name}
	volume := &storagev1alpha1.Volume{}
	err := r.Client.Get(ctx, key, volume)
	if err == nil && volume.UID == entry.VolumeUID && volume.Spec.VolumePoolRef == nil {
		return true, nil
	}
	if err = r.APIReader.Get(ctx, key, volume); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	if volume.UID != entry.VolumeUID {
		return false, nil
	}
	return volume.Spec.VolumePoolRef == nil || volume.Spec.VolumePoolRef.Name == poolName, nil
}
