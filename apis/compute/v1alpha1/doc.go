// Package v1alpha1 is the served v1alpha1 version of the compute.ferrite.dev API group:
// Machines, MachineClasses and MachinePools.
//
// +k8s:deepcopy-gen=package
// +k8s:conversion-gen=github.com/ferrite-dev/ferrite/apis/compute
// +k8s:defaulter-gen=TypeMeta
// +k8s:openapi-gen=true
// +k8s:openapi-model-package=dev.ferrite.compute.v1alpha1
// +k8s:protobuf-gen=package
// +groupName=compute.ferrite.dev
package v1alpha1
