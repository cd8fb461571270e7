// Package fuzzer holds the fuzz functions for the internal networking.ferrite.dev types: fields
// that defaulting fills in must not be left empty, or a round trip through a served version
// (which applies defaults on decode) changes them.
package fuzzer

import (
	corev1 "k8s.io/api/core/v1"
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/randfill"

	"github.com/ferrite-dev/ferrite/apis/networking"
	"github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
)

// Funcs returns the fuzz functions for the networking API group.
var Funcs = func(codecs runtimeserializer.CodecFactory) []interface{} {
	return []interface{}{
		func(s *networking.NetworkInterfaceSpec, c randfill.Continue) {
			c.FillNoCustom(s)
			if len(s.IPFamilies) == 0 {
				s.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
			}
		},
		func(s *networking.VirtualIPSpec, c randfill.Continue) {
			c.FillNoCustom(s)
			if s.Type == "" {
				s.Type = networking.VirtualIPTypePublic
			}
			if s.IPFamily == "" {
				s.IPFamily = corev1.IPv4Protocol
			}
		},
		func(s *networking.NATGatewaySpec, c randfill.Continue) {
			c.FillNoCustom(s)
			if s.Type == "" {
				s.Type = networking.VirtualIPTypePublic
			}
			if s.IPFamily == "" {
				s.IPFamily = corev1.IPv4Protocol
			}
			if s.PortsPerNetworkInterface == 0 {
				s.PortsPerNetworkInterface = v1alpha1.DefaultPortsPerNetworkInterface
			}
		},
		func(s *networking.LoadBalancerSpec, c randfill.Continue) {
			c.FillNoCustom(s)
			if len(s.IPFamilies) == 0 {
				s.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
			}
		},
		func(p *networking.LoadBalancerPort, c randfill.Continue) {
			c.FillNoCustom(p)
			if p.Protocol == "" {
				p.Protocol = corev1.ProtocolTCP
			}
		},
		func(s *networking.NetworkPolicySpec, c randfill.Continue) {
			c.FillNoCustom(s)
			if len(s.PolicyTypes) == 0 {
				s.PolicyTypes = []networking.PolicyType{networking.PolicyTypeIngress}
			}
		},
	}
}
