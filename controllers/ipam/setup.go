package ipam

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ipamv1alpha1 "github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
)

// SetupWithManager registers the prefix controller (named prefix-ipam). A prefix's events
// requeue its parent (a child gone frees a range) and its children (a parent allocated or with
// room again serves them); interface and virtual IP events requeue the prefixes that may hold
// their addresses, so released addresses return promptly.
func (r *Prefixes) SetupWithManager(mgr ctrl.Manager) error {
	related := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		prefix := obj.(*ipamv1alpha1.Prefix)
		var requests []reconcile.Request
		if prefix.Spec.ParentRef != nil {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: prefix.Namespace, Name: prefix.Spec.ParentRef.Name}})
		}
		if r.Pools.Candidate(prefix) {
			// A public pool created or deleted can change which of the others overlap an older one.
			requests = append(requests, r.labelled(ctx)...)
		}
		list := &ipamv1alpha1.PrefixList{}
		if err := r.Client.List(ctx, list, client.InNamespace(prefix.Namespace)); err == nil {
			for _, p := range list.Items {
				if p.Spec.ParentRef != nil && p.Spec.ParentRef.Name == prefix.Name && p.Status.Phase != ipamv1alpha1.PrefixPhaseAllocated {
					requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&p)})
				}
			}
		}
		return requests
	})
	ledgersOfNamespace := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		return r.ledgers(ctx, client.InNamespace(obj.GetNamespace()))
	})
	virtualIPLedgers := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		return r.ledgers(ctx, client.InNamespace(r.Pools.Namespace), client.MatchingLabels{LabelVirtualIPs: "true"})
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("prefix-ipam").
		For(&ipamv1alpha1.Prefix{}).
		Watches(&ipamv1alpha1.Prefix{}, related).
		Watches(&networkingv1alpha1.NetworkInterface{}, ledgersOfNamespace).
		Watches(&networkingv1alpha1.VirtualIP{}, virtualIPLedgers).
		Complete(r)
}

// ledgers lists the prefixes with a non-empty ledger.
func (r *Prefixes) ledgers(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	list := &ipamv1alpha1.PrefixList{}
	if err := r.Client.List(ctx, list, opts...); err != nil {
		return nil
	}
	var requests []reconcile.Request
	for _, p := range list.Items {
		if len(p.Status.Used) > 0 {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&p)})
		}
	}
	return requests
}

// labelled lists the labelled prefixes of the operator's namespace.
func (r *Prefixes) labelled(ctx context.Context) []reconcile.Request {
	list := &ipamv1alpha1.PrefixList{}
	if err := r.Client.List(ctx, list, client.InNamespace(r.Pools.Namespace), client.MatchingLabels{LabelVirtualIPs: "true"}); err != nil {
		return nil
	}
	requests := make([]reconcile.Request, 0, len(list.Items))
	for _, p := range list.Items {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&p)})
	}
	return requests
}

// SetupWithManager registers the interface address controller (named networkinterface-ipam).
// Prefix events requeue the interfaces whose fixed address the prefix should hold in its ledger
// but does not (see unreservedFixed).
func (r *NetworkInterfaces) SetupWithManager(mgr ctrl.Manager, workers int) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("networkinterface-ipam").
		For(&networkingv1alpha1.NetworkInterface{}).
		Watches(&ipamv1alpha1.Prefix{}, handler.EnqueueRequestsFromMapFunc(r.unreservedFixed)).
		WithOptions(controllerOptions(workers)).
		Complete(r)
}

// SetupWithManager registers the virtual IP address controller (named virtualip-ipam).
func (r *VirtualIPs) SetupWithManager(mgr ctrl.Manager, workers int) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("virtualip-ipam").
		For(&networkingv1alpha1.VirtualIP{}).
		WithOptions(controllerOptions(workers)).
		Complete(r)
}

func controllerOptions(workers int) controller.Options {
	return controller.Options{MaxConcurrentReconciles: workers}
}
