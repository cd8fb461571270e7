// Package compute holds the internal (hub) types of the compute.ferrite.dev API group. Served
// versions convert to and from these; validation and the registry work on them.
//
// +k8s:deepcopy-gen=package
// +groupName=compute.ferrite.dev
package compute
