package policy

import (
	"cmp"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/net/dataplane"
)

// peerIndex resolves peers chosen by selector among the interfaces of one namespace and
// network.
type peerIndex struct {
	namespace, network string
	nics               []*networkingv1alpha1.NetworkInterface
}

// rules converts API rules. A rule whose peers resolve to nothing (a selector matching no
// interface with an address, or only unreadable blocks) or whose ports are all unreadable
// allows nothing and is left out: in the dataplane an empty list means "any".
func (x *peerIndex) rules(in []networkingv1alpha1.NetworkPolicyRule) []dataplane.Rule {
	var out []dataplane.Rule
	for _, r := range in {
		var rule dataplane.Rule
		for _, p := range r.Peers {
			rule.Peers = append(rule.Peers, x.peer(p)...)
		}
		if len(r.Peers) > 0 && len(rule.Peers) == 0 {
			continue
		}
		for _, p := range r.Ports {
			if pr, ok := portRange(p); ok {
				rule.Ports = append(rule.Ports, pr)
			}
		}
		if len(r.Ports) > 0 && len(rule.Ports) == 0 {
			continue
		}
		out = append(out, rule)
	}
	return out
}

// peer resolves one API peer to prefixes.
func (x *peerIndex) peer(p networkingv1alpha1.NetworkPolicyPeer) []dataplane.Peer {
	if b := p.IPBlock; b != nil {
		prefix, err := netip.ParsePrefix(b.CIDR)
		if err != nil {
			return nil
		}
		peer := dataplane.Peer{Prefix: prefix.Masked()}
		for _, e := range b.Except {
			ex, err := netip.ParsePrefix(e)
			if err != nil {
				return nil // without the exception the block would allow too much
			}
			peer.Except = append(peer.Except, ex.Masked())
		}
		return []dataplane.Peer{peer}
	}
	if p.NetworkInterfaceSelector == nil {
		return nil
	}
	sel, err := metav1.LabelSelectorAsSelector(p.NetworkInterfaceSelector)
	if err != nil {
		return nil
	}
	var out []dataplane.Peer
	for _, n := range x.nics {
		if n.Namespace != x.namespace || n.Spec.NetworkRef.Name != x.network || !sel.Matches(labels.Set(n.Labels)) {
			continue
		}
		for _, s := range n.Status.IPs {
			if a, err := netip.ParseAddr(s); err == nil {
				out = append(out, dataplane.Peer{Prefix: netip.PrefixFrom(a, a.BitLen())})
			}
		}
		// Routed prefixes are the interface's too (the agent announces them for it).
		for _, s := range n.Status.Prefixes {
			if pr, err := netip.ParsePrefix(s); err == nil {
				out = append(out, dataplane.Peer{Prefix: pr.Masked()})
			}
		}
	}
	return out
}

// portRange converts an API port; protocol TCP by default.
func portRange(p networkingv1alpha1.LoadBalancerPort) (dataplane.PortRange, bool) {
	proto := p.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	switch proto {
	case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
	default:
		return dataplane.PortRange{}, false
	}
	if p.Port < 1 || p.Port > 65535 {
		return dataplane.PortRange{}, false
	}
	pr := dataplane.PortRange{Protocol: string(proto), First: uint16(p.Port)}
	if e := p.EndPort; e != nil && *e != p.Port {
		if *e < p.Port || *e > 65535 {
			return dataplane.PortRange{}, false
		}
		pr.Last = uint16(*e)
	}
	return pr, true
}

// sortRules sorts each rule's peers and ports and the rules themselves, dropping duplicates.
func sortRules(rules []dataplane.Rule) []dataplane.Rule {
	for i := range rules {
		for j := range rules[i].Peers {
			slices.SortFunc(rules[i].Peers[j].Except, comparePrefix)
			rules[i].Peers[j].Except = slices.Compact(rules[i].Peers[j].Except)
		}
		slices.SortFunc(rules[i].Peers, comparePeer)
		rules[i].Peers = slices.CompactFunc(rules[i].Peers, func(a, b dataplane.Peer) bool { return comparePeer(a, b) == 0 })
		slices.SortFunc(rules[i].Ports, comparePorts)
		rules[i].Ports = slices.Compact(rules[i].Ports)
	}
	slices.SortFunc(rules, compareRule)
	return slices.CompactFunc(rules, func(a, b dataplane.Rule) bool { return compareRule(a, b) == 0 })
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

func comparePeer(a, b dataplane.Peer) int {
	if c := comparePrefix(a.Prefix, b.Prefix); c != 0 {
		return c
	}
	return slices.CompareFunc(a.Except, b.Except, comparePrefix)
}

func comparePorts(a, b dataplane.PortRange) int {
	return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.First, b.First), cmp.Compare(a.Last, b.Last))
}

func compareRule(a, b dataplane.Rule) int {
	if c := slices.CompareFunc(a.Peers, b.Peers, comparePeer); c != 0 {
		return c
	}
	return slices.CompareFunc(a.Ports, b.Ports, comparePorts)
}
