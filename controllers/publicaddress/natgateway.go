package publicaddress

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
)

// NATGateways gives each NATGateway its public address (an owned VirtualIP "<gateway>-nat")
// and hands the interfaces of its network port ranges of that address.
type NATGateways struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads from the API server: the interfaces whose ranges are handed out, so a
	// range written a moment ago is never handed out twice.
	APIReader client.Reader
	// Recorder receives Warning events (ports exhausted, a second gateway, a taken name).
	Recorder events.EventRecorder
}

// NATVirtualIPName is the name of the VirtualIP a NATGateway owns.
func NATVirtualIPName(gateway string) string { return gateway + "-nat" }

func (r *NATGateways) owned() owned {
	return owned{client: r.Client, apiReader: r.APIReader, recorder: r.Recorder, kind: kindNATGateway}
}

// Reconcile keeps one gateway's finalizer, VirtualIP, assignments and status.
func (r *NATGateways) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	gateway := &networkingv1alpha1.NATGateway{}
	if err := r.Client.Get(ctx, request.NamespacedName, gateway); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if gateway.DeletionTimestamp != nil {
		return r.finalize(ctx, gateway)
	}
	if !controllerutil.ContainsFinalizer(gateway, NATGatewayFinalizer) {
		retry, err := patchFinalizer(ctx, r.Client, gateway, NATGatewayFinalizer, true)
		if retry || err != nil {
			return reconcile.Result{RequeueAfter: retryDelay}, err
		}
	}
	vip, err := r.owned().ensure(ctx, gateway, NATVirtualIPName(gateway.Name), gateway.Spec.IPFamily)
	if err != nil {
		return reconcile.Result{}, err
	}
	ip := ""
	if vip != nil && usable(vip, gateway.Status.IPs...) {
		ip = vip.Status.IP
	}
	serving, err := r.serving(ctx, gateway)
	if err != nil {
		return reconcile.Result{}, err
	}
	var held int
	var retry bool
	if serving && ip != "" {
		held, retry, err = r.assign(ctx, gateway, ip)
	} else {
		retry, err = r.unassign(ctx, gateway)
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if err := r.writeStatus(ctx, gateway, ip, held); err != nil {
		return reconcile.Result{}, err
	}
	if retry {
		return reconcile.Result{RequeueAfter: retryDelay}, nil
	}
	return reconcile.Result{}, nil
}

// finalize clears every assignment of the gateway, deletes its VirtualIP, then lets it go.
func (r *NATGateways) finalize(ctx context.Context, gateway *networkingv1alpha1.NATGateway) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(gateway, NATGatewayFinalizer) {
		return reconcile.Result{}, nil
	}
	retry, err := r.unassign(ctx, gateway)
	if err != nil || retry {
		return reconcile.Result{RequeueAfter: retryDelay}, err
	}
	gone, err := r.owned().release(ctx, gateway, NATVirtualIPName(gateway.Name))
	if err != nil || !gone {
		return reconcile.Result{RequeueAfter: retryDelay}, err
	}
	retry, err = patchFinalizer(ctx, r.Client, gateway, NATGatewayFinalizer, false)
	if retry {
		return reconcile.Result{RequeueAfter: retryDelay}, nil
	}
	return reconcile.Result{}, err
}

// serving reports whether gateway serves its network: the oldest gateway of the network in the
// namespace that is not being deleted. The others get a Warning event.
func (r *NATGateways) serving(ctx context.Context, gateway *networkingv1alpha1.NATGateway) (bool, error) {
	list := &networkingv1alpha1.NATGatewayList{}
	if err := r.Client.List(ctx, list, client.InNamespace(gateway.Namespace), client.MatchingFields{GatewayNetworkField: gateway.Spec.NetworkRef.Name}); err != nil {
		return false, err
	}
	for i := range list.Items {
		other := &list.Items[i]
		if other.UID != gateway.UID && other.DeletionTimestamp == nil && older(other, gateway) {
			r.Recorder.Eventf(gateway, nil, corev1.EventTypeWarning, ReasonNATGatewayNotServing, "AssignPorts",
				"NATGateway %s, which is older, serves network %s; this one hands out no ports", other.Name, gateway.Spec.NetworkRef.Name)
			return false, nil
		}
	}
	return true, nil
}

// writeStatus records the address, the ports handed out and the generation seen.
func (r *NATGateways) writeStatus(ctx context.Context, gateway *networkingv1alpha1.NATGateway, ip string, held int) error {
	var ips []string
	if ip != "" {
		ips = []string{ip}
	}
	used := int32(held) * gateway.Spec.PortsPerNetworkInterface
	if slices.Equal(gateway.Status.IPs, ips) && gateway.Status.PortsUsed == used && gateway.Status.ObservedGeneration == gateway.Generation {
		return nil
	}
	patch := client.MergeFrom(gateway.DeepCopy())
	gateway.Status.IPs, gateway.Status.PortsUsed, gateway.Status.ObservedGeneration = ips, used, gateway.Generation
	return client.IgnoreNotFound(r.Client.Status().Patch(ctx, gateway, patch))
}
