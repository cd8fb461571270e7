// Package fuzzer holds the fuzz functions for the internal compute.ferrite.dev types: random data
// is fine for most fields, but fields that defaulting fills in must not be left empty, or a round
// trip through a served version (which applies defaults on decode) changes them.
package fuzzer

import (
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/randfill"

	"github.com/ferrite-dev/ferrite/apis/compute"
	"github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
)

// Funcs returns the fuzz functions for the compute API group.
var Funcs = func(codecs runtimeserializer.CodecFactory) []interface{} {
	return []interface{}{
		func(s *compute.MachineSpec, c randfill.Continue) {
			c.FillNoCustom(s)
			if s.Power == "" {
				s.Power = compute.PowerOn
			}
		},
		func(s *compute.TopologySpreadConstraint, c randfill.Continue) {
			c.FillNoCustom(s)
			if s.MaxSkew == 0 {
				s.MaxSkew = 1
			}
			if s.WhenUnsatisfiable == "" {
				s.WhenUnsatisfiable = compute.DoNotSchedule
			}
		},
		func(s *compute.SecretKeySelector, c randfill.Continue) {
			c.FillNoCustom(s)
			if s.Key == "" {
				s.Key = v1alpha1.DefaultIgnitionKey
			}
		},
	}
}
