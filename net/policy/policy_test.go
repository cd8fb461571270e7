package policy

import (
	"net/netip"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/net/dataplane"
)

func nic(ns, name, network string, lbls map[string]string, ips ...string) *networkingv1alpha1.NetworkInterface {
	n := &networkingv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls}}
	n.Spec.NetworkRef.Name = network
	n.Status.IPs = ips
	return n
}

func pol(ns, network string, sel map[string]string, spec networkingv1alpha1.NetworkPolicySpec) *networkingv1alpha1.NetworkPolicy {
	spec.NetworkRef.Name = network
	spec.NetworkInterfaceSelector = metav1.LabelSelector{MatchLabels: sel}
	return &networkingv1alpha1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"}, Spec: spec}
}

func from(peers ...networkingv1alpha1.NetworkPolicyPeer) networkingv1alpha1.NetworkPolicyRule {
	return networkingv1alpha1.NetworkPolicyRule{Peers: peers}
}

func bySelector(lbls map[string]string) networkingv1alpha1.NetworkPolicyPeer {
	return networkingv1alpha1.NetworkPolicyPeer{NetworkInterfaceSelector: &metav1.LabelSelector{MatchLabels: lbls}}
}

func block(cidr string, except ...string) networkingv1alpha1.NetworkPolicyPeer {
	return networkingv1alpha1.NetworkPolicyPeer{IPBlock: &networkingv1alpha1.IPBlock{CIDR: cidr, Except: except}}
}

func peer(prefix string, except ...string) dataplane.Peer {
	p := dataplane.Peer{Prefix: netip.MustParsePrefix(prefix)}
	for _, e := range except {
		p.Except = append(p.Except, netip.MustParsePrefix(e))
	}
	return p
}

func ptr(v int32) *int32 { return &v }

var (
	web = map[string]string{"app": "web"}
	db  = map[string]string{"app": "db"}
)

func TestComputeNoPolicySelects(t *testing.T) {
	target := nic("a", "db-0", "net", db, "10.0.0.2")
	policies := []*networkingv1alpha1.NetworkPolicy{
		pol("a", "net", web, networkingv1alpha1.NetworkPolicySpec{}),   // other labels
		pol("a", "other", db, networkingv1alpha1.NetworkPolicySpec{}),  // other network
		pol("b", "net", nil, networkingv1alpha1.NetworkPolicySpec{}),   // other namespace
		pol("b", "other", nil, networkingv1alpha1.NetworkPolicySpec{}), // both
	}
	if got := Compute(policies, nil, target); got != nil {
		t.Fatalf("policy for an interface no policy selects: %+v", got)
	}
}

func TestComputePeersBySelector(t *testing.T) {
	target := nic("a", "db-0", "net", db, "10.0.0.2")
	nics := []*networkingv1alpha1.NetworkInterface{
		target,
		nic("a", "web-1", "net", web, "10.0.0.4", "fd00::4"),
		nic("a", "web-0", "net", web, "10.0.0.3"),
		nic("a", "web-x", "other", web, "10.9.0.3"), // same labels, other network
		nic("b", "web-y", "net", web, "10.8.0.3"),   // same labels, other namespace
		nic("a", "web-2", "net", web),               // no address yet
	}
	nics[1].Status.Prefixes = []string{"10.1.4.0/24"}
	policies := []*networkingv1alpha1.NetworkPolicy{pol("a", "net", db, networkingv1alpha1.NetworkPolicySpec{
		Ingress: []networkingv1alpha1.NetworkPolicyRule{{
			Peers: []networkingv1alpha1.NetworkPolicyPeer{bySelector(web)},
			Ports: []networkingv1alpha1.LoadBalancerPort{{Port: 5432}},
		}},
	})}
	want := &dataplane.Policy{IngressIsolated: true, Ingress: []dataplane.Rule{{
		Peers: []dataplane.Peer{peer("10.0.0.3/32"), peer("10.0.0.4/32"), peer("10.1.4.0/24"), peer("fd00::4/128")},
		Ports: []dataplane.PortRange{{Protocol: "TCP", First: 5432}},
	}}}
	if got := Compute(policies, nics, target); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestComputeSelectorMatchingNothingAllowsNothing(t *testing.T) {
	target := nic("a", "db-0", "net", db, "10.0.0.2")
	policies := []*networkingv1alpha1.NetworkPolicy{pol("a", "net", db, networkingv1alpha1.NetworkPolicySpec{
		Ingress: []networkingv1alpha1.NetworkPolicyRule{from(bySelector(web))},
	})}
	want := &dataplane.Policy{IngressIsolated: true}
	if got := Compute(policies, []*networkingv1alpha1.NetworkInterface{target}, target); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want isolated with no rule (an empty peer list would mean any)", got)
	}
}

