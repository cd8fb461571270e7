package ipam

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	ipamv1alpha1 "github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
)

// Labels that say what a Prefix serves.
const (
	// LabelNetwork on a Prefix names the Network whose interfaces without explicit IP sources
	// get their address from it (in the prefix's namespace).
	LabelNetwork = "ipam.ferrite.dev/network"
	// LabelVirtualIPs marks ("true") a Prefix that public VirtualIPs of every namespace are
	// allocated from; it is honoured only on root prefixes of the operator's namespace (see
	// PublicPools).
	LabelVirtualIPs = "ipam.ferrite.dev/virtual-ips"
)

// ConditionAllocated is the Prefix condition that explains the phase.
const ConditionAllocated = "Allocated"

// Prefixes reconciles Prefixes: roots become Allocated, children get their range from the parent,
// labelled prefixes learn whether they serve VirtualIPs, and every ledger releases ranges nobody
// claims.
type Prefixes struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Ledger writes the parents' status.used.
	Ledger *Ledger
	// Releaser releases unclaimed ranges.
	Releaser *Releaser
	// Pools says which labelled prefixes serve VirtualIPs.
	Pools PublicPools
	// Recorder receives the Warning event of a labelled prefix that is ignored.
	Recorder events.EventRecorder
}

// Reconcile allocates one prefix and releases what its own ledger no longer needs.
func (r *Prefixes) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	prefix := &ipamv1alpha1.Prefix{}
	if err := r.Client.Get(ctx, request.NamespacedName, prefix); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if prefix.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	if prefix.Spec.ParentRef == nil {
		if _, err := netip.ParsePrefix(prefix.Spec.Prefix); err != nil {
			return reconcile.Result{}, r.setPhase(ctx, prefix, ipamv1alpha1.PrefixPhaseFailed, "InvalidPrefix", err.Error())
		}
		if err := r.setPhase(ctx, prefix, ipamv1alpha1.PrefixPhaseAllocated, "Root", "root prefix "+prefix.Spec.Prefix); err != nil {
			return reconcile.Result{}, err
		}
	} else if prefix.Status.Phase != ipamv1alpha1.PrefixPhaseAllocated || prefix.Spec.Prefix == "" {
		if result, err := r.allocateChild(ctx, prefix); err != nil || !result.IsZero() {
			return result, err
		}
	}
	if err := r.reportPool(ctx, prefix); err != nil {
		return reconcile.Result{}, err
	}
	wait, err := r.Releaser.Release(ctx, prefix)
	return reconcile.Result{RequeueAfter: wait}, err
}

