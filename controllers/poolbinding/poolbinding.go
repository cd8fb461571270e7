// Package poolbinding watches over objects bound to a pool (Machines on MachinePools, Volumes on
// VolumePools) whose pool went away. A bound object keeps its binding — the VM or disk may still
// exist on the host — but an operator must see that nothing manages it any more: the object gets
// PoolAvailable=False and a Warning event. A pool re-created under the same name is another pool
// (another UID) and does not silently adopt the old pool's objects.
package poolbinding

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// ConditionPoolAvailable is the condition type on bound objects.
const ConditionPoolAvailable = "PoolAvailable"

// Reasons of the PoolAvailable condition.
const (
	// ReasonPoolDeleted: no pool of the bound name exists.
	ReasonPoolDeleted = "PoolDeleted"
	// ReasonPoolReplaced: a pool of the bound name exists but is another pool (another UID).
	ReasonPoolReplaced = "PoolReplaced"
)

// Kind adapts one bound kind to the controller. O is the object (*Machine), P its pool.
type Kind[O client.Object, P client.Object] struct {
	// Name names the controller ("machine-pool-binding").
	Name string
	// NewObject and NewPool return empty objects; NewList an empty list of O.
	NewObject func() O
	NewPool   func() P
	NewList   func() client.ObjectList
	// Items returns the objects of a list from NewList.
	Items func(client.ObjectList) []O
	// PoolRef returns the bound pool's name and UID, or ok=false when unbound.
	PoolRef func(O) (name string, uid types.UID, ok bool)
	// Conditions returns the object's status conditions for update.
	Conditions func(O) *[]metav1.Condition
	// PoolRefIndex is the cache index of objects by bound pool name (registered by the scheduler).
	PoolRefIndex string
}

// Reconciler marks the objects of one kind whose pool is gone.
type Reconciler[O client.Object, P client.Object] struct {
	Kind     *Kind[O, P]
	Client   client.Client
	Recorder events.EventRecorder
}

// Reconcile checks one object's pool.
func (r *Reconciler[O, P]) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	obj := r.Kind.NewObject()
	if err := r.Client.Get(ctx, request.NamespacedName, obj); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	name, uid, ok := r.Kind.PoolRef(obj)
	if !ok {
		return reconcile.Result{}, nil
	}
	pool := r.Kind.NewPool()
	err := r.Client.Get(ctx, client.ObjectKey{Name: name}, pool)
	if err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, err
	}
	var reason, message string
	switch {
	case apierrors.IsNotFound(err):
		reason, message = ReasonPoolDeleted, fmt.Sprintf("pool %s was deleted; nothing manages this object any more", name)
	case uid != "" && pool.GetUID() != uid:
		reason, message = ReasonPoolReplaced, fmt.Sprintf("pool %s was deleted and re-created; the new pool does not adopt objects bound to the old one", name)
	default:
		return reconcile.Result{}, nil
	}
	current := meta.FindStatusCondition(*r.Kind.Conditions(obj), ConditionPoolAvailable)
	if current != nil && current.Status == metav1.ConditionFalse && current.Reason == reason {
		return reconcile.Result{}, nil
	}
	r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, reason, "PoolCheck", message)
	return reconcile.Result{}, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		meta.SetStatusCondition(r.Kind.Conditions(obj), metav1.Condition{
			Type: ConditionPoolAvailable, Status: metav1.ConditionFalse, Reason: reason, Message: message,
			ObservedGeneration: obj.GetGeneration(),
		})
		err := r.Client.Status().Update(ctx, obj)
		if apierrors.IsConflict(err) {
			if getErr := r.Client.Get(ctx, request.NamespacedName, obj); getErr != nil {
				return client.IgnoreNotFound(getErr)
			}
		}
		return client.IgnoreNotFound(err)
	})
}

// SetupWithManager watches bound objects, and pools: a deleted or created pool requeues the
// objects bound to its name.
func (r *Reconciler[O, P]) SetupWithManager(mgr manager.Manager) error {
	bound := predicate.NewPredicateFuncs(func(obj client.Object) bool {
		_, _, ok := r.Kind.PoolRef(obj.(O))
		return ok
	})
	boundToPool := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, pool client.Object) []reconcile.Request {
		list := r.Kind.NewList()
		if err := r.Client.List(ctx, list, client.MatchingFields{r.Kind.PoolRefIndex: pool.GetName()}); err != nil {
			return nil
		}
		var requests []reconcile.Request
		for _, o := range r.Kind.Items(list) {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)})
		}
		return requests
	})
	poolAppearsOrGoes := predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return true },
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	return builder.ControllerManagedBy(mgr).
		Named(r.Kind.Name).
		For(r.Kind.NewObject(), builder.WithPredicates(bound)).
		Watches(r.Kind.NewPool(), boundToPool, builder.WithPredicates(poolAppearsOrGoes)).
		Complete(r)
}
