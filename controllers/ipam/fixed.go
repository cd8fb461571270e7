package ipam

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ipamv1alpha1 "github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
)

// ReasonAddressInUse is the Warning event reason when a fixed address is already used in its
// prefix's ledger.
const ReasonAddressInUse = "AddressInUse"

// errAddressInUse means a fixed address is already in its prefix's ledger for another owner.
var errAddressInUse = errors.New("address already in use")

// reserveFixed enters the fixed address addr of nic into the ledger of the most specific
// Allocated prefix of the interface's namespace containing it (of each, when several are equally
// specific), so no allocation can hand it out as well. An address inside no prefix is taken as
// given. It returns the reservations it made; an entry the interface already records in
// status.ips is its own and not reserved again.
func (r *NetworkInterfaces) reserveFixed(ctx context.Context, nic *networkingv1alpha1.NetworkInterface, addr netip.Addr) ([]reserved, error) {
	keys, err := r.containingPrefixes(ctx, nic.Namespace, addr)
	if err != nil {
		return nil, err
	}
	host := HostPrefix(addr)
	recorded := slices.Contains(nic.Status.IPs, addr.String())
	var fresh []reserved
	for _, key := range keys {
		_, err := r.Ledger.Reserve(ctx, key, func(_ netip.Prefix, used []netip.Prefix) (netip.Prefix, error) {
			switch {
			case recorded && slices.Contains(used, host):
				return netip.Prefix{}, errAlreadyReserved
			case Overlaps(host, used):
				return netip.Prefix{}, fmt.Errorf("%s is in use in prefix %s: %w", addr, key.Name, errAddressInUse)
			}
			return host, nil
		})
		switch {
		case errors.Is(err, errAlreadyReserved):
		case err != nil:
			return fresh, err
		default:
			fresh = append(fresh, reserved{key, addr})
		}
	}
	return fresh, nil
}

// containingPrefixes returns the most specific Allocated prefixes of namespace containing addr.
func (r *NetworkInterfaces) containingPrefixes(ctx context.Context, namespace string, addr netip.Addr) ([]types.NamespacedName, error) {
	list := &ipamv1alpha1.PrefixList{}
	if err := r.Client.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	var keys []types.NamespacedName
	bits := -1
	for _, p := range list.Items {
		parsed, err := netip.ParsePrefix(p.Spec.Prefix)
		if err != nil || p.Status.Phase != ipamv1alpha1.PrefixPhaseAllocated || !parsed.Contains(addr) || parsed.Bits() < bits {
			continue
		}
		if parsed.Bits() > bits {
			keys, bits = nil, parsed.Bits()
		}
		keys = append(keys, types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
	}
	return keys, nil
}

// unreservedFixed maps a Prefix event to the interfaces of its namespace with a fixed address that
// the prefix, Allocated, contains while its ledger covers nothing of it. Such an interface was
// given its address before the prefix existed or was Allocated (an address inside no Allocated
// prefix is taken as given), or the range that held it was released meanwhile; its status.ips
// does not change when the prefix does, so without this it would never be reconciled to enter
// the address into the ledger, and allocation could hand the address out as well.
func (r *NetworkInterfaces) unreservedFixed(ctx context.Context, obj client.Object) []reconcile.Request {
	prefix, ok := obj.(*ipamv1alpha1.Prefix)
	if !ok || prefix.Status.Phase != ipamv1alpha1.PrefixPhaseAllocated {
		return nil
	}
	parsed, err := netip.ParsePrefix(prefix.Spec.Prefix)
	if err != nil {
		return nil
	}
	used := ParsePrefixes(prefix.Status.Used)
	list := &networkingv1alpha1.NetworkInterfaceList{}
	if err := r.Client.List(ctx, list, client.InNamespace(prefix.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	var requests []reconcile.Request
	for i := range list.Items {
		nic := &list.Items[i]
		for _, source := range nic.Spec.IPs {
			addr, err := netip.ParseAddr(source.Value)
			if err != nil || source.PrefixRef != nil || !parsed.Contains(addr) || Overlaps(HostPrefix(addr), used) {
				continue
			}
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(nic)})
			break
		}
	}
	return requests
}

// fixedElsewhere returns the fixed addresses other interfaces of nic's namespace ask for, which
// allocation from a prefix avoids so that it does not take an address a fixed one is about to
// claim (the ledger settles the rest: whoever reserves first has it).
func (r *NetworkInterfaces) fixedElsewhere(ctx context.Context, nic *networkingv1alpha1.NetworkInterface) ([]netip.Prefix, error) {
	list := &networkingv1alpha1.NetworkInterfaceList{}
	if err := r.Client.List(ctx, list, client.InNamespace(nic.Namespace)); err != nil {
		return nil, err
	}
	var fixed []netip.Prefix
	for _, other := range list.Items {
		if other.UID == nic.UID {
			continue
		}
		for _, source := range other.Spec.IPs {
			if addr, err := netip.ParseAddr(source.Value); err == nil && source.PrefixRef == nil {
				fixed = append(fixed, HostPrefix(addr))
			}
		}
	}
	return fixed, nil
}

// giveBack returns reservations this reconcile made and will not record.
func (r *NetworkInterfaces) giveBack(ctx context.Context, fresh []reserved) {
	ctx, cancel := r.Ledger.RecordContext(ctx)
	defer cancel()
	for _, f := range fresh {
		// A failure leaves the entry to the release pass.
		_ = r.Ledger.GiveBack(ctx, f.key, HostPrefix(f.addr))
	}
}
