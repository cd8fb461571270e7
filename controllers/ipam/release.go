package ipam

import (
	"context"
	"net/netip"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ipamv1alpha1 "github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
)

// Releaser returns ranges to a prefix when no child Prefix, NetworkInterface or VirtualIP
// claims them any more.
//
// A range is dropped only when it was unclaimed in two live reads of the parent at least Grace
// apart between which the parent did not change (same resourceVersion), and the write is
// preconditioned on that resourceVersion. An owner is written within the Ledger's RecordWithin
// of its reservation (well below Grace), so an unchanged parent means every reservation in it is
// older than Grace and its owner write has landed or been abandoned: nothing in flight is freed.
// (Comparing CIDR strings alone would not do: a range released and at once taken again by
// another allocator is the same string.) Under a steady stream of allocations the parent keeps
// changing and releases wait for a quiet moment.
type Releaser struct {
	// Client reads claims from the manager's cache.
	Client client.Client
	// APIReader reads the parent and the claims live before anything is released.
	APIReader client.Reader
	// Ledger writes the release and knows this process's in-flight allocations.
	Ledger *Ledger
	// Grace is how long a range must stay unclaimed in an unchanged parent.
	Grace time.Duration
	// Pools says which prefixes hold VirtualIP addresses.
	Pools PublicPools
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu         sync.Mutex
	candidates map[types.NamespacedName]candidate
}

// candidate is what a release pass saw unclaimed in one version of a parent.
type candidate struct {
	resourceVersion string
	since           time.Time
	cidrs           map[string]bool
}

func (r *Releaser) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Release drops the prefix's unclaimed ranges that are due, and returns when to look again (zero
// when nothing is pending).
func (r *Releaser) Release(ctx context.Context, cached *ipamv1alpha1.Prefix) (time.Duration, error) {
	key := types.NamespacedName{Namespace: cached.Namespace, Name: cached.Name}
	if len(cached.Status.Used) == 0 || !r.anyUnclaimed(ctx, r.Client, key, cached) {
		r.forget(key)
		return 0, nil
	}
	parent := &ipamv1alpha1.Prefix{}
	if err := r.APIReader.Get(ctx, key, parent); err != nil {
		return 0, client.IgnoreNotFound(err)
	}
	claims, err := Claims(ctx, r.APIReader, parent, r.Pools)
	if err != nil {
		return 0, err
	}
	unclaimed := map[string]bool{}
	for _, cidr := range parent.Status.Used {
		if !claims[cidr] && !r.Ledger.InFlight(key, cidr) {
			unclaimed[cidr] = true
		}
	}
	if len(unclaimed) == 0 {
		r.forget(key)
		return 0, nil
	}
	now := r.now()
	r.mu.Lock()
	if r.candidates == nil {
		r.candidates = map[types.NamespacedName]candidate{}
	}
	seen, ok := r.candidates[key]
	if !ok || seen.resourceVersion != parent.ResourceVersion {
		r.candidates[key] = candidate{resourceVersion: parent.ResourceVersion, since: now, cidrs: unclaimed}
		r.mu.Unlock()
		return r.Grace, nil
	}
	r.mu.Unlock()
	if waited := now.Sub(seen.since); waited < r.Grace {
		return r.Grace - waited, nil
	}
	var kept []string
	for _, cidr := range parent.Status.Used {
		if !(unclaimed[cidr] && seen.cidrs[cidr]) {
			kept = append(kept, cidr)
		}
	}
	parent.Status.Used = kept
	r.forget(key)
	// The resourceVersion read above is the precondition: any change since voids the release.
	if err := r.Client.Status().Update(ctx, parent); err != nil && !apierrors.IsConflict(err) {
		return 0, client.IgnoreNotFound(err)
	}
	return 0, nil
}

// anyUnclaimed reports from the cache whether a release pass is worth its live reads.
func (r *Releaser) anyUnclaimed(ctx context.Context, reader client.Reader, key types.NamespacedName, prefix *ipamv1alpha1.Prefix) bool {
	claims, err := Claims(ctx, reader, prefix, r.Pools)
	if err != nil {
		return true
	}
	for _, cidr := range prefix.Status.Used {
		if !claims[cidr] && !r.Ledger.InFlight(key, cidr) {
			return true
		}
	}
	return false
}

func (r *Releaser) forget(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.candidates, key)
}

// Claims returns the ranges of prefix's ledger that owners hold: child Prefixes' spec.prefix,
// NetworkInterface addresses in the prefix's namespace and, for a public pool candidate (see
// PublicPools), VirtualIP addresses of every namespace. A tenant's labelled prefix never counts
// other namespaces' VirtualIPs. Each range is in canonical CIDR form.
func Claims(ctx context.Context, reader client.Reader, prefix *ipamv1alpha1.Prefix, pools PublicPools) (map[string]bool, error) {
	claims := map[string]bool{}
	parentRange, err := netip.ParsePrefix(prefix.Spec.Prefix)
	if err != nil {
		return claims, nil
	}
	children := &ipamv1alpha1.PrefixList{}
	if err := reader.List(ctx, children, client.InNamespace(prefix.Namespace)); err != nil {
		return nil, err
	}
	for _, child := range children.Items {
		if child.Spec.ParentRef != nil && child.Spec.ParentRef.Name == prefix.Name {
			if p, err := netip.ParsePrefix(child.Spec.Prefix); err == nil {
				claims[p.Masked().String()] = true
			}
		}
	}
	addAddress := func(ip string) {
		if addr, err := netip.ParseAddr(ip); err == nil && parentRange.Contains(addr) {
			claims[HostPrefix(addr).String()] = true
		}
	}
	nics := &networkingv1alpha1.NetworkInterfaceList{}
	if err := reader.List(ctx, nics, client.InNamespace(prefix.Namespace)); err != nil {
		return nil, err
	}
	for _, nic := range nics.Items {
		for _, ip := range nic.Status.IPs {
			addAddress(ip)
		}
	}
	if pools.Candidate(prefix) {
		vips := &networkingv1alpha1.VirtualIPList{}
		if err := reader.List(ctx, vips); err != nil {
			return nil, err
		}
		for _, vip := range vips.Items {
			addAddress(vip.Status.IP)
		}
	}
	return claims, nil
}
