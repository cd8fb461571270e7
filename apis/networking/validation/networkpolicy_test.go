package validation

import (
	vt "github.com/ferrite-dev/ferrite/apis/validation/validationtest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrite-dev/ferrite/apis/networking"
)

func validNetworkPolicy() *networking.NetworkPolicy {
	return &networking.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-a", Name: "web"},
		Spec: networking.NetworkPolicySpec{
			NetworkRef:               corev1.LocalObjectReference{Name: "tenant"},
			NetworkInterfaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			PolicyTypes:              []networking.PolicyType{networking.PolicyTypeIngress, networking.PolicyTypeEgress},
			Ingress: []networking.NetworkPolicyRule{{
				Peers: []networking.NetworkPolicyPeer{
					{IPBlock: &networking.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"10.0.0.0/8", "192.168.0.0/16"}}},
					{NetworkInterfaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "lb"}}},
				},
				Ports: []networking.LoadBalancerPort{{Protocol: corev1.ProtocolTCP, Port: 443}},
			}},
			Egress: []networking.NetworkPolicyRule{{
				Peers: []networking.NetworkPolicyPeer{{IPBlock: &networking.IPBlock{CIDR: "2001:db8::/32", Except: []string{"2001:db8:ff::/48"}}}},
			}},
		},
	}
}

