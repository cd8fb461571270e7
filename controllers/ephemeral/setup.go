package ephemeral

import (
	"context"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// deletesOnly passes delete events only.
var deletesOnly = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	UpdateFunc:  func(event.UpdateEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// IndexOwners registers OwnerField on Volumes and NetworkInterfaces.
func IndexOwners(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &storagev1alpha1.Volume{}, OwnerField, ownerIndex); err != nil {
		return err
	}
	return mgr.GetFieldIndexer().IndexField(ctx, &networkingv1alpha1.NetworkInterface{}, OwnerField, ownerIndex)
}

// SetupWithManager registers the machine reconciler (named machine-ephemeral). It reacts to spec
// changes of machines and to their ephemeral objects being deleted behind its back.
func (r *Machines) SetupWithManager(mgr ctrl.Manager) error {
	toOwner := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		if ref := controllingMachine(obj); ref != nil {
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: obj.GetNamespace(), Name: ref.Name}}}
		}
		return nil
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("machine-ephemeral").
		For(&computev1alpha1.Machine{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&storagev1alpha1.Volume{}, toOwner, builder.WithPredicates(deletesOnly)).
		Watches(&networkingv1alpha1.NetworkInterface{}, toOwner, builder.WithPredicates(deletesOnly)).
		Complete(r)
}

// SetupWithManager registers an orphan reconciler named name. Besides the objects' own events, a
// deleted machine requeues the objects it controlled.
func (r *Orphans) SetupWithManager(mgr ctrl.Manager, name string, list func() client.ObjectList) error {
	owned := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		objects := list()
		if err := r.Client.List(ctx, objects, client.InNamespace(obj.GetNamespace()), client.MatchingFields{OwnerField: string(obj.GetUID())}); err != nil {
			return nil
		}
		var requests []reconcile.Request
		_ = meta.EachListItem(objects, func(o runtime.Object) error {
			item := o.(client.Object)
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(item)})
			return nil
		})
		return requests
	})
	hasOwner := predicate.NewPredicateFuncs(func(obj client.Object) bool { return controllingMachine(obj) != nil })
	return ctrl.NewControllerManagedBy(mgr).
		Named(name).
		For(r.NewObject(), builder.WithPredicates(hasOwner)).
		Watches(&computev1alpha1.Machine{}, owned, builder.WithPredicates(deletesOnly)).
		Complete(r)
}
