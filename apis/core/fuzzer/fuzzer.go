// Package fuzzer holds the fuzz functions for the internal core.ferrite.dev types. The group has
// no defaults and its quantities are covered by apimachinery's fuzzer, so the list is empty; it
// exists so that every group is tested the same way.
package fuzzer

import (
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
)

// Funcs returns the fuzz functions for the core API group.
var Funcs = func(codecs runtimeserializer.CodecFactory) []interface{} {
	return nil
}
