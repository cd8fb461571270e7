// Package v1alpha1 is the served v1alpha1 version of the storage.ferrite.dev API group:
// Volumes, VolumeClasses, VolumePools and VolumeSnapshots.
//
// +k8s:deepcopy-gen=package
// +k8s:conversion-gen=github.com/ferrite-dev/ferrite/apis/storage
// +k8s:defaulter-gen=TypeMeta
// +k8s:openapi-gen=true
// +k8s:openapi-model-package=dev.ferrite.storage.v1alpha1
// +k8s:protobuf-gen=package
// +groupName=storage.ferrite.dev
package v1alpha1
