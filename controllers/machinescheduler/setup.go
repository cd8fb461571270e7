package machinescheduler

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
)

// IndexPoolRef registers the spec.machinePoolRef.name and metadata.uid indexes the ledger
// reconciler lists by.
func IndexPoolRef(ctx context.Context, mgr ctrl.Manager) error {
	err := mgr.GetFieldIndexer().IndexField(ctx, &computev1alpha1.Machine{}, PoolRefField, func(obj client.Object) []string {
		if ref := obj.(*computev1alpha1.Machine).Spec.MachinePoolRef; ref != nil {
			return []string{ref.Name}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return mgr.GetFieldIndexer().IndexField(ctx, &computev1alpha1.Machine{}, UIDField, func(obj client.Object) []string {
		return []string{string(obj.GetUID())}
	})
}

// SetupWithManager registers the scheduler (named machine-scheduler) with workers concurrent
// reconciles. Only unbound machines are watched; any pool change requeues the machines that
// found no pool.
func (s *Scheduler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	// Unbound objects, and bound ones that still say Scheduled=False (bound by hand through
	// the binding subresource after the scheduler found no pool).
	unbound := predicate.NewPredicateFuncs(func(obj client.Object) bool {
		o := obj.(*computev1alpha1.Machine)
		return o.Spec.MachinePoolRef == nil || meta.IsStatusConditionFalse(o.Status.Conditions, ConditionScheduled)
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("machine-scheduler").
		For(&computev1alpha1.Machine{}, builder.WithPredicates(unbound)).
		Watches(&computev1alpha1.MachinePool{}, handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
			return s.unschedulableRequests()
		}), builder.WithPredicates(predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
			return MayHaveMoreRoom(e.ObjectOld.(*computev1alpha1.MachinePool), e.ObjectNew.(*computev1alpha1.MachinePool))
		}})).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(s)
}

// MayHaveMoreRoom reports whether a pool update can turn an unschedulable machine schedulable:
// slots freed, allocatable, labels, taints or readiness changed. Reservations being added, the
// bulk of pool updates under load, cannot, so they do not requeue every unschedulable machine.
func MayHaveMoreRoom(old, new *computev1alpha1.MachinePool) bool {
	return len(new.Status.Reservations) < len(old.Status.Reservations) ||
		!equality.Semantic.DeepEqual(old.Status.Allocatable, new.Status.Allocatable) ||
		!equality.Semantic.DeepEqual(old.Labels, new.Labels) ||
		!equality.Semantic.DeepEqual(old.Spec.Taints, new.Spec.Taints) ||
		readyStatus(old) != readyStatus(new)
}

func readyStatus(pool *computev1alpha1.MachinePool) metav1.ConditionStatus {
	if c := meta.FindStatusCondition(pool.Status.Conditions, computev1alpha1.MachinePoolConditionReady); c != nil {
		return c.Status
	}
	return metav1.ConditionUnknown
}

// SetupWithManager registers the ledger reconciler (named machinepool-ledger). Besides pool
// events it reacts to machines seen bound (to adopt those bound by hand) and to machines gone
// from etcd (to free their slot; a deletion that waits on finalizers is an update, not this).
func (r *LedgerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	machineEvents := handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if ref := e.Object.(*computev1alpha1.Machine).Spec.MachinePoolRef; ref != nil {
				q.Add(reconcile.Request{NamespacedName: client.ObjectKey{Name: ref.Name}})
			}
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			before := e.ObjectOld.(*computev1alpha1.Machine).Spec.MachinePoolRef
			if after := e.ObjectNew.(*computev1alpha1.Machine).Spec.MachinePoolRef; before == nil && after != nil {
				q.Add(reconcile.Request{NamespacedName: client.ObjectKey{Name: after.Name}})
			}
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.tracker().Deleted(e.Object.GetUID())
			for _, request := range r.poolsHolding(ctx, e.Object.(*computev1alpha1.Machine)) {
				q.Add(request)
			}
		},
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("machinepool-ledger").
		For(&computev1alpha1.MachinePool{}).
		Watches(&computev1alpha1.Machine{}, machineEvents).
		Complete(r)
}

// poolsHolding returns the pools whose ledger may hold the deleted machine: its bound pool, or
// for an unbound machine every pool with its UID in the cached ledger.
func (r *LedgerReconciler) poolsHolding(ctx context.Context, machine *computev1alpha1.Machine) []reconcile.Request {
	if ref := machine.Spec.MachinePoolRef; ref != nil {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: ref.Name}}}
	}
	pools := &computev1alpha1.MachinePoolList{}
	if err := r.Client.List(ctx, pools); err != nil {
		return nil
	}
	var requests []reconcile.Request
	for i := range pools.Items {
		if HasReservation(&pools.Items[i], machine.UID) {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKey{Name: pools.Items[i].Name}})
		}
	}
	return requests
}