func TestComputeIPBlocksAndPorts(t *testing.T) {
	target := nic("a", "db-0", "net", db, "10.0.0.2")
	policies := []*networkingv1alpha1.NetworkPolicy{pol("a", "net", nil, networkingv1alpha1.NetworkPolicySpec{
		Ingress: []networkingv1alpha1.NetworkPolicyRule{{
			Peers: []networkingv1alpha1.NetworkPolicyPeer{block("10.0.0.0/8", "10.2.0.0/16", "10.1.0.0/16"), block("2001:db8::/32")},
			Ports: []networkingv1alpha1.LoadBalancerPort{
				{Protocol: corev1.ProtocolUDP, Port: 53},
				{Port: 8000, EndPort: ptr(8080)},
				{Protocol: corev1.ProtocolSCTP, Port: 9, EndPort: ptr(9)},
			},
		}},
	})}
	want := &dataplane.Policy{IngressIsolated: true, Ingress: []dataplane.Rule{{
		Peers: []dataplane.Peer{peer("10.0.0.0/8", "10.1.0.0/16", "10.2.0.0/16"), peer("2001:db8::/32")},
		Ports: []dataplane.PortRange{{Protocol: "SCTP", First: 9}, {Protocol: "TCP", First: 8000, Last: 8080}, {Protocol: "UDP", First: 53}},
	}}}
	if got := Compute(policies, nil, target); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestComputePolicyTypes(t *testing.T) {
	target := nic("a", "db-0", "net", db, "10.0.0.2")
	anyone := []networkingv1alpha1.NetworkPolicyRule{{}}
	tests := []struct {
		name string
		spec networkingv1alpha1.NetworkPolicySpec
		want dataplane.Policy
	}{
		{"default without rules isolates ingress only", networkingv1alpha1.NetworkPolicySpec{},
			dataplane.Policy{IngressIsolated: true}},
		{"default with egress rules isolates both", networkingv1alpha1.NetworkPolicySpec{Egress: anyone},
			dataplane.Policy{IngressIsolated: true, EgressIsolated: true, Egress: []dataplane.Rule{{}}}},
		{"egress only ignores ingress rules", networkingv1alpha1.NetworkPolicySpec{
			PolicyTypes: []networkingv1alpha1.PolicyType{networkingv1alpha1.PolicyTypeEgress}, Ingress: anyone},
			dataplane.Policy{EgressIsolated: true}},
		{"both without rules deny everything", networkingv1alpha1.NetworkPolicySpec{
			PolicyTypes: []networkingv1alpha1.PolicyType{networkingv1alpha1.PolicyTypeIngress, networkingv1alpha1.PolicyTypeEgress}},
			dataplane.Policy{IngressIsolated: true, EgressIsolated: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compute([]*networkingv1alpha1.NetworkPolicy{pol("a", "net", db, tt.spec)}, nil, target)
			if got == nil || !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Policies add up: the union of their rules, in a stable order whatever the input order.
func TestComputeUnionSortedAndDeduplicated(t *testing.T) {
	target := nic("a", "db-0", "net", db, "10.0.0.2")
	p1 := pol("a", "net", db, networkingv1alpha1.NetworkPolicySpec{
		Ingress: []networkingv1alpha1.NetworkPolicyRule{from(block("192.168.0.0/16")), from(block("10.0.0.0/8"))}})
	p2 := pol("a", "net", nil, networkingv1alpha1.NetworkPolicySpec{
		PolicyTypes: []networkingv1alpha1.PolicyType{networkingv1alpha1.PolicyTypeEgress},
		Egress:      []networkingv1alpha1.NetworkPolicyRule{from(block("10.0.0.0/8"))}})
	p3 := pol("a", "net", db, networkingv1alpha1.NetworkPolicySpec{
		Ingress: []networkingv1alpha1.NetworkPolicyRule{from(block("10.0.0.0/8"))}})
	want := &dataplane.Policy{
		IngressIsolated: true, Ingress: []dataplane.Rule{{Peers: []dataplane.Peer{peer("10.0.0.0/8")}}, {Peers: []dataplane.Peer{peer("192.168.0.0/16")}}},
		EgressIsolated: true, Egress: []dataplane.Rule{{Peers: []dataplane.Peer{peer("10.0.0.0/8")}}},
	}
	for _, order := range [][]*networkingv1alpha1.NetworkPolicy{{p1, p2, p3}, {p3, p2, p1}} {
		if got := Compute(order, nil, target); !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
	}
}

// What cannot be read allows nothing rather than more.
func TestComputeFailsClosed(t *testing.T) {
	target := nic("a", "db-0", "net", db, "10.0.0.2")
	bad := pol("a", "net", nil, networkingv1alpha1.NetworkPolicySpec{
		Ingress: []networkingv1alpha1.NetworkPolicyRule{
			from(block("10.0.0.0/8", "nonsense")),
			from(block("bogus")),
			{Ports: []networkingv1alpha1.LoadBalancerPort{{Protocol: "ICMP", Port: 1}}},
		}})
	bad.Spec.NetworkInterfaceSelector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}
	want := &dataplane.Policy{IngressIsolated: true}
	if got := Compute([]*networkingv1alpha1.NetworkPolicy{bad}, nil, target); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// An empty peer selector means every interface of the network (the target too), and
// expressions work as in Kubernetes.
func TestComputeSelectorForms(t *testing.T) {
	target := nic("a", "db-0", "net", db, "10.0.0.2")
	nics := []*networkingv1alpha1.NetworkInterface{target, nic("a", "web-0", "net", web, "10.0.0.3"),
		nic("a", "x", "other", web, "10.5.0.3")}
	everyone := networkingv1alpha1.NetworkPolicyPeer{NetworkInterfaceSelector: &metav1.LabelSelector{}}
	notWeb := networkingv1alpha1.NetworkPolicyPeer{NetworkInterfaceSelector: &metav1.LabelSelector{
		MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"web"}}}}}
	policies := []*networkingv1alpha1.NetworkPolicy{pol("a", "net", db, networkingv1alpha1.NetworkPolicySpec{
		Ingress: []networkingv1alpha1.NetworkPolicyRule{from(everyone)},
		Egress:  []networkingv1alpha1.NetworkPolicyRule{from(notWeb)},
	})}
	want := &dataplane.Policy{
		IngressIsolated: true, Ingress: []dataplane.Rule{{Peers: []dataplane.Peer{peer("10.0.0.2/32"), peer("10.0.0.3/32")}}},
		EgressIsolated: true, Egress: []dataplane.Rule{{Peers: []dataplane.Peer{peer("10.0.0.2/32")}}},
	}
	if got := Compute(policies, nics, target); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}
