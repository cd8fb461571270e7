package follower

import (
	"cmp"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// families says which address families an interface has (status.ips): a public address of
// another family has nothing to be translated to.
type families struct{ v4, v6 bool }

func (f families) has(a netip.Addr) bool { return a.Is4() && f.v4 || a.Is6() && f.v6 }

// publicAddr parses a public address from the API: a plain address of a family the interface
// has. Anything else is left out (the apiserver validates these fields; what still does not
// fit must not make the agent refuse the host's whole state).
func publicAddr(s string, fam families) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Is4In6() || a.IsUnspecified() || !fam.has(a) {
		return netip.Addr{}, false
	}
	return a, true
}

// virtualIP is the interface's VirtualIP (status.virtualIP, written by the controller from the
// bound VirtualIP); zero when none.
func virtualIP(nic *networkingv1alpha1.NetworkInterface, fam families) netip.Addr {
	a, _ := publicAddr(nic.Status.VirtualIP, fam)
	return a
}

// natShare is the interface's share of a NAT gateway (status.nat); nil when none or when the
// interface has a VirtualIP, which its public traffic then leaves from.
func natShare(nic *networkingv1alpha1.NetworkInterface, fam families, vip netip.Addr) *dataplane.NAT {
	n := nic.Status.NAT
	if n == nil || vip.IsValid() {
		return nil
	}
	ip, ok := publicAddr(n.IP, fam)
	if !ok || n.PortMin < 0 || n.PortMax > 65535 || n.PortMin > n.PortMax || n.PortMin%route.NATPortAlign != 0 {
		return nil
	}
	return &dataplane.NAT{IP: ip, PortMin: uint16(n.PortMin), PortMax: uint16(n.PortMax)}
}

// loadBalancers are the public load balancers of the interface's network (from the watch)
// whose selector matches its labels, one per address of a family the interface has, sorted by
// address (one per address: the first by name wins should two claim it).
func loadBalancers(w *networkWatch, nic *networkingv1alpha1.NetworkInterface, fam families) []dataplane.LoadBalancer {
	objs := w.loadBalancers.GetStore().List()
	lbs := make([]*networkingv1alpha1.LoadBalancer, 0, len(objs))
	for _, obj := range objs {
		if lb, ok := obj.(*networkingv1alpha1.LoadBalancer); ok {
			lbs = append(lbs, lb)
		}
	}
	slices.SortFunc(lbs, func(a, b *networkingv1alpha1.LoadBalancer) int { return cmp.Compare(a.Name, b.Name) })
	var out []dataplane.LoadBalancer
	for _, lb := range lbs {
		if lb.Spec.Type != networkingv1alpha1.LoadBalancerTypePublic || !targets(lb.Spec.NetworkInterfaceSelector, nic.Labels) {
			continue // internal load balancers are out of scope
		}
		ports, ok := lbPorts(lb.Spec.Ports)
		if !ok {
			continue // fewer ports would be all ports: never widen a load balancer
		}
		for _, s := range lb.Status.IPs {
			if ip, ok := publicAddr(s, fam); ok {
				out = append(out, dataplane.LoadBalancer{IP: ip, Ports: slices.Clone(ports)})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b dataplane.LoadBalancer) int { return a.IP.Compare(b.IP) })
	return slices.CompactFunc(out, func(a, b dataplane.LoadBalancer) bool { return a.IP == b.IP })
}

// targets says whether a load balancer's selector selects an interface's labels; no selector,
// or one that cannot be read, selects nothing.
func targets(s *metav1.LabelSelector, set map[string]string) bool {
	if s == nil {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	return err == nil && sel.Matches(labels.Set(set))
}

// lbPorts converts a load balancer's ports (TCP by default, endPort making a range); false
// when one cannot be.
func lbPorts(in []networkingv1alpha1.LoadBalancerPort) ([]dataplane.PortRange, bool) {
	var out []dataplane.PortRange
	for _, p := range in {
		proto := cmp.Or(p.Protocol, corev1.ProtocolTCP)
		switch proto {
		case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		default:
			return nil, false
		}
		if p.Port < 1 || p.Port > 65535 {
			return nil, false
		}
		r := dataplane.PortRange{Protocol: string(proto), First: uint16(p.Port)}
		if e := p.EndPort; e != nil && *e != p.Port {
			if *e < p.Port || *e > 65535 {
				return nil, false
			}
			r.Last = uint16(*e)
		}
		out = append(out, r)
	}
	return out, true
}
