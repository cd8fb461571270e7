// Package ipam holds the internal (hub) types of the ipam.ferrite.dev API group. Served
// versions convert to and from these; validation and the registry work on them.
//
// +k8s:deepcopy-gen=package
// +groupName=ipam.ferrite.dev
package ipam
