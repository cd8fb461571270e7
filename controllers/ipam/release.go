package ipam

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ipamv1alpha1 "github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
)

// Releaser returns ranges to a prefix when no child Prefix, NetworkInterface or VirtualIP
// claims them any more. An entry must stay unclaimed for Grace (an allocation whose owner is not
// written yet looks unclaimed for a moment) and be confirmed unclaimed by a live read.
type Releaser struct {
	// Client reads claims from the manager's cache.
	Client client.Client
	// APIReader confirms claims with the API server before anything is released.
	APIReader client.Reader
	// Ledger writes the release and knows this process's in-flight allocations.
	Ledger *Ledger
	// Grace is how long an entry must stay unclaimed.
	Grace time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu             sync.Mutex
	firstUnclaimed map[types.NamespacedName]map[string]time.Time
}

func (r *Releaser) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Release drops the prefix's unclaimed entries that are due, and returns when to look again
// (zero when nothing is pending).
func (r *Releaser) Release(ctx context.Context, prefix *ipamv1alpha1.Prefix) (time.Duration, error) {
	key := types.NamespacedName{Namespace: prefix.Namespace, Name: prefix.Name}
	if len(prefix.Status.Used) == 0 {
		r.mu.Lock()
		delete(r.firstUnclaimed, key)
		r.mu.Unlock()
		return 0, nil
	}
	claims, err := Claims(ctx, r.Client, prefix)
	if err != nil {
		return 0, err
	}
	now := r.now()
	due := map[string]bool{}
	var wait time.Duration
	r.mu.Lock()
	if r.firstUnclaimed == nil {
		r.firstUnclaimed = map[types.NamespacedName]map[string]time.Time{}
	}
	seen := r.firstUnclaimed[key]
	next := map[string]time.Time{}
	for _, cidr := range prefix.Status.Used {
		if claims[cidr] || r.Ledger.InFlight(key, cidr) {
			continue
		}
		first, ok := seen[cidr]
		if !ok {
			first = now
		}
		next[cidr] = first
		if age := now.Sub(first); age >= r.Grace {
			due[cidr] = true
		} else if left := r.Grace - age; wait == 0 || left < wait {
			wait = left
		}
	}
	r.firstUnclaimed[key] = next
	r.mu.Unlock()
	if len(due) == 0 {
		return wait, nil
	}
	live, err := Claims(ctx, r.APIReader, prefix)
	if err != nil {
		return 0, err
	}
	for cidr := range due {
		if live[cidr] {
			delete(due, cidr)
		}
	}
	if len(due) == 0 {
		return wait, nil
	}
	return wait, r.Ledger.Release(ctx, key, due)
}

// Claims returns the ranges of prefix's ledger that owners hold: child Prefixes' spec.prefix,
// NetworkInterface addresses in the prefix's namespace and, for a virtual IP prefix, VirtualIP
// addresses of every namespace. Each range is in canonical CIDR form.
func Claims(ctx context.Context, reader client.Reader, prefix *ipamv1alpha1.Prefix) (map[string]bool, error) {
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
	if prefix.Labels[LabelVirtualIPs] == "true" {
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