// allocateChild takes the child's range from its parent's ledger, records it in the child's
// spec.prefix when it was requested by length, and marks the child Allocated.
func (r *Prefixes) allocateChild(ctx context.Context, child *ipamv1alpha1.Prefix) (reconcile.Result, error) {
	parentKey := client.ObjectKey{Namespace: child.Namespace, Name: child.Spec.ParentRef.Name}
	var fixed netip.Prefix
	if child.Spec.Prefix != "" {
		var err error
		if fixed, err = netip.ParsePrefix(child.Spec.Prefix); err != nil {
			return reconcile.Result{}, r.setPhase(ctx, child, ipamv1alpha1.PrefixPhaseFailed, "InvalidPrefix", err.Error())
		}
	}
	mine := false
	chosen, err := r.Ledger.Reserve(ctx, parentKey, func(parent netip.Prefix, used []netip.Prefix) (netip.Prefix, error) {
		if !fixed.IsValid() {
			p, ok := Allocate(parent, used, int(child.Spec.PrefixLength))
			if !ok {
				return netip.Prefix{}, ErrExhausted
			}
			return p, nil
		}
		if !parent.Contains(fixed.Addr()) || fixed.Bits() < parent.Bits() {
			return netip.Prefix{}, fmt.Errorf("%s is not inside parent %s: %w", fixed, parent, ErrExhausted)
		}
		for _, u := range used {
			if u == fixed.Masked() && !r.claimedBySibling(ctx, child, fixed) {
				// Our own reservation from an earlier attempt.
				mine = true
				return netip.Prefix{}, errAlreadyReserved
			}
		}
		if Overlaps(fixed, used) {
			return netip.Prefix{}, fmt.Errorf("%s overlaps a range already used in the parent: %w", fixed, ErrExhausted)
		}
		return fixed.Masked(), nil
	})
	switch {
	case mine:
		chosen = fixed.Masked()
	case errors.Is(err, errParentNotReady):
		return reconcile.Result{}, r.setPhase(ctx, child, ipamv1alpha1.PrefixPhasePending, "ParentNotAllocated", "parent "+parentKey.Name+" is not allocated yet")
	case apierrors.IsNotFound(err):
		return reconcile.Result{}, r.setPhase(ctx, child, ipamv1alpha1.PrefixPhasePending, "ParentNotFound", "parent "+parentKey.Name+" does not exist")
	case errors.Is(err, ErrExhausted):
		// Retried when the parent's ledger shrinks (the parent's events requeue its children).
		return reconcile.Result{}, r.setPhase(ctx, child, ipamv1alpha1.PrefixPhaseFailed, "ParentExhausted", err.Error())
	case err != nil:
		return reconcile.Result{}, err
	default:
		defer r.Ledger.Recorded(parentKey, chosen)
	}
	if child.Spec.Prefix == "" {
		child.Spec.Prefix = chosen.String()
		recordCtx, cancel := r.Ledger.RecordContext(ctx)
		err := r.Client.Update(recordCtx, child)
		cancel()
		if err != nil {
			// The reservation is released by the parent's release pass once unclaimed.
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{}, r.setPhase(ctx, child, ipamv1alpha1.PrefixPhaseAllocated, "Allocated", "allocated "+chosen.String()+" from "+parentKey.Name)
}

var errAlreadyReserved = errors.New("already reserved by this prefix")

// claimedBySibling reports whether another child of the same parent holds cidr, read live.
func (r *Prefixes) claimedBySibling(ctx context.Context, child *ipamv1alpha1.Prefix, cidr netip.Prefix) bool {
	siblings := &ipamv1alpha1.PrefixList{}
	if err := r.Releaser.APIReader.List(ctx, siblings, client.InNamespace(child.Namespace)); err != nil {
		return true
	}
	for _, s := range siblings.Items {
		if s.UID != child.UID && s.Spec.ParentRef != nil && s.Spec.ParentRef.Name == child.Spec.ParentRef.Name &&
			s.Spec.Prefix == cidr.String() && s.Status.Phase == ipamv1alpha1.PrefixPhaseAllocated {
			return true
		}
	}
	return false
}

// setPhase writes the phase and the Allocated condition when they change.
func (r *Prefixes) setPhase(ctx context.Context, prefix *ipamv1alpha1.Prefix, phase ipamv1alpha1.PrefixPhase, reason, message string) error {
	status := metav1.ConditionFalse
	if phase == ipamv1alpha1.PrefixPhaseAllocated {
		status = metav1.ConditionTrue
	}
	condition := metav1.Condition{Type: ConditionAllocated, Status: status, Reason: reason, Message: message, ObservedGeneration: prefix.Generation}
	current := meta.FindStatusCondition(prefix.Status.Conditions, ConditionAllocated)
	if prefix.Status.Phase == phase && prefix.Status.ObservedGeneration == prefix.Generation && current != nil &&
		current.Reason == reason && current.Message == message {
		return nil
	}
	prefix.Status.Phase = phase
	prefix.Status.ObservedGeneration = prefix.Generation
	meta.SetStatusCondition(&prefix.Status.Conditions, condition)
	return r.writeStatus(ctx, prefix)
}

// reportPool keeps the VirtualIPPool condition of a labelled prefix, and removes it once the
// label is gone. The Warning event for an ignored prefix goes out only with the status write that
// turns the condition to that reason: the write is preconditioned on the resourceVersion, so of
// several managers exactly one reports it, once, and not again on later reconciles or restarts.
func (r *Prefixes) reportPool(ctx context.Context, prefix *ipamv1alpha1.Prefix) error {
	current := meta.FindStatusCondition(prefix.Status.Conditions, ConditionVirtualIPPool)
	if !Labelled(prefix) {
		if current == nil {
			return nil
		}
		meta.RemoveStatusCondition(&prefix.Status.Conditions, ConditionVirtualIPPool)
		return r.writeStatus(ctx, prefix)
	}
	pools := &ipamv1alpha1.PrefixList{}
	if err := r.Client.List(ctx, pools, client.InNamespace(r.Pools.Namespace), client.MatchingLabels{LabelVirtualIPs: "true"}); err != nil {
		return err
	}
	want := r.Pools.Verdict(prefix, pools.Items)
	want.ObservedGeneration = prefix.Generation
	if current != nil && current.Status == want.Status && current.Reason == want.Reason &&
		current.Message == want.Message && current.ObservedGeneration == want.ObservedGeneration {
		return nil
	}
	warn := want.Status == metav1.ConditionFalse && (current == nil || current.Status != want.Status || current.Reason != want.Reason)
	meta.SetStatusCondition(&prefix.Status.Conditions, want)
	if err := r.writeStatus(ctx, prefix); err != nil {
		return err
	}
	if warn && r.Recorder != nil {
		r.Recorder.Eventf(prefix, nil, corev1.EventTypeWarning, want.Reason, "AllocateVirtualIP", "%s", want.Message)
	}
	return nil
}

// writeStatus writes the prefix's status; a lost resourceVersion race is an error, so the
// reconcile starts over from the newer object.
func (r *Prefixes) writeStatus(ctx context.Context, prefix *ipamv1alpha1.Prefix) error {
	err := r.Client.Status().Update(ctx, prefix)
	if apierrors.IsConflict(err) {
		return fmt.Errorf("prefix %s changed meanwhile, retrying: %w", prefix.Name, err)
	}
	return client.IgnoreNotFound(err)
}
