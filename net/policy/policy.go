// Package policy turns NetworkPolicies into the firewall of one network interface
// (dataplane.Policy), with Kubernetes NetworkPolicy semantics: the policies of the interface's
// namespace and network whose selector matches its labels apply; a direction is isolated when
// one of them governs it, and then only what one of their rules allows passes (plus replies).
//
// The network agent computes this itself for each interface it serves, from the policies and
// interfaces of that interface's network (docs/net-policy.md says why). Compute is pure: it
// reads the objects it is given and nothing else, so the agent can call it again whenever a
// watched object changes.
package policy

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/net/dataplane"
)

// Compute returns the policy of target: nil when no NetworkPolicy selects it (everything is
// allowed). policies and nics may hold objects of any namespace and network; only those of
// target's namespace and network count. Peers chosen by selector are the addresses
// (status.ips, as /32 or /128) and routed prefixes (status.prefixes) of the matching
// interfaces. The result is sorted and free of duplicates, so equal inputs give equal
// policies.
//
// The apiserver validates policies; should something still not parse, Compute fails closed:
// a policy whose interface selector is unreadable selects every interface of its network, and
// an unreadable peer or port allows nothing.
func Compute(policies []*networkingv1alpha1.NetworkPolicy, nics []*networkingv1alpha1.NetworkInterface,
	target *networkingv1alpha1.NetworkInterface) *dataplane.Policy {
	network := target.Spec.NetworkRef.Name
	peers := &peerIndex{namespace: target.Namespace, network: network, nics: nics}
	var out *dataplane.Policy
	for _, p := range policies {
		if p.Namespace != target.Namespace || p.Spec.NetworkRef.Name != network {
			continue
		}
		if !selects(&p.Spec.NetworkInterfaceSelector, target.Labels) {
			continue
		}
		if out == nil {
			out = &dataplane.Policy{}
		}
		ingress, egress := governs(&p.Spec)
		if ingress {
			out.IngressIsolated = true
			out.Ingress = append(out.Ingress, peers.rules(p.Spec.Ingress)...)
		}
		if egress {
			out.EgressIsolated = true
			out.Egress = append(out.Egress, peers.rules(p.Spec.Egress)...)
		}
	}
	if out != nil {
		out.Ingress = sortRules(out.Ingress)
		out.Egress = sortRules(out.Egress)
	}
	return out
}

// governs returns the directions a policy isolates: its policyTypes, or by default Ingress,
// plus Egress when it has egress rules.
func governs(spec *networkingv1alpha1.NetworkPolicySpec) (ingress, egress bool) {
	if len(spec.PolicyTypes) == 0 {
		return true, len(spec.Egress) > 0
	}
	for _, t := range spec.PolicyTypes {
		switch t {
		case networkingv1alpha1.PolicyTypeIngress:
			ingress = true
		case networkingv1alpha1.PolicyTypeEgress:
			egress = true
		}
	}
	return ingress, egress
}

// selects reports whether a policy's selector matches a set of labels; a selector that cannot
// be read selects everything (fail closed: the policy's rules then apply).
func selects(s *metav1.LabelSelector, set map[string]string) bool {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return true
	}
	return sel.Matches(labels.Set(set))
}
