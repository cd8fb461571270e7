// Package classprotection keeps MachineClasses and VolumeClasses that are in use from being
// deleted. Each class carries a finalizer (the apiserver adds it at create; this controller adds
// it to classes that lack it). When a class is being deleted, the controller removes the
// finalizer once nothing uses it, and until then records an event on the class saying how many
// objects use it and which, so that `kubectl describe` shows why the deletion waits.
//
// One reconciler serves both kinds through a Class adapter that says which objects use a class
// and how to find them.
package classprotection

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// ReasonInUse is the reason of the event on a class whose deletion waits for its users.
const ReasonInUse = "ClassInUse"

// namesInEvent bounds how many users an event names.
const namesInEvent = 5

// Class adapts one class kind to the reconciler.
type Class struct {
	// Kind is the class kind ("MachineClass"), in events and the controller's name.
	Kind string
	// Finalizer is the class-protection finalizer of the kind.
	Finalizer string
	// New returns an empty class.
	New func() client.Object
	// Uses are the ways objects reference a class of the kind.
	Uses []Use
}

// Use is one way objects of a kind reference a class.
type Use struct {
	// Kind of the using objects ("Machine").
	Kind string
	// Index is the name of the cache index of the using objects by class name.
	Index string
	// ServerField, if set, is a field selector label the apiserver supports for the reference,
	// so that the live check before a finalizer is removed lists only the users.
	ServerField string
	// New and NewList return an empty using object and list.
	New     func() client.Object
	NewList func() client.ObjectList
	// Classes returns the names of the classes obj uses this way.
	Classes func(obj client.Object) []string
}

// Reconciler adds and removes one class kind's protection finalizer.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader confirms with the API server that nothing uses a class before its finalizer
	// is removed: the cache may not show an object created a moment ago.
	APIReader client.Reader
	// Recorder receives ClassInUse events.
	Recorder events.EventRecorder
	// Class is the kind protected.
	Class Class
	// RecheckInterval re-examines a class whose deletion waits, besides the events of its users.
	RecheckInterval time.Duration
}

// Reconcile protects one class, or releases it when it is being deleted and unused.
func (r *Reconciler) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	class := r.Class.New()
	if err := r.Client.Get(ctx, request.NamespacedName, class); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	finalizer := r.Class.Finalizer
	if class.GetDeletionTimestamp() == nil {
		if controllerutil.ContainsFinalizer(class, finalizer) {
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, r.patchFinalizers(ctx, class, func(o client.Object) { controllerutil.AddFinalizer(o, finalizer) })
	}
	if !controllerutil.ContainsFinalizer(class, finalizer) {
		return reconcile.Result{}, nil
	}
	users, err := r.users(ctx, r.Client, class.GetName(), true)
	if err == nil && len(users) == 0 {
		users, err = r.users(ctx, r.APIReader, class.GetName(), false)
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if len(users) > 0 {
		r.Recorder.Eventf(class, nil, corev1.EventTypeWarning, ReasonInUse, "Delete",
			"deletion waits: %s in use by %d %s", r.Class.Kind, len(users), describe(users))
		return reconcile.Result{RequeueAfter: r.RecheckInterval}, nil
	}
	return reconcile.Result{}, r.patchFinalizers(ctx, class, func(o client.Object) { controllerutil.RemoveFinalizer(o, finalizer) })
}

// patchFinalizers changes the class's finalizers with a resourceVersion precondition, so a
// finalizer another party added meanwhile is never dropped; a conflict is retried.
func (r *Reconciler) patchFinalizers(ctx context.Context, class client.Object, change func(client.Object)) error {
	patch := client.MergeFromWithOptions(class.DeepCopyObject().(client.Object), client.MergeFromWithOptimisticLock{})
	change(class)
	return client.IgnoreNotFound(r.Client.Patch(ctx, class, patch))
}

// users returns "Kind namespace/name" of every object that uses the class, from the cache
// (through the indexes) or live.
func (r *Reconciler) users(ctx context.Context, reader client.Reader, class string, cached bool) ([]string, error) {
	var users []string
	for _, use := range r.Class.Uses {
		list := use.NewList()
		var opts []client.ListOption
		switch {
		case cached:
			opts = append(opts, client.MatchingFields{use.Index: class})
		case use.ServerField != "":
			opts = append(opts, client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector(use.ServerField, class)})
		}
		if err := reader.List(ctx, list, opts...); err != nil {
			return nil, fmt.Errorf("listing %s objects that use %s %s: %w", use.Kind, r.Class.Kind, class, err)
		}
		err := meta.EachListItem(list, func(o runtime.Object) error {
			obj := o.(client.Object)
			for _, name := range use.Classes(obj) {
				if name == class {
					users = append(users, use.Kind+" "+obj.GetNamespace()+"/"+obj.GetName())
					break
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(users)
	return users, nil
}

// describe names a few users: "objects: Machine a/web, Volume a/data and 3 more".
func describe(users []string) string {
	noun := "object"
	if len(users) > 1 {
		noun = "objects"
	}
	if len(users) <= namesInEvent {
		return noun + ": " + strings.Join(users, ", ")
	}
	return fmt.Sprintf("%s: %s and %d more", noun, strings.Join(users[:namesInEvent], ", "), len(users)-namesInEvent)
}
