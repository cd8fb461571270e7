package poolstatus

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// Controller is a poollet's pool controller: it reconciles the one pool the poollet serves when
// that pool or any class of its kind changes, and when the poollet asks (Requeue, for example
// when the runtime's objects come or go), never on a timer.
type Controller struct {
	// Name is the controller's name, such as "machinepoollet-pool".
	Name string
	// Pool is the name of the pool.
	Pool string
	// PoolType and ClassType are empty objects of the pool's kind and of its classes' kind.
	PoolType, ClassType client.Object
	// Reconcile reconciles the pool.
	Reconcile reconcile.Func

	requeue chan event.GenericEvent
}

// Setup adds the controller to mgr.
func (c *Controller) Setup(mgr ctrl.Manager) error {
	c.requeue = make(chan event.GenericEvent, 16)
	toPool := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: c.Pool}}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named(c.Name).
		For(c.PoolType, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.GetName() == c.Pool
		}))).
		Watches(c.ClassType, toPool).
		WatchesRawSource(source.Channel(c.requeue, toPool)).
		Complete(c.Reconcile)
}

// Requeue asks the controller to reconcile the pool again; it never blocks (a pending request
// is enough). Before Setup it does nothing.
func (c *Controller) Requeue() {
	if c == nil || c.requeue == nil {
		return
	}
	pool := c.PoolType.DeepCopyObject().(client.Object)
	pool.SetName(c.Pool)
	select {
	case c.requeue <- event.GenericEvent{Object: pool}:
	default: // one is already pending
	}
}
