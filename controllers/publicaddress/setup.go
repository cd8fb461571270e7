package publicaddress

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
)

// Cache indexes (namespaced: list with InNamespace).
const (
	// TargetField indexes VirtualIPs by spec.targetRef.name.
	TargetField = "publicaddress.spec.targetRef.name"
	// VirtualIPRefField indexes NetworkInterfaces by spec.virtualIPRef.name.
	VirtualIPRefField = "publicaddress.spec.virtualIPRef.name"
	// GatewayNetworkField indexes NATGateways by spec.networkRef.name.
	GatewayNetworkField = "publicaddress.spec.networkRef.name"
)

// Index registers the indexes the three controllers use.
func Index(ctx context.Context, mgr ctrl.Manager) error {
	indexer := mgr.GetFieldIndexer()
	if err := indexer.IndexField(ctx, &networkingv1alpha1.VirtualIP{}, TargetField, func(obj client.Object) []string {
		if t := obj.(*networkingv1alpha1.VirtualIP).Spec.TargetRef; t != nil {
			return []string{t.Name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index %s: %w", TargetField, err)
	}
	if err := indexer.IndexField(ctx, &networkingv1alpha1.NetworkInterface{}, VirtualIPRefField, func(obj client.Object) []string {
		if ref := obj.(*networkingv1alpha1.NetworkInterface).Spec.VirtualIPRef; ref != nil {
			return []string{ref.Name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index %s: %w", VirtualIPRefField, err)
	}
	if err := indexer.IndexField(ctx, &networkingv1alpha1.NATGateway{}, GatewayNetworkField, func(obj client.Object) []string {
		return []string{obj.(*networkingv1alpha1.NATGateway).Spec.NetworkRef.Name}
	}); err != nil {
		return fmt.Errorf("index %s: %w", GatewayNetworkField, err)
	}
	return nil
}

// SetupWithManager registers the controller (named virtualip-binding). A VirtualIP's events
// requeue the interface it targets and the interfaces whose virtualIPRef names it (the update
// handler maps the old and the new object, so a moved targetRef requeues both interfaces); a
// deleted interface requeues the interfaces waiting for the VirtualIPs it held.
func (r *Binding) SetupWithManager(mgr ctrl.Manager) error {
	fromVIP := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		vip := obj.(*networkingv1alpha1.VirtualIP)
		var requests []reconcile.Request
		if t := vip.Spec.TargetRef; t != nil {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: vip.Namespace, Name: t.Name}})
		}
		return append(requests, r.referring(ctx, vip.Namespace, vip.Name)...)
	})
	fromDeletedNIC := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		list := &networkingv1alpha1.VirtualIPList{}
		if err := r.Client.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{TargetField: obj.GetName()}); err != nil {
			return nil
		}
		var requests []reconcile.Request
		for _, vip := range list.Items {
			requests = append(requests, r.referring(ctx, vip.Namespace, vip.Name)...)
		}
		return requests
	})
	deletes := predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("virtualip-binding").
		For(&networkingv1alpha1.NetworkInterface{}).
		Watches(&networkingv1alpha1.VirtualIP{}, fromVIP).
		Watches(&networkingv1alpha1.NetworkInterface{}, fromDeletedNIC, builder.WithPredicates(deletes)).
		Complete(r)
}

// referring lists the interfaces whose virtualIPRef names the VirtualIP name.
func (r *Binding) referring(ctx context.Context, namespace, name string) []reconcile.Request {
	list := &networkingv1alpha1.NetworkInterfaceList{}
	if err := r.Client.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{VirtualIPRefField: name}); err != nil {
		return nil
	}
	requests := make([]reconcile.Request, 0, len(list.Items))
	for _, nic := range list.Items {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&nic)})
	}
	return requests
}

// SetupWithManager registers the controller (named natgateway). Its VirtualIP's events requeue
// a gateway; a gateway's events requeue the other gateways of its network (the oldest serves);
// an interface's events requeue the gateways of its network and the gateway its status.nat
// names.
func (r *NATGateways) SetupWithManager(mgr ctrl.Manager) error {
	ofNetwork := func(ctx context.Context, namespace, network string) []reconcile.Request {
		list := &networkingv1alpha1.NATGatewayList{}
		if err := r.Client.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{GatewayNetworkField: network}); err != nil {
			return nil
		}
		requests := make([]reconcile.Request, 0, len(list.Items))
		for _, g := range list.Items {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&g)})
		}
		return requests
	}
	fromGateway := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		return ofNetwork(ctx, obj.GetNamespace(), obj.(*networkingv1alpha1.NATGateway).Spec.NetworkRef.Name)
	})
	fromNIC := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		nic := obj.(*networkingv1alpha1.NetworkInterface)
		requests := ofNetwork(ctx, nic.Namespace, nic.Spec.NetworkRef.Name)
		if nat := nic.Status.NAT; nat != nil {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: nic.Namespace, Name: nat.NATGatewayRef.Name}})
		}
		return requests
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("natgateway").
		For(&networkingv1alpha1.NATGateway{}).
		Owns(&networkingv1alpha1.VirtualIP{}).
		Watches(&networkingv1alpha1.NATGateway{}, fromGateway).
		Watches(&networkingv1alpha1.NetworkInterface{}, fromNIC).
		Complete(r)
}

// SetupWithManager registers the controller (named loadbalancer). Its VirtualIPs' events
// requeue a load balancer.
func (r *LoadBalancers) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("loadbalancer").
		For(&networkingv1alpha1.LoadBalancer{}).
		Owns(&networkingv1alpha1.VirtualIP{}).
		Complete(r)
}

// SetupWithManager registers the controller (named virtualip-quarantine).
func (r *Quarantine) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("virtualip-quarantine").
		For(&networkingv1alpha1.VirtualIP{}).
		Complete(r)
}
