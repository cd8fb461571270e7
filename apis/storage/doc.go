// Package storage holds the internal (hub) types of the storage.ferrite.dev API group. Served
// versions convert to and from these; validation and the registry work on them.
//
// +k8s:deepcopy-gen=package
// +groupName=storage.ferrite.dev
package storage
