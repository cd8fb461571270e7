// Package networkprotection keeps a Network while NetworkInterfaces use it. The apiserver puts
// the protection finalizer on every new Network; this controller puts it on Networks made
// before that, and removes it from a Network being deleted once no NetworkInterface in its
// namespace names it in spec.networkRef. While it waits, it records an Event on the Network
// naming the interfaces that hold it.
package networkprotection

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ferrite-dev/ferrite/apis/networking"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
)

// Finalizer is the network protection finalizer, which the apiserver adds at create.
const Finalizer = networking.NetworkProtectionFinalizer

// ReasonInUse is the reason of the Event recorded while a deleted Network waits for its
// interfaces.
const ReasonInUse = "NetworkInUse"

// NetworkRefField indexes NetworkInterfaces by spec.networkRef.name in the manager's cache.
const NetworkRefField = "networkprotection.spec.networkRef.name"

// retryDelay is how soon a network is looked at again when the cache and the API disagree
// about its interfaces, or a write lost a resourceVersion race.
const retryDelay = time.Second

// Controller reconciles the protection finalizer of Networks.
type Controller struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads from the API server: the last check before a network is let go.
	APIReader client.Reader
	// Recorder records the Events that say which interfaces hold a network.
	Recorder events.EventRecorder
}

// Reconcile adds or removes the finalizer of one network.
func (r *Controller) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	network := &networkingv1alpha1.Network{}
	if err := r.Client.Get(ctx, request.NamespacedName, network); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if network.DeletionTimestamp == nil {
		if controllerutil.ContainsFinalizer(network, Finalizer) {
			return reconcile.Result{}, nil
		}
		return r.patchFinalizer(ctx, network, controllerutil.AddFinalizer)
	}
	if !controllerutil.ContainsFinalizer(network, Finalizer) {
		return reconcile.Result{}, nil
	}
	cached := &networkingv1alpha1.NetworkInterfaceList{}
	if err := r.Client.List(ctx, cached, client.InNamespace(network.Namespace), client.MatchingFields{NetworkRefField: network.Name}); err != nil {
		return reconcile.Result{}, err
	}
	if len(cached.Items) > 0 {
		r.recordInUse(network, cached.Items)
		// A deleted interface requeues the network through the watch.
		return reconcile.Result{}, nil
	}
	// The cache may lag behind an interface created a moment ago: ask the API server itself
	// before the network goes.
	live := &networkingv1alpha1.NetworkInterfaceList{}
	if err := r.APIReader.List(ctx, live, client.InNamespace(network.Namespace), client.MatchingFields{"spec.networkRef.name": network.Name}); err != nil {
		return reconcile.Result{}, err
	}
	if len(live.Items) > 0 {
		r.recordInUse(network, live.Items)
		return reconcile.Result{RequeueAfter: retryDelay}, nil
	}
	return r.patchFinalizer(ctx, network, controllerutil.RemoveFinalizer)
}

// patchFinalizer adds or removes the finalizer with a patch that holds only if the network is
// unchanged, so no other finalizer is lost.
func (r *Controller) patchFinalizer(ctx context.Context, network *networkingv1alpha1.Network, change func(client.Object, string) bool) (reconcile.Result, error) {
	patch := client.MergeFromWithOptions(network.DeepCopy(), client.MergeFromWithOptimisticLock{})
	change(network, Finalizer)
	err := r.Client.Patch(ctx, network, patch)
	if apierrors.IsConflict(err) {
		return reconcile.Result{RequeueAfter: retryDelay}, nil
	}
	return reconcile.Result{}, client.IgnoreNotFound(err)
}

// recordInUse records which interfaces (the first ten, by name) keep network.
func (r *Controller) recordInUse(network *networkingv1alpha1.Network, nics []networkingv1alpha1.NetworkInterface) {
	names := make([]string, 0, len(nics))
	for _, nic := range nics {
		names = append(names, nic.Name)
	}
	slices.Sort(names)
	list := strings.Join(names, ", ")
	if len(names) > 10 {
		list = fmt.Sprintf("%s and %d more", strings.Join(names[:10], ", "), len(names)-10)
	}
	r.Recorder.Eventf(network, nil, corev1.EventTypeNormal, ReasonInUse, "WaitForNetworkInterfaces",
		"deletion waits until no NetworkInterface uses the network: %d left (%s)", len(names), list)
}

// IndexNetworkRef registers NetworkRefField on NetworkInterfaces.
func IndexNetworkRef(ctx context.Context, mgr ctrl.Manager) error {
	return mgr.GetFieldIndexer().IndexField(ctx, &networkingv1alpha1.NetworkInterface{}, NetworkRefField, func(obj client.Object) []string {
		return []string{obj.(*networkingv1alpha1.NetworkInterface).Spec.NetworkRef.Name}
	})
}

// SetupWithManager registers the controller (named network-protection). Besides its
// networks' own events, a created or deleted interface requeues its network; networkRef is
// immutable, so interface updates do not matter.
func (r *Controller) SetupWithManager(mgr ctrl.Manager) error {
	toNetwork := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		nic := obj.(*networkingv1alpha1.NetworkInterface)
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: nic.Namespace, Name: nic.Spec.NetworkRef.Name}}}
	})
	createsAndDeletes := predicate.Funcs{
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("network-protection").
		For(&networkingv1alpha1.Network{}).
		Watches(&networkingv1alpha1.NetworkInterface{}, toNetwork, builder.WithPredicates(createsAndDeletes)).
		Complete(r)
}