func TestValidateNetworkPolicy(t *testing.T) {
	ingressPeer := "spec.ingress[0].peers[0]"
	tests := []struct {
		name   string
		mutate func(*networking.NetworkPolicy)
		want   []vt.FieldError
	}{
		{name: "valid", mutate: func(*networking.NetworkPolicy) {}},
		{name: "empty selector selects all", mutate: func(p *networking.NetworkPolicy) { p.Spec.NetworkInterfaceSelector = metav1.LabelSelector{} }},
		{name: "deny all", mutate: func(p *networking.NetworkPolicy) { p.Spec.Ingress, p.Spec.Egress = nil, nil }},
		// Excepting the whole block matches nothing; odd but harmless, so allowed.
		{name: "except equal to cidr", mutate: func(p *networking.NetworkPolicy) {
			p.Spec.Egress[0].Peers[0].IPBlock.Except = []string{"2001:db8::/32"}
		}},
		{name: "missing network", mutate: func(p *networking.NetworkPolicy) { p.Spec.NetworkRef.Name = "" },
			want: []vt.FieldError{vt.Required("spec.networkRef.name")}},
		{name: "bad interface selector", mutate: func(p *networking.NetworkPolicy) {
			p.Spec.NetworkInterfaceSelector.MatchLabels = map[string]string{"app": "not valid"}
		}, want: []vt.FieldError{vt.Invalid("spec.networkInterfaceSelector.matchLabels")}},
		{name: "unknown policy type", mutate: func(p *networking.NetworkPolicy) { p.Spec.PolicyTypes[1] = "Forward" },
			want: []vt.FieldError{vt.NotSupported("spec.policyTypes[1]")}},
		{name: "empty policy type", mutate: func(p *networking.NetworkPolicy) { p.Spec.PolicyTypes[0] = "" },
			want: []vt.FieldError{vt.Required("spec.policyTypes[0]")}},
		{name: "peer with neither", mutate: func(p *networking.NetworkPolicy) { p.Spec.Ingress[0].Peers[0] = networking.NetworkPolicyPeer{} },
			want: []vt.FieldError{vt.Invalid(ingressPeer)}},
		{name: "peer with both", mutate: func(p *networking.NetworkPolicy) {
			p.Spec.Ingress[0].Peers[0].NetworkInterfaceSelector = &metav1.LabelSelector{}
		}, want: []vt.FieldError{vt.Invalid(ingressPeer)}},
		{name: "bad peer selector", mutate: func(p *networking.NetworkPolicy) {
			p.Spec.Ingress[0].Peers[1].NetworkInterfaceSelector.MatchLabels = map[string]string{"bad key!": "x"}
		}, want: []vt.FieldError{vt.Invalid("spec.ingress[0].peers[1].networkInterfaceSelector.matchLabels")}},
		{name: "ip block without cidr", mutate: func(p *networking.NetworkPolicy) { p.Spec.Ingress[0].Peers[0].IPBlock.CIDR = "" },
			want: []vt.FieldError{vt.Required(ingressPeer + ".ipBlock.cidr")}},
		{name: "ip block garbage cidr", mutate: func(p *networking.NetworkPolicy) { p.Spec.Ingress[0].Peers[0].IPBlock.CIDR = "everywhere" },
			want: []vt.FieldError{vt.Invalid(ingressPeer + ".ipBlock.cidr")}},
		{name: "ip block cidr with host bits", mutate: func(p *networking.NetworkPolicy) { p.Spec.Egress[0].Peers[0].IPBlock.CIDR = "2001:db8::1/32" },
			want: []vt.FieldError{vt.Invalid("spec.egress[0].peers[0].ipBlock.cidr")}},
		{name: "except outside cidr", mutate: func(p *networking.NetworkPolicy) {
			p.Spec.Ingress[0].Peers[0].IPBlock = &networking.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16", "192.168.0.0/24"}}
		}, want: []vt.FieldError{vt.Invalid(ingressPeer + ".ipBlock.except[1]")}},
		{name: "except wider than cidr", mutate: func(p *networking.NetworkPolicy) {
			p.Spec.Ingress[0].Peers[0].IPBlock = &networking.IPBlock{CIDR: "10.1.0.0/16", Except: []string{"10.0.0.0/8"}}
		}, want: []vt.FieldError{vt.Invalid(ingressPeer + ".ipBlock.except[0]")}},
		{name: "except of the other family", mutate: func(p *networking.NetworkPolicy) {
			p.Spec.Ingress[0].Peers[0].IPBlock.Except = []string{"2001:db8::/64"}
		}, want: []vt.FieldError{vt.Invalid(ingressPeer + ".ipBlock.except[0]")}},
		{name: "except with host bits", mutate: func(p *networking.NetworkPolicy) {
			p.Spec.Ingress[0].Peers[0].IPBlock.Except = []string{"10.0.0.1/8"}
		}, want: []vt.FieldError{vt.Invalid(ingressPeer + ".ipBlock.except[0]")}},
		{name: "rule port unknown protocol", mutate: func(p *networking.NetworkPolicy) { p.Spec.Ingress[0].Ports[0].Protocol = "ICMP" },
			want: []vt.FieldError{vt.NotSupported("spec.ingress[0].ports[0].protocol")}},
		{name: "rule port out of range", mutate: func(p *networking.NetworkPolicy) {
			p.Spec.Egress[0].Ports = []networking.LoadBalancerPort{{Protocol: corev1.ProtocolUDP, Port: 70000}}
		}, want: []vt.FieldError{vt.Invalid("spec.egress[0].ports[0].port")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy := validNetworkPolicy()
			tt.mutate(policy)
			vt.Expect(t, ValidateNetworkPolicy(policy), tt.want...)
		})
	}
}

func TestValidateNetworkPolicyUpdate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*networking.NetworkPolicy)
		want []vt.FieldError
	}{
		{name: "rules may change", edit: func(p *networking.NetworkPolicy) { p.Spec.Egress = nil }},
		{name: "selector may change", edit: func(p *networking.NetworkPolicy) { p.Spec.NetworkInterfaceSelector = metav1.LabelSelector{} }},
		{name: "network is immutable", edit: func(p *networking.NetworkPolicy) { p.Spec.NetworkRef.Name = "other" },
			want: []vt.FieldError{vt.Invalid("spec.networkRef")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldPolicy := validNetworkPolicy()
			newPolicy := oldPolicy.DeepCopy()
			tt.edit(newPolicy)
			vt.Expect(t, ValidateNetworkPolicyUpdate(newPolicy, oldPolicy), tt.want...)
		})
	}
}
