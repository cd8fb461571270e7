package classprotection

import (
	"context"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Index registers the cache indexes of the class's users.
func (c Class) Index(ctx context.Context, mgr ctrl.Manager) error {
	for _, use := range c.Uses {
		if err := mgr.GetFieldIndexer().IndexField(ctx, use.New(), use.Index, use.Classes); err != nil {
			return err
		}
	}
	return nil
}

// SetupWithManager registers the reconciler, named "<kind>-protection" in lower case. Besides
// the classes' own events, a user created, deleted or changed in spec requeues its classes.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).
		Named(strings.ToLower(r.Class.Kind) + "-protection").
		For(r.Class.New())
	for _, use := range r.Class.Uses {
		toClasses := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
			var requests []reconcile.Request
			for _, name := range use.Classes(obj) {
				requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKey{Name: name}})
			}
			return requests
		})
		b = b.Watches(use.New(), toClasses, builder.WithPredicates(predicate.GenerationChangedPredicate{}))
	}
	return b.Complete(r)
}
