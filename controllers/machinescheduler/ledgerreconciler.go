package machinescheduler

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/controllers/deletions"
)

// PoolRefField indexes Machines in the cache by spec.machinePoolRef.name.
const PoolRefField = "spec.machinePoolRef.name"

// UIDField indexes Machines in the cache by metadata.uid: ledger entries carry only the UID, so
// that reading a pool reveals no tenant's namespace or machine names.
const UIDField = "metadata.uid"

// LedgerReconciler keeps each pool's reservations equal to the machines placed on it: it drops
// entries whose machine is gone from etcd or bound to another pool (a crashed or losing
// scheduler's leftovers) and adopts machines bound to the pool without an entry (bound by hand
// through the binding subresource). A machine being deleted keeps its slot until it is gone:
// its poollet's finalizer holds it while the VM still exists.
type LedgerReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader confirms with the API server before an entry is dropped.
	APIReader client.Reader
	// ResyncInterval re-examines every pool even without events.
	ResyncInterval time.Duration
	// MissingGrace is how long an entry whose machine the cache does not know is kept before it
	// is dropped (the cache of this manager may lag another scheduler's create).
	MissingGrace time.Duration

	once sync.Once
	// gone tells whether an entry's object, unknown to the cache, is gone.
	gone *deletions.Tracker
}

// Reconcile repairs one pool's ledger.
func (r *LedgerReconciler) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	pool := &computev1alpha1.MachinePool{}
	if err := r.Client.Get(ctx, request.NamespacedName, pool); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	bound := &computev1alpha1.MachineList{}
	if err := r.Client.List(ctx, bound, client.MatchingFields{PoolRefField: pool.Name}); err != nil {
		return reconcile.Result{}, err
	}
	placed := make(map[types.UID]*computev1alpha1.Machine, len(bound.Items))
	for i := range bound.Items {
		if boundTo(&bound.Items[i], pool) {
			placed[bound.Items[i].UID] = &bound.Items[i]
		}
	}
	requeue := r.ResyncInterval
	var kept []computev1alpha1.MachinePoolReservation
	listed := map[types.UID]bool{}
	for _, entry := range pool.Status.Reservations {
		keep := placed[entry.MachineUID] != nil
		if !keep {
			var wait time.Duration
			var err error
			if keep, wait, err = r.pending(ctx, pool, entry.MachineUID); err != nil {
				return reconcile.Result{}, err
			}
			if wait > 0 && wait < requeue {
				requeue = wait
			}
		}
		if keep {
			kept = append(kept, entry)
			listed[entry.MachineUID] = true
		}
	}
	for uid, m := range placed {
		if !listed[uid] {
			kept = append(kept, computev1alpha1.MachinePoolReservation{MachineUID: uid, MachineClass: m.Spec.MachineClassRef.Name})
		}
	}
	if len(kept) == len(pool.Status.Reservations) && len(listed) == len(kept) {
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

// boundTo reports whether the machine is bound to this pool, and not to an earlier pool of the
// same name: a re-created pool does not inherit the machines of the old one.
func boundTo(machine *computev1alpha1.Machine, pool *computev1alpha1.MachinePool) bool {
	ref := machine.Spec.MachinePoolRef
	return ref != nil && ref.Name == pool.Name && (ref.UID == "" || ref.UID == pool.UID)
}

// pending reports whether an entry whose machine the cache does not show bound to this pool
// must stay: the machine exists and is not bound anywhere yet (a reservation whose bind is in
// flight). An entry whose machine the cache does not know at all is kept for MissingGrace
// unless the machine's deletion was observed; wait says when to look again.
func (r *LedgerReconciler) pending(ctx context.Context, pool *computev1alpha1.MachinePool, uid types.UID) (keep bool, wait time.Duration, err error) {
	machines := &computev1alpha1.MachineList{}
	if err := r.Client.List(ctx, machines, client.MatchingFields{UIDField: string(uid)}); err != nil {
		return false, 0, err
	}
	if len(machines.Items) == 0 {
		keep, wait := r.tracker().Missing(uid)
		return keep, wait, nil
	}
	r.tracker().Found(uid)
	cached := &machines.Items[0]
	if cached.Spec.MachinePoolRef == nil && cached.DeletionTimestamp == nil {
		return true, 0, nil
	}
	// Bound elsewhere or being deleted while unbound, says the cache: confirm live.
	machine := &computev1alpha1.Machine{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(cached), machine); err != nil {
		if apierrors.IsNotFound(err) {
			return false, 0, nil
		}
		return false, 0, err
	}
	if machine.UID != uid {
		return false, 0, nil
	}
	if machine.Spec.MachinePoolRef == nil {
		// An unbound machine being deleted is never bound (the binding subresource refuses).
		return machine.DeletionTimestamp == nil, 0, nil
	}
	return boundTo(machine, pool), 0, nil
}

// tracker returns the deletion tracker, made with MissingGrace on first use.
func (r *LedgerReconciler) tracker() *deletions.Tracker {
	r.once.Do(func() { r.gone = &deletions.Tracker{Grace: r.MissingGrace} })
	return r.gone
}
