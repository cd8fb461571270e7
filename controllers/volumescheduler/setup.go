package volumescheduler

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

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// IndexPoolRef registers the spec.volumePoolRef.name and metadata.uid indexes the ledger
// reconciler lists by.
func IndexPoolRef(ctx context.Context, mgr ctrl.Manager) error {
	err := mgr.GetFieldIndexer().IndexField(ctx, &storagev1alpha1.Volume{}, PoolRefField, func(obj client.Object) []string {
		if ref := obj.(*storagev1alpha1.Volume).Spec.VolumePoolRef; ref != nil {
			return []string{ref.Name}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return mgr.GetFieldIndexer().IndexField(ctx, &storagev1alpha1.Volume{}, UIDField, func(obj client.Object) []string {
		return []string{string(obj.GetUID())}
	})
}

// SetupWithManager registers the scheduler (named volume-scheduler) with workers concurrent
// reconciles. Only unbound volumes are watched; any pool change requeues the volumes that
// found no pool.
func (s *Scheduler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	// Unbound objects, and bound ones that still say Scheduled=False (bound by hand through
	// the binding subresource after the scheduler found no pool).
	unbound := predicate.NewPredicateFuncs(func(obj client.Object) bool {
		o := obj.(*storagev1alpha1.Volume)
		return o.Spec.VolumePoolRef == nil || meta.IsStatusConditionFalse(o.Status.Conditions, ConditionScheduled)
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("volume-scheduler").
		For(&storagev1alpha1.Volume{}, builder.WithPredicates(unbound)).
		Watches(&storagev1alpha1.VolumePool{}, handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
			return s.unschedulableRequests()
		}), builder.WithPredicates(predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
			return MayHaveMoreRoom(e.ObjectOld.(*storagev1alpha1.VolumePool), e.ObjectNew.(*storagev1alpha1.VolumePool))
		}})).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(s)
}

// MayHaveMoreRoom reports whether a pool update can turn an unschedulable volume schedulable:
// bytes freed, allocatable, labels, taints or readiness changed. Reservations being added, the
// bulk of pool updates under load, cannot, so they do not requeue every unschedulable volume.
func MayHaveMoreRoom(old, new *storagev1alpha1.VolumePool) bool {
	return len(new.Status.Reservations) < len(old.Status.Reservations) ||
		!equality.Semantic.DeepEqual(old.Status.Allocatable, new.Status.Allocatable) ||
		!equality.Semantic.DeepEqual(old.Labels, new.Labels) ||
		!equality.Semantic.DeepEqual(old.Spec.Taints, new.Spec.Taints) ||
		readyStatus(old) != readyStatus(new)
}

func readyStatus(pool *storagev1alpha1.VolumePool) metav1.ConditionStatus {
	if c := meta.FindStatusCondition(pool.Status.Conditions, storagev1alpha1.VolumePoolConditionReady); c != nil {
		return c.Status
	}
	return metav1.ConditionUnknown
}

// SetupWithManager registers the ledger reconciler (named volumepool-ledger). Besides pool
// events it reacts to volumes seen bound (to adopt those bound by hand) and to volumes gone
// from etcd (to free their slot; a deletion that waits on finalizers is an update, not this).
func (r *LedgerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	volumeEvents := handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if ref := e.Object.(*storagev1alpha1.Volume).Spec.VolumePoolRef; ref != nil {
				q.Add(reconcile.Request{NamespacedName: client.ObjectKey{Name: ref.Name}})
			}
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			before := e.ObjectOld.(*storagev1alpha1.Volume).Spec.VolumePoolRef
			if after := e.ObjectNew.(*storagev1alpha1.Volume).Spec.VolumePoolRef; before == nil && after != nil {
				q.Add(reconcile.Request{NamespacedName: client.ObjectKey{Name: after.Name}})
			}
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.tracker().Deleted(e.Object.GetUID())
			for _, request := range r.poolsHolding(ctx, e.Object.(*storagev1alpha1.Volume)) {
				q.Add(request)
			}
		},
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("volumepool-ledger").
		For(&storagev1alpha1.VolumePool{}).
		Watches(&storagev1alpha1.Volume{}, volumeEvents).
		Complete(r)
}

// poolsHolding returns the pools whose ledger may hold the deleted volume: its bound pool, or
// for an unbound volume every pool with its UID in the cached ledger.
func (r *LedgerReconciler) poolsHolding(ctx context.Context, volume *storagev1alpha1.Volume) []reconcile.Request {
	if ref := volume.Spec.VolumePoolRef; ref != nil {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: ref.Name}}}
	}
	pools := &storagev1alpha1.VolumePoolList{}
	if err := r.Client.List(ctx, pools); err != nil {
		return nil
	}
	var requests []reconcile.Request
	for i := range pools.Items {
		if HasReservation(&pools.Items[i], volume.UID) {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKey{Name: pools.Items[i].Name}})
		}
	}
	return requests
}
