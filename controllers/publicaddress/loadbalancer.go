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

// LoadBalancers gives each public LoadBalancer one owned VirtualIP per family and copies their
// addresses into status.ips. Internal load balancers get a Warning event and no address.
type LoadBalancers struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads from the API server: the VirtualIPs to delete with the load balancer.
	APIReader client.Reader
	// Recorder receives Warning events.
	Recorder events.EventRecorder
}

// LoadBalancerVirtualIPName is the name of the VirtualIP of family a LoadBalancer owns.
func LoadBalancerVirtualIPName(lb string, family corev1.IPFamily) string {
	if family == corev1.IPv6Protocol {
		return lb + "-lb-ipv6"
	}
	return lb + "-lb-ipv4"
}

func (r *LoadBalancers) owned() owned {
	return owned{client: r.Client, apiReader: r.APIReader, recorder: r.Recorder, kind: kindLoadBalancer}
}

// families are lb's address families, IPv4 when none is given.
func families(lb *networkingv1alpha1.LoadBalancer) []corev1.IPFamily {
	if len(lb.Spec.IPFamilies) == 0 {
		return []corev1.IPFamily{corev1.IPv4Protocol}
	}
	return lb.Spec.IPFamilies
}

// Reconcile keeps one load balancer's finalizer, VirtualIPs and status.ips.
func (r *LoadBalancers) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	lb := &networkingv1alpha1.LoadBalancer{}
	if err := r.Client.Get(ctx, request.NamespacedName, lb); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if lb.DeletionTimestamp != nil {
		return r.finalize(ctx, lb)
	}
	if !controllerutil.ContainsFinalizer(lb, LoadBalancerFinalizer) {
		retry, err := patchFinalizer(ctx, r.Client, lb, LoadBalancerFinalizer, true)
		if retry || err != nil {
			return reconcile.Result{RequeueAfter: retryDelay}, err
		}
	}
	var ips []string
	if lb.Spec.Type == networkingv1alpha1.LoadBalancerTypeInternal {
		r.Recorder.Eventf(lb, nil, corev1.EventTypeWarning, ReasonInternalUnsupported, "AllocateAddress",
			"Internal load balancers are not supported yet; LoadBalancer %s gets no address", lb.Name)
	} else {
		for _, family := range families(lb) {
			vip, err := r.owned().ensure(ctx, lb, LoadBalancerVirtualIPName(lb.Name, family), family)
			if err != nil {
				return reconcile.Result{}, err
			}
			if vip != nil && usable(vip, lb.Status.IPs...) {
				ips = append(ips, vip.Status.IP)
			}
		}
	}
	if slices.Equal(lb.Status.IPs, ips) && lb.Status.ObservedGeneration == lb.Generation {
		return reconcile.Result{}, nil
	}
	patch := client.MergeFrom(lb.DeepCopy())
	lb.Status.IPs, lb.Status.ObservedGeneration = ips, lb.Generation
	return reconcile.Result{}, client.IgnoreNotFound(r.Client.Status().Patch(ctx, lb, patch))
}

// finalize deletes the load balancer's VirtualIPs, then lets it go.
func (r *LoadBalancers) finalize(ctx context.Context, lb *networkingv1alpha1.LoadBalancer) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(lb, LoadBalancerFinalizer) {
		return reconcile.Result{}, nil
	}
	// Both families' names: the VirtualIPs are found by name and owner, whatever the spec says.
	gone, err := r.owned().release(ctx, lb, LoadBalancerVirtualIPName(lb.Name, corev1.IPv4Protocol), LoadBalancerVirtualIPName(lb.Name, corev1.IPv6Protocol))
	if err != nil || !gone {
		return reconcile.Result{RequeueAfter: retryDelay}, err
	}
	retry, err := patchFinalizer(ctx, r.Client, lb, LoadBalancerFinalizer, false)
	if retry {
		return reconcile.Result{RequeueAfter: retryDelay}, nil
	}
	return reconcile.Result{}, err
}
