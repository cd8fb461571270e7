package v1alpha1_test

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ferrite-dev/ferrite/apis/networking"
	"github.com/ferrite-dev/ferrite/apis/networking/install"
	"github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/networking/validation"
)

func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	scheme := runtime.NewScheme()
	install.Install(scheme)
	return scheme
}

var (
	ipv4      = []corev1.IPFamily{corev1.IPv4Protocol}
	ipv6      = []corev1.IPFamily{corev1.IPv6Protocol}
	dualStack = []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
)

func TestNetworkInterfaceDefaults(t *testing.T) {
	scheme := newScheme(t)
	tests := []struct {
		name string
		spec v1alpha1.NetworkInterfaceSpec
		want []corev1.IPFamily
	}{
		{name: "ipv4 by default", want: ipv4},
		{name: "explicit families kept", spec: v1alpha1.NetworkInterfaceSpec{IPFamilies: dualStack}, want: dualStack},
		// The served type documents "defaults to the families of spec.ips, or IPv4".
		{name: "family of a fixed ipv6 address", spec: v1alpha1.NetworkInterfaceSpec{IPs: []v1alpha1.IPSource{{Value: "2001:db8::5"}}}, want: ipv6},
		{name: "families of fixed addresses in order", spec: v1alpha1.NetworkInterfaceSpec{IPs: []v1alpha1.IPSource{{Value: "2001:db8::5"}, {Value: "10.0.0.5"}}}, want: dualStack},
		{name: "prefix refs give no family", spec: v1alpha1.NetworkInterfaceSpec{IPs: []v1alpha1.IPSource{{PrefixRef: &corev1.LocalObjectReference{Name: "p"}}}}, want: ipv4},
		{name: "garbage address gives no family", spec: v1alpha1.NetworkInterfaceSpec{IPs: []v1alpha1.IPSource{{Value: "nope"}}}, want: ipv4},
		{name: "explicit families not extended by ips", spec: v1alpha1.NetworkInterfaceSpec{IPFamilies: ipv4, IPs: []v1alpha1.IPSource{{Value: "2001:db8::5"}}}, want: ipv4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nic := &v1alpha1.NetworkInterface{Spec: tt.spec}
			scheme.Default(nic)
			if !slices.Equal(nic.Spec.IPFamilies, tt.want) {
				t.Errorf("ipFamilies = %v, want %v", nic.Spec.IPFamilies, tt.want)
			}
		})
	}
}

func TestVirtualIPDefaults(t *testing.T) {
	scheme := newScheme(t)
	vip := &v1alpha1.VirtualIP{}
	scheme.Default(vip)
	if vip.Spec.Type != v1alpha1.VirtualIPTypePublic || vip.Spec.IPFamily != corev1.IPv4Protocol {
		t.Errorf("defaulted spec = %+v, want Public IPv4", vip.Spec)
	}
	vip = &v1alpha1.VirtualIP{Spec: v1alpha1.VirtualIPSpec{IPFamily: corev1.IPv6Protocol}}
	scheme.Default(vip)
	if vip.Spec.IPFamily != corev1.IPv6Protocol {
		t.Errorf("ipFamily = %q, want the given IPv6", vip.Spec.IPFamily)
	}
}

func TestNATGatewayDefaults(t *testing.T) {
	scheme := newScheme(t)
	tests := []struct {
		name string
		spec v1alpha1.NATGatewaySpec
		want v1alpha1.NATGatewaySpec
	}{
		{name: "all defaults", want: v1alpha1.NATGatewaySpec{Type: v1alpha1.VirtualIPTypePublic, IPFamily: corev1.IPv4Protocol, PortsPerNetworkInterface: 2048}},
		{name: "given values kept",
			spec: v1alpha1.NATGatewaySpec{IPFamily: corev1.IPv6Protocol, PortsPerNetworkInterface: 512},
			want: v1alpha1.NATGatewaySpec{Type: v1alpha1.VirtualIPTypePublic, IPFamily: corev1.IPv6Protocol, PortsPerNetworkInterface: 512}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gateway := &v1alpha1.NATGateway{Spec: tt.spec}
			scheme.Default(gateway)
			if gateway.Spec != tt.want {
				t.Errorf("spec = %+v, want %+v", gateway.Spec, tt.want)
			}
		})
	}
	if v1alpha1.DefaultPortsPerNetworkInterface != 2048 {
		t.Errorf("DefaultPortsPerNetworkInterface = %d, want 2048", v1alpha1.DefaultPortsPerNetworkInterface)
	}
}

func TestLoadBalancerDefaults(t *testing.T) {
	scheme := newScheme(t)
	lb := &v1alpha1.LoadBalancer{Spec: v1alpha1.LoadBalancerSpec{Ports: []v1alpha1.LoadBalancerPort{
		{Port: 443}, {Protocol: corev1.ProtocolUDP, Port: 53},
	}}}
	scheme.Default(lb)
	if !slices.Equal(lb.Spec.IPFamilies, ipv4) {
		t.Errorf("ipFamilies = %v, want IPv4", lb.Spec.IPFamilies)
	}
	if lb.Spec.Ports[0].Protocol != corev1.ProtocolTCP || lb.Spec.Ports[1].Protocol != corev1.ProtocolUDP {
		t.Errorf("protocols = %q, %q; want TCP (default), UDP (given)", lb.Spec.Ports[0].Protocol, lb.Spec.Ports[1].Protocol)
	}
	lb = &v1alpha1.LoadBalancer{Spec: v1alpha1.LoadBalancerSpec{IPFamilies: ipv6}}
	scheme.Default(lb)
	if !slices.Equal(lb.Spec.IPFamilies, ipv6) {
		t.Errorf("ipFamilies = %v, want the given IPv6", lb.Spec.IPFamilies)
	}
}

