package publicaddress

import (
	"context"
	"slices"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
)

// AddressQuarantineFinalizer holds a deleted VirtualIP that had an address until its quarantine
// has passed, so IPAM keeps counting the address as used (controllers/ipam Claims counts every
// VirtualIP, terminating ones too).
const AddressQuarantineFinalizer = "networking.ferrite.dev/address-quarantine"

// Guarded reports whether vip carries the quarantine finalizer. Its address is used (bound to an
// interface, handed to a gateway or load balancer) only then, so a VirtualIP deleted a moment
// after it got its address is still quarantined.
func Guarded(vip *networkingv1alpha1.VirtualIP) bool {
	return controllerutil.ContainsFinalizer(vip, AddressQuarantineFinalizer)
}

// usable reports whether vip's address may be used: it has one, and it carries the quarantine
// finalizer or is among inUse (a VirtualIP from before the quarantine, which gets the finalizer
// a moment later: its address is not taken away meanwhile).
func usable(vip *networkingv1alpha1.VirtualIP, inUse ...string) bool {
	return vip.Status.IP != "" && (Guarded(vip) || slices.Contains(inUse, vip.Status.IP))
}

// Quarantine keeps the address of a deleted VirtualIP out of the pool for a while. A host that
// announced the address and is down (or whose agent is dead) keeps its route in its peers
// (BGP graceful restart keeps stale routes up to 120 s) and its own DNAT to the old tenant's
// interface; were the address handed to another tenant at once, part of that tenant's traffic
// would reach the old one. Every VirtualIP gets AddressQuarantineFinalizer; a deleted one keeps
// it until Duration has passed since its deletionTimestamp (computed from the object, so a
// manager restart does not shorten or lengthen it). A VirtualIP that never got an address goes
// at once. Its binding is dropped at once: Binding ignores VirtualIPs being deleted.
type Quarantine struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Duration is how long a deleted VirtualIP's address stays claimed; zero lets it go at
	// once (the finalizer is still added, so turning the quarantine on later covers every
	// VirtualIP).
	Duration time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (r *Quarantine) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Reconcile adds the finalizer to a live VirtualIP and removes it from a deleted one whose
// quarantine has passed, requeueing for the time left.
func (r *Quarantine) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	vip := &networkingv1alpha1.VirtualIP{}
	if err := r.Client.Get(ctx, request.NamespacedName, vip); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if vip.DeletionTimestamp == nil {
		if Guarded(vip) {
			return reconcile.Result{}, nil
		}
		retry, err := patchFinalizer(ctx, r.Client, vip, AddressQuarantineFinalizer, true)
		if retry {
			return reconcile.Result{RequeueAfter: retryDelay}, nil
		}
		return reconcile.Result{}, err
	}
	if !Guarded(vip) {
		return reconcile.Result{}, nil
	}
	// The deletionTimestamp has whole seconds: the quarantine may end up to a second early,
	// well within the default's margin over the routes' 120 s.
	if left := vip.DeletionTimestamp.Add(r.Duration).Sub(r.now()); vip.Status.IP != "" && left > 0 {
		return reconcile.Result{RequeueAfter: left}, nil
	}
	// The patch holds only if the VirtualIP is unchanged: a cache lagging behind an address
	// written before the deletion makes it conflict, and the VirtualIP is looked at again.
	retry, err := patchFinalizer(ctx, r.Client, vip, AddressQuarantineFinalizer, false)
	if retry {
		return reconcile.Result{RequeueAfter: retryDelay}, nil
	}
	return reconcile.Result{}, err
}
