// Package v1alpha1 is the served v1alpha1 version of the core.ferrite.dev API group.
//
// +k8s:deepcopy-gen=package
// +k8s:conversion-gen=github.com/ferrite-dev/ferrite/apis/core
// +k8s:defaulter-gen=TypeMeta
// +k8s:openapi-gen=true
// +k8s:openapi-model-package=dev.ferrite.core.v1alpha1
// +k8s:protobuf-gen=package
// +groupName=core.ferrite.dev
package v1alpha1
