package v1alpha1

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func addDefaultingFuncs(scheme *runtime.Scheme) error {
	return RegisterDefaults(scheme)
}

// SetDefaults_PrefixSpec derives the IP family from the prefix, else IPv4.
func SetDefaults_PrefixSpec(spec *PrefixSpec) {
	if spec.IPFamily != "" {
		return
	}
	spec.IPFamily = corev1.IPv4Protocol
	if parsed, err := netip.ParsePrefix(spec.Prefix); err == nil && parsed.Addr().Is6() {
		spec.IPFamily = corev1.IPv6Protocol
	}
}
