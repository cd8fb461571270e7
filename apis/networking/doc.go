// Package networking holds the internal (hub) types of the networking.ferrite.dev API group. Served
// versions convert to and from these; validation and the registry work on them.
//
// +k8s:deepcopy-gen=package
// +groupName=networking.ferrite.dev
package networking
