// Package fuzzer holds the fuzz functions for the internal ipam.ferrite.dev types: fields that
// defaulting fills in must not be left empty, or a round trip through a served version (which
// applies defaults on decode) changes them.
package fuzzer

import (
	corev1 "k8s.io/api/core/v1"
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/randfill"

	"github.com/ferrite-dev/ferrite/apis/ipam"
)

// Funcs returns the fuzz functions for the ipam API group.
var Funcs = func(codecs runtimeserializer.CodecFactory) []interface{} {
	return []interface{}{
		func(s *ipam.PrefixSpec, c randfill.Continue) {
			c.FillNoCustom(s)
			if s.IPFamily == "" {
				s.IPFamily = corev1.IPv4Protocol
			}
		},
	}
}
