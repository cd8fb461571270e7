package ipam

import (
	"fmt"
	"net/netip"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ipamv1alpha1 "github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
)

// ConditionVirtualIPPool is the condition on a Prefix labelled ipam.ferrite.dev/virtual-ips=true
// that says whether VirtualIPs are allocated from it, and if not, why.
const ConditionVirtualIPPool = "VirtualIPPool"

// Reasons of the VirtualIPPool condition; the False ones are also Warning event reasons.
const (
	// ReasonOperatorPool: a labelled root prefix in the operator's namespace, used for VirtualIPs.
	ReasonOperatorPool = "OperatorPool"
	// ReasonNotOperatorNamespace: labelled outside the operator's namespace, ignored.
	ReasonNotOperatorNamespace = "NotOperatorNamespace"
	// ReasonNotRoot: a labelled child prefix, ignored (its range is already in its parent's ledger).
	ReasonNotRoot = "NotRootPrefix"
	// ReasonOverlapsPool: overlaps an older public pool, ignored so no address has two ledgers.
	ReasonOverlapsPool = "OverlapsPublicPool"
)

// PublicPools says which Prefixes VirtualIPs are allocated from: root Prefixes labelled
// ipam.ferrite.dev/virtual-ips=true in the operator's namespace, and of those only the ones that
// overlap no older pool. Tenants cannot write into that namespace, so no tenant can make its own
// range serve (or shadow) other namespaces' public addresses; and as every public address has
// exactly one ledger, it is never handed out twice.
type PublicPools struct {
	// Namespace is the operator's namespace of the public pools (--public-prefix-namespace).
	Namespace string
}

// Labelled reports whether prefix asks to be a public pool.
func Labelled(prefix *ipamv1alpha1.Prefix) bool {
	return prefix.Labels[LabelVirtualIPs] == "true"
}

// Candidate reports whether prefix is a labelled root prefix of the operator's namespace: one
// whose ledger may hold VirtualIP addresses.
func (p PublicPools) Candidate(prefix *ipamv1alpha1.Prefix) bool {
	return Labelled(prefix) && prefix.Namespace == p.Namespace && prefix.Spec.ParentRef == nil
}

// Verdict says whether the labelled prefix serves VirtualIPs, as the VirtualIPPool condition.
// pools are the labelled prefixes of the operator's namespace (prefix among them or not): a
// candidate overlapping an older one (by creation time, then name) is refused, so that every
// public address is in exactly one ledger.
func (p PublicPools) Verdict(prefix *ipamv1alpha1.Prefix, pools []ipamv1alpha1.Prefix) metav1.Condition {
	refuse := func(reason, message string) metav1.Condition {
		return metav1.Condition{Type: ConditionVirtualIPPool, Status: metav1.ConditionFalse, Reason: reason, Message: message}
	}
	switch {
	case prefix.Namespace != p.Namespace:
		return refuse(ReasonNotOperatorNamespace, fmt.Sprintf("ignored for VirtualIP allocation: public address pools are root prefixes labelled %s=true in namespace %s, which the operator owns", LabelVirtualIPs, p.Namespace))
	case prefix.Spec.ParentRef != nil:
		return refuse(ReasonNotRoot, "ignored for VirtualIP allocation: only root prefixes (no parentRef) are public address pools")
	}
	mine, err := netip.ParsePrefix(prefix.Spec.Prefix)
	if err == nil {
		for i := range pools {
			other := &pools[i]
			if other.UID == prefix.UID || !p.Candidate(other) || !older(other, prefix) {
				continue
			}
			if theirs, err := netip.ParsePrefix(other.Spec.Prefix); err == nil && theirs.Overlaps(mine) {
				return refuse(ReasonOverlapsPool, fmt.Sprintf("ignored for VirtualIP allocation: overlaps the older public pool %s (%s)", other.Name, other.Spec.Prefix))
			}
		}
	}
	return metav1.Condition{Type: ConditionVirtualIPPool, Status: metav1.ConditionTrue, Reason: ReasonOperatorPool, Message: "VirtualIPs are allocated from this prefix"}
}

// older orders prefixes by creation time, then name: a total order every manager agrees on.
func older(a, b *ipamv1alpha1.Prefix) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}
