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
		addr, _, err := allocateAddress(ctx, r.Ledger, r.Client, key, nil)
		if errors.Is(err, ErrExhausted) || errors.Is(err, errParentNotReady) || apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return reconcile.Result{}, err
		}
		defer r.Ledger.Recorded(key, HostPrefix(addr))
		if err := r.writeIP(ctx, vip, addr.String()); err != nil {
			if apierrors.IsConflict(err) {
				return reconcile.Result{RequeueAfter: conflictRetryDelay}, nil
			}
			return reconcile.Result{}, err
		}
		return reconcile.Result{}, nil
	}
	r.Recorder.Eventf(vip, nil, corev1.EventTypeWarning, ReasonNoAddress, "AllocateAddress", "no public prefix of family %s has a free address", family(vip.Spec.IPFamily))
	return reconcile.Result{RequeueAfter: waitForPrefix}, nil
}

// writeIP stores ip in status.ip; on a conflict the reconcile starts over (see writeIPs).
func (r *VirtualIPs) writeIP(ctx context.Context, vip *networkingv1alpha1.VirtualIP, ip string) error {
	ctx, cancel := r.Ledger.RecordContext(ctx)
	defer cancel()
	vip.Status.IP = ip
	vip.Status.ObservedGeneration = vip.Generation
	return client.IgnoreNotFound(r.Client.Status().Update(ctx, vip))
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
