package ipam

import (
	"context"
	"errors"
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ipamv1alpha1 "github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
)

// VirtualIPs gives each VirtualIP an address in status.ip from a public pool (see PublicPools)
// of the VirtualIP's family.
type VirtualIPs struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Ledger reserves addresses.
	Ledger *Ledger
	// Recorder receives AddressAllocationFailed events.
	Recorder events.EventRecorder
	// Pools says which prefixes are public pools.
	Pools PublicPools
}

// Reconcile allocates one virtual IP's address.
func (r *VirtualIPs) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	vip := &networkingv1alpha1.VirtualIP{}
	if err := r.Client.Get(ctx, request.NamespacedName, vip); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if vip.DeletionTimestamp != nil || vip.Status.IP != "" {
		return reconcile.Result{}, nil
	}
	prefixes, err := r.publicPrefixes(ctx, vip.Spec.IPFamily)
	if err != nil {
		return reconcile.Result{}, err
	}
	for _, key := range prefixes {
		addr, _, err := allocateAddress(ctx, r.Ledger, r.Client, key, nil, nil)
		if errors.Is(err, ErrExhausted) || errors.Is(err, errParentNotReady) || apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return reconcile.Result{}, err
		}
		defer r.Ledger.Recorded(key, HostPrefix(addr))
		return reconcile.Result{}, r.writeIP(ctx, vip, key, addr)
	}
	r.Recorder.Eventf(vip, nil, corev1.EventTypeWarning, ReasonNoAddress, "AllocateAddress", "no public prefix of family %s has a free address", family(vip.Spec.IPFamily))
	return reconcile.Result{RequeueAfter: waitForPrefix}, nil
}

// writeIP stores addr, just reserved in the prefix key, in status.ip. On a conflict it reads the
// VirtualIP live: while it still has no address, the write is repeated with the same reservation;
// once it has one (another manager won the race) or is gone, the reservation is given back at
// once. Both within the record deadline, so an address never waits for the release grace because
// of a lost race, which is what stalled allocation when VirtualIPs outnumber free addresses.
func (r *VirtualIPs) writeIP(ctx context.Context, vip *networkingv1alpha1.VirtualIP, key types.NamespacedName, addr netip.Addr) error {
	ctx, cancel := r.Ledger.RecordContext(ctx)
	defer cancel()
	for {
		vip.Status.IP = addr.String()
		vip.Status.ObservedGeneration = vip.Generation
		err := r.Client.Status().Update(ctx, vip)
		if !apierrors.IsConflict(err) {
			return client.IgnoreNotFound(err)
		}
		latest := &networkingv1alpha1.VirtualIP{}
		err = r.Ledger.APIReader.Get(ctx, client.ObjectKeyFromObject(vip), latest)
		switch {
		case apierrors.IsNotFound(err):
			return r.Ledger.GiveBack(ctx, key, HostPrefix(addr))
		case err != nil:
			return err
		case latest.UID == vip.UID && latest.Status.IP == addr.String():
			return nil
		case latest.UID != vip.UID || latest.DeletionTimestamp != nil || latest.Status.IP != "":
			return r.Ledger.GiveBack(ctx, key, HostPrefix(addr))
		}
		vip = latest
	}
}

func family(f corev1.IPFamily) corev1.IPFamily {
	if f == "" {
		return corev1.IPv4Protocol
	}
	return f
}

// publicPrefixes lists the allocated public pools of the family, ordered by name. Labelled
// prefixes outside the operator's namespace are never listed.
func (r *VirtualIPs) publicPrefixes(ctx context.Context, ipFamily corev1.IPFamily) ([]types.NamespacedName, error) {
	list := &ipamv1alpha1.PrefixList{}
	if err := r.Client.List(ctx, list, client.InNamespace(r.Pools.Namespace), client.MatchingLabels{LabelVirtualIPs: "true"}); err != nil {
		return nil, err
	}
	var keys []types.NamespacedName
	for i := range list.Items {
		p := &list.Items[i]
		if !r.Pools.Candidate(p) || r.Pools.Verdict(p, list.Items).Status != metav1.ConditionTrue {
			continue
		}
		parsed, err := netip.ParsePrefix(p.Spec.Prefix)
		if err != nil || p.Status.Phase != ipamv1alpha1.PrefixPhaseAllocated || parsed.Addr().Is4() != (family(ipFamily) == corev1.IPv4Protocol) {
			continue
		}
		keys = append(keys, types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	return keys, nil
}
