// Package fuzzer holds the fuzz functions for the internal storage.ferrite.dev types: fields that
// defaulting fills in must not be left empty, or a round trip through a served version (which
// applies defaults on decode) changes them.
package fuzzer

import (
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/randfill"

	"github.com/ferrite-dev/ferrite/apis/storage"
)

// Funcs returns the fuzz functions for the storage API group.
var Funcs = func(codecs runtimeserializer.CodecFactory) []interface{} {
	return []interface{}{
		func(class *storage.VolumeClass, c randfill.Continue) {
			c.FillNoCustom(class)
			if class.ResizePolicy == "" {
				class.ResizePolicy = storage.ResizePolicyStatic
			}
		},
	}
}
