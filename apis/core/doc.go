// Package core holds the internal (hub) types of the core.ferrite.dev API group. Served
// versions convert to and from these; validation and the registry work on them.
//
// +k8s:deepcopy-gen=package
// +groupName=core.ferrite.dev
package core
