package v1alpha1

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// DefaultPortsPerNetworkInterface is the NAT port range size when none is given.
const DefaultPortsPerNetworkInterface = 2048

func addDefaultingFuncs(scheme *runtime.Scheme) error {
	return RegisterDefaults(scheme)
}

// SetDefaults_NetworkInterfaceSpec sets the families of the fixed addresses in spec.ips, or IPv4,
// when no family is given.
func SetDefaults_NetworkInterfaceSpec(spec *NetworkInterfaceSpec) {
	if len(spec.IPFamilies) > 0 {
		return
	}
	for _, ip := range spec.IPs {
		addr, err := netip.ParseAddr(ip.Value)
		if err != nil {
			continue
		}
		family := corev1.IPv4Protocol
		if addr.Is6() {
			family = corev1.IPv6Protocol
		}
		if !slices.Contains(spec.IPFamilies, family) {
			spec.IPFamilies = append(spec.IPFamilies, family)
		}
	}
	if len(spec.IPFamilies) == 0 {
		spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	}
}

// SetDefaults_VirtualIPSpec sets a public IPv4 address.
func SetDefaults_VirtualIPSpec(spec *VirtualIPSpec) {
	if spec.Type == "" {
		spec.Type = VirtualIPTypePublic
	}
	if spec.IPFamily == "" {
		spec.IPFamily = corev1.IPv4Protocol
	}
}

// SetDefaults_NATGatewaySpec sets public IPv4 and the default port range size.
func SetDefaults_NATGatewaySpec(spec *NATGatewaySpec) {
	if spec.Type == "" {
		spec.Type = VirtualIPTypePublic
	}
	if spec.IPFamily == "" {
		spec.IPFamily = corev1.IPv4Protocol
	}
	if spec.PortsPerNetworkInterface == 0 {
		spec.PortsPerNetworkInterface = DefaultPortsPerNetworkInterface
	}
}

// SetDefaults_LoadBalancerSpec sets IPv4.
func SetDefaults_LoadBalancerSpec(spec *LoadBalancerSpec) {
	if len(spec.IPFamilies) == 0 {
		spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	}
}

// SetDefaults_LoadBalancerPort sets TCP.
func SetDefaults_LoadBalancerPort(port *LoadBalancerPort) {
	if port.Protocol == "" {
		port.Protocol = corev1.ProtocolTCP
	}
}

// SetDefaults_NetworkPolicySpec governs ingress, and egress when egress rules are given.
func SetDefaults_NetworkPolicySpec(spec *NetworkPolicySpec) {
	if len(spec.PolicyTypes) == 0 {
		spec.PolicyTypes = []PolicyType{PolicyTypeIngress}
		if len(spec.Egress) > 0 {
			spec.PolicyTypes = append(spec.PolicyTypes, PolicyTypeEgress)
		}
	}
}
