package machinescheduler

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
)

// PoolRefField indexes Machines in the cache by spec.machinePoolRef.name.
const PoolRefField = "spec.machinePoolRef.name"

// LedgerReconciler keeps each pool's reservations equal to the machines placed on it: it drops
// entries whose machine was deleted or bound to another pool (a crashed or losing scheduler's
// leftovers) and adopts machines bound to the pool without an entry (bound at create by a user).
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
	pool := &computev1alpha1.MachinePool{}
	if err := r.Client.Get(ctx, request.NamespacedName, pool); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	bound := &computev1alpha1.MachineList{}
	if err := r.Client.List(ctx, bound, client.MatchingFields{PoolRefField: pool.Name}); err != nil {
		return reconcile.Result{}, err
	}
	placed := make(map[string]bool, len(bound.Items))
	for _, m := range bound.Items {
		placed[string(m.UID)] = true
	}
	var kept []computev1alpha1.MachinePoolReservation
	listed := map[string]bool{}
	for _, entry := range pool.Status.Reservations {
		keep := placed[string(entry.MachineUID)]
		if !keep {
			var err error
			if keep, err = r.pending(ctx, pool.Name, entry); err != nil {
				return reconcile.Result{}, err
			}
		}
		if keep {
			kept = append(kept, entry)
			listed[string(entry.MachineUID)] = true
		}
	}
	for _, m := range bound.Items {
		if !listed[string(m.UID)] && m.DeletionTimestamp == nil {
			kept = append(kept, computev1alpha1.MachinePoolReservation{
				MachineUID: m.UID, Namespace: m.Namespace, Name: m.Name, MachineClass: m.Spec.MachineClassRef.Name,
			})
		}
	}
	if len(kept) == len(pool.Status.Reservations) && len(listed) == len(kept) {
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

// pending reports whether an entry whose machine the cache does not show bound to this pool must
// stay: the machine exists (checked live, the cache may lag) and is not bound anywhere yet.
func (r *LedgerReconciler) pending(ctx context.Context, poolName string, entry computev1alpha1.MachinePoolReservation) (bool, error) {
	key := client.ObjectKey{Namespace: entry.Namespace, Name: entry.Name}
	machine := &computev1alpha1.Machine{}
	err := r.Client.Get(ctx, key, machine)
	if err == nil && machine.UID == entry.MachineUID && machine.Spec.MachinePoolRef == nil {
		return true, nil
	}
	if err = r.APIReader.Get(ctx, key, machine); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	if machine.UID != entry.MachineUID {
		return false, nil
	}
	return machine.Spec.MachinePoolRef == nil || machine.Spec.MachinePoolRef.Name == poolName, nil
}
