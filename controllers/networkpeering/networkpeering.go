// Package networkpeering decides which of a Network's peerings are in effect and records them in
// status.peerings. A peering is in effect only when both networks ask for it: the network it
// names exists, has a VNI, and has a peering naming this network back. One tenant alone can
// therefore never reach into another's network, and status.peerings says nothing about a
// network that did not agree (not even whether it exists). The hosts' network agents read
// status.peerings to let the two networks' addresses reach each other.
package networkpeering

import (
	"context"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
)

// TargetField indexes Networks by the networks their peerings name ("namespace/name").
const TargetField = "networkpeering.spec.peerings.networkRef"

// Controller writes status.peerings of Networks.
type Controller struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
}

// Target is the namespace and name of the network a peering of network names.
func Target(network *networkingv1alpha1.Network, p networkingv1alpha1.NetworkPeering) client.ObjectKey {
	namespace := p.NetworkRef.Namespace
	if namespace == "" {
		namespace = network.Namespace
	}
	return client.ObjectKey{Namespace: namespace, Name: p.NetworkRef.Name}
}

// Reconcile recomputes one network's status.peerings.
func (r *Controller) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	network := &networkingv1alpha1.Network{}
	if err := r.Client.Get(ctx, request.NamespacedName, network); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	var agreed []string
	if network.DeletionTimestamp == nil {
		for _, p := range network.Spec.Peerings {
			ok, err := r.agreed(ctx, network, p)
			if err != nil {
				return reconcile.Result{}, err
			}
			if ok {
				agreed = append(agreed, p.Name)
			}
		}
	}
	slices.Sort(agreed)
	if slices.Equal(agreed, network.Status.Peerings) {
		return reconcile.Result{}, nil
	}
	patch := client.MergeFrom(network.DeepCopy())
	network.Status.Peerings = agreed
	err := r.Client.Status().Patch(ctx, network, patch)
	return reconcile.Result{}, client.IgnoreNotFound(err)
}

// agreed says whether the network a peering names exists, has a VNI, is not being deleted and
// names this network back.
func (r *Controller) agreed(ctx context.Context, network *networkingv1alpha1.Network, p networkingv1alpha1.NetworkPeering) (bool, error) {
	target := &networkingv1alpha1.Network{}
	if err := r.Client.Get(ctx, Target(network, p), target); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	if target.Status.VNI == 0 || target.DeletionTimestamp != nil || target.UID == network.UID {
		return false, nil
	}
	back := client.ObjectKeyFromObject(network)
	return slices.ContainsFunc(target.Spec.Peerings, func(q networkingv1alpha1.NetworkPeering) bool {
		return Target(target, q) == back
	}), nil
}

// Index registers TargetField on Networks.
func Index(ctx context.Context, mgr ctrl.Manager) error {
	return mgr.GetFieldIndexer().IndexField(ctx, &networkingv1alpha1.Network{}, TargetField, func(obj client.Object) []string {
		network := obj.(*networkingv1alpha1.Network)
		keys := make([]string, 0, len(network.Spec.Peerings))
		for _, p := range network.Spec.Peerings {
			keys = append(keys, Target(network, p).String())
		}
		return keys
	})
}

// SetupWithManager registers the controller (named network-peering). A change of any network
// also requeues the networks whose peerings name it: its consent, VNI or existence may have
// changed theirs.
func (r *Controller) SetupWithManager(mgr ctrl.Manager) error {
	naming := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		list := &networkingv1alpha1.NetworkList{}
		if err := r.Client.List(ctx, list, client.MatchingFields{TargetField: client.ObjectKeyFromObject(obj).String()}); err != nil {
			return nil
		}
		requests := make([]reconcile.Request, 0, len(list.Items))
		for _, n := range list.Items {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&n)})
		}
		return requests
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("network-peering").
		For(&networkingv1alpha1.Network{}).
		Watches(&networkingv1alpha1.Network{}, naming).
		Complete(r)
}
