package ipam

import (
	"context"
	"errors"
	"net/netip"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ipamv1alpha1 "github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
)

// waitForPrefix is how often an object whose prefix is missing, pending or full is retried.
const waitForPrefix = 5 * time.Second

// ReasonNoAddress is the Warning event reason when no address can be allocated.
const ReasonNoAddress = "AddressAllocationFailed"

// allocateAddress returns an address of prefixKey: one of current if it lies in the prefix, else
// a new one reserved in the prefix's ledger (the caller must call Recorded once stored).
// avoid lists addresses not to hand out even if free in the ledger.
func allocateAddress(ctx context.Context, ledger *Ledger, reader client.Reader, prefixKey types.NamespacedName, current []string, avoid []netip.Prefix) (netip.Addr, bool, error) {
	prefix := &ipamv1alpha1.Prefix{}
	if err := reader.Get(ctx, prefixKey, prefix); err != nil {
		return netip.Addr{}, false, err
	}
	if r, err := netip.ParsePrefix(prefix.Spec.Prefix); err == nil {
		for _, ip := range current {
			if addr, err := netip.ParseAddr(ip); err == nil && r.Contains(addr) {
				return addr, false, nil
			}
		}
	}
	chosen, err := ledger.Reserve(ctx, prefixKey, func(parent netip.Prefix, used []netip.Prefix) (netip.Prefix, error) {
		p, ok := Allocate(parent, append(used, avoid...), parent.Addr().BitLen())
		if !ok {
			return netip.Prefix{}, ErrExhausted
		}
		return p, nil
	})
	return chosen.Addr(), err == nil, err
}

// NetworkInterfaces gives each NetworkInterface its addresses in status.ips: fixed values as they
// are, prefix sources from the named Prefix, and, without any source, one address from the
// Prefix labelled with the interface's network.
type NetworkInterfaces struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Ledger reserves addresses.
	Ledger *Ledger
	// Recorder receives AddressAllocationFailed events.
	Recorder events.EventRecorder
}

// Reconcile allocates one interface's addresses.
func (r *NetworkInterfaces) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	nic := &networkingv1alpha1.NetworkInterface{}
	if err := r.Client.Get(ctx, request.NamespacedName, nic); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if nic.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	sources := nic.Spec.IPs
	if len(sources) == 0 {
		prefix, err := r.networkPrefix(ctx, nic)
		if err != nil || prefix == "" {
			return reconcile.Result{RequeueAfter: waitForPrefix}, err
		}
		sources = []networkingv1alpha1.IPSource{{PrefixRef: &corev1.LocalObjectReference{Name: prefix}}}
	}
	var ips []string
	var fresh []reserved
	defer func() {
		for _, f := range fresh {
			r.Ledger.Recorded(f.key, HostPrefix(f.addr))
		}
	}()
	fixedElsewhere, err := r.fixedElsewhere(ctx, nic)
	if err != nil {
		return reconcile.Result{}, err
	}
	for _, source := range sources {
		if source.PrefixRef == nil {
			addr, err := netip.ParseAddr(source.Value)
			if err != nil {
				ips = append(ips, source.Value)
				continue
			}
			taken, err := r.reserveFixed(ctx, nic, addr)
			fresh = append(fresh, taken...)
			if err != nil {
				r.giveBack(ctx, fresh)
				if errors.Is(err, errAddressInUse) {
					r.Recorder.Eventf(nic, nil, corev1.EventTypeWarning, ReasonAddressInUse, "AllocateAddress", "%v", err)
					return reconcile.Result{RequeueAfter: waitForPrefix}, nil
				}
				return reconcile.Result{}, err
			}
			ips = append(ips, addr.String())
			continue
		}
		key := types.NamespacedName{Namespace: nic.Namespace, Name: source.PrefixRef.Name}
		addr, isNew, err := allocateAddress(ctx, r.Ledger, r.Client, key, nic.Status.IPs, fixedElsewhere)
		if err != nil {
			r.giveBack(ctx, fresh)
			if apierrors.IsNotFound(err) || errors.Is(err, ErrExhausted) || errors.Is(err, errParentNotReady) {
				r.Recorder.Eventf(nic, nil, corev1.EventTypeWarning, ReasonNoAddress, "AllocateAddress", "prefix %s: %v", key.Name, err)
				return reconcile.Result{RequeueAfter: waitForPrefix}, nil
			}
			return reconcile.Result{}, err
		}
		if isNew {
			fresh = append(fresh, reserved{key, addr})
		}
		ips = append(ips, addr.String())
	}
	if err := r.writeIPs(ctx, nic, ips, fresh); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{RequeueAfter: conflictRetryDelay}, nil
		}
		return reconcile.Result{}, err
	}
	return reconcile.Result{}, nil
}

// reserved is an address reserved in a prefix's ledger by this reconcile.
type reserved struct {
	key  types.NamespacedName
	addr netip.Addr
}

// writeIPs stores ips in status.ips. A conflict is not retried with the same addresses: the
// reconcile starts over from the fresh object, and the addresses fresh reserved here are given
// back at once (the write certainly did not land), not left for the release grace.
func (r *NetworkInterfaces) writeIPs(ctx context.Context, nic *networkingv1alpha1.NetworkInterface, ips []string, fresh []reserved) error {
	if equalStrings(nic.Status.IPs, ips) {
		return nil
	}
	ctx, cancel := r.Ledger.RecordContext(ctx)
	defer cancel()
	nic.Status.IPs = ips
	err := r.Client.Status().Update(ctx, nic)
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		for _, f := range fresh {
			if giveBackErr := r.Ledger.GiveBack(ctx, f.key, HostPrefix(f.addr)); giveBackErr != nil {
				return giveBackErr
			}
		}
	}
	return client.IgnoreNotFound(err)
}

// networkPrefix returns the name of the Allocated prefix labelled with the interface's network,
// the first by name when several are.
func (r *NetworkInterfaces) networkPrefix(ctx context.Context, nic *networkingv1alpha1.NetworkInterface) (string, error) {
	list := &ipamv1alpha1.PrefixList{}
	if err := r.Client.List(ctx, list, client.InNamespace(nic.Namespace), client.MatchingLabels{LabelNetwork: nic.Spec.NetworkRef.Name}); err != nil {
		return "", err
	}
	var names []string
	for _, p := range list.Items {
		if p.Status.Phase == ipamv1alpha1.PrefixPhaseAllocated {
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 {
		return "", nil
	}
	sort.Strings(names)
	return names[0], nil
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
