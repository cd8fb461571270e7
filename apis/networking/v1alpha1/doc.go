// Package v1alpha1 is the served v1alpha1 version of the networking.ferrite.dev API group:
// Networks, NetworkInterfaces, VirtualIPs, NATGateways, LoadBalancers and NetworkPolicies.
//
// +k8s:deepcopy-gen=package
// +k8s:conversion-gen=github.com/ferrite-dev/ferrite/apis/networking
// +k8s:defaulter-gen=TypeMeta
// +k8s:openapi-gen=true
// +k8s:openapi-model-package=dev.ferrite.networking.v1alpha1
// +k8s:protobuf-gen=package
// +groupName=networking.ferrite.dev
package v1alpha1