func TestNetworkPolicyDefaults(t *testing.T) {
	scheme := newScheme(t)
	ingress, egress := v1alpha1.PolicyTypeIngress, v1alpha1.PolicyTypeEgress
	rule := v1alpha1.NetworkPolicyRule{Ports: []v1alpha1.LoadBalancerPort{{Port: 22}}}
	tests := []struct {
		name string
		spec v1alpha1.NetworkPolicySpec
		want []v1alpha1.PolicyType
	}{
		{name: "ingress by default", want: []v1alpha1.PolicyType{ingress}},
		{name: "ingress rules only", spec: v1alpha1.NetworkPolicySpec{Ingress: []v1alpha1.NetworkPolicyRule{rule}}, want: []v1alpha1.PolicyType{ingress}},
		{name: "egress rules add egress", spec: v1alpha1.NetworkPolicySpec{Egress: []v1alpha1.NetworkPolicyRule{rule}}, want: []v1alpha1.PolicyType{ingress, egress}},
		{name: "explicit types kept", spec: v1alpha1.NetworkPolicySpec{PolicyTypes: []v1alpha1.PolicyType{egress}}, want: []v1alpha1.PolicyType{egress}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy := &v1alpha1.NetworkPolicy{Spec: tt.spec}
			scheme.Default(policy)
			if !slices.Equal(policy.Spec.PolicyTypes, tt.want) {
				t.Errorf("policyTypes = %v, want %v", policy.Spec.PolicyTypes, tt.want)
			}
		})
	}
	// Rule ports get TCP in both directions.
	policy := &v1alpha1.NetworkPolicy{Spec: v1alpha1.NetworkPolicySpec{
		Ingress: []v1alpha1.NetworkPolicyRule{*rule.DeepCopy()},
		Egress:  []v1alpha1.NetworkPolicyRule{*rule.DeepCopy()},
	}}
	scheme.Default(policy)
	if policy.Spec.Ingress[0].Ports[0].Protocol != corev1.ProtocolTCP || policy.Spec.Egress[0].Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("rule port protocols = %q, %q; want TCP", policy.Spec.Ingress[0].Ports[0].Protocol, policy.Spec.Egress[0].Ports[0].Protocol)
	}
}

// Minimal served objects, once defaulted and converted, pass validation: every field validation
// requires and the client may omit has a default that satisfies it.
func TestDefaultedObjectsAreValid(t *testing.T) {
	scheme := newScheme(t)
	network := corev1.LocalObjectReference{Name: "tenant"}
	tests := []struct {
		name     string
		served   runtime.Object
		internal runtime.Object
		validate func(runtime.Object) field.ErrorList
	}{
		{name: "NetworkInterface", served: &v1alpha1.NetworkInterface{Spec: v1alpha1.NetworkInterfaceSpec{
			NetworkRef: network, IPs: []v1alpha1.IPSource{{Value: "2001:db8::5"}, {Value: "10.0.0.5"}},
		}}, internal: &networking.NetworkInterface{}, validate: func(o runtime.Object) field.ErrorList {
			return validation.ValidateNetworkInterface(o.(*networking.NetworkInterface))
		}},
		{name: "VirtualIP", served: &v1alpha1.VirtualIP{}, internal: &networking.VirtualIP{}, validate: func(o runtime.Object) field.ErrorList {
			return validation.ValidateVirtualIP(o.(*networking.VirtualIP))
		}},
		{name: "NATGateway", served: &v1alpha1.NATGateway{Spec: v1alpha1.NATGatewaySpec{NetworkRef: network}}, internal: &networking.NATGateway{}, validate: func(o runtime.Object) field.ErrorList {
			return validation.ValidateNATGateway(o.(*networking.NATGateway))
		}},
		{name: "LoadBalancer", served: &v1alpha1.LoadBalancer{Spec: v1alpha1.LoadBalancerSpec{
			Type: v1alpha1.LoadBalancerTypePublic, NetworkRef: network, Ports: []v1alpha1.LoadBalancerPort{{Port: 443}},
		}}, internal: &networking.LoadBalancer{}, validate: func(o runtime.Object) field.ErrorList {
			return validation.ValidateLoadBalancer(o.(*networking.LoadBalancer))
		}},
		{name: "NetworkPolicy", served: &v1alpha1.NetworkPolicy{Spec: v1alpha1.NetworkPolicySpec{
			NetworkRef: network, Egress: []v1alpha1.NetworkPolicyRule{{Ports: []v1alpha1.LoadBalancerPort{{Port: 53}}}},
		}}, internal: &networking.NetworkPolicy{}, validate: func(o runtime.Object) field.ErrorList {
			return validation.ValidateNetworkPolicy(o.(*networking.NetworkPolicy))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scheme.Default(tt.served)
			if err := scheme.Convert(tt.served, tt.internal, nil); err != nil {
				t.Fatal(err)
			}
			if errs := tt.validate(tt.internal); len(errs) > 0 {
				t.Errorf("defaulted %s is invalid: %v", tt.name, errs.ToAggregate())
			}
		})
	}
}
