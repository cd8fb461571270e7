package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Prefix is an IP range. A root prefix states its range; a child prefix names a parent and
// either a fixed sub-range or a length, and the IPAM controller allocates it from the parent.
type Prefix struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// Spec is the desired state of the prefix.
	Spec PrefixSpec `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`
	// Status is the observed state of the prefix.
	Status PrefixStatus `json:"status,omitempty" protobuf:"bytes,3,opt,name=status"`
}

// PrefixSpec is the desired state of a Prefix.
type PrefixSpec struct {
	// IPFamily of the prefix. Defaults to the family of spec.prefix, else IPv4. Immutable.
	// +optional
	IPFamily corev1.IPFamily `json:"ipFamily,omitempty" protobuf:"bytes,1,opt,name=ipFamily,casttype=k8s.io/api/core/v1.IPFamily"`
	// Prefix is the range in CIDR notation. Required for a root prefix; for a child it is
	// either given (a fixed sub-range of the parent) or filled in by the allocator. Immutable once set.
	// +optional
	Prefix string `json:"prefix,omitempty" protobuf:"bytes,2,opt,name=prefix"`
	// PrefixLength requests a sub-range of this length from the parent when spec.prefix is empty.
	// +optional
	PrefixLength int32 `json:"prefixLength,omitempty" protobuf:"varint,3,opt,name=prefixLength"`
	// ParentRef names the parent Prefix in the same namespace; empty for a root prefix. Immutable.
	// +optional
	ParentRef *corev1.LocalObjectReference `json:"parentRef,omitempty" protobuf:"bytes,4,opt,name=parentRef"`
}

// PrefixPhase is the allocation phase of a prefix.
type PrefixPhase string

const (
	// PrefixPhasePending means the prefix waits for allocation from its parent.
	PrefixPhasePending PrefixPhase = "Pending"
	// PrefixPhaseAllocated means the range is reserved (root prefixes are allocated at once).
	PrefixPhaseAllocated PrefixPhase = "Allocated"
	// PrefixPhaseFailed means the parent has no room for the request.
	PrefixPhaseFailed PrefixPhase = "Failed"
)

// PrefixStatus is the observed state of a Prefix.
type PrefixStatus struct {
	// ObservedGeneration is the metadata.generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty" protobuf:"varint,1,opt,name=observedGeneration"`
	// Phase of the allocation.
	// +optional
	Phase PrefixPhase `json:"phase,omitempty" protobuf:"bytes,2,opt,name=phase,casttype=PrefixPhase"`
	// Used are the sub-ranges handed out to children, in CIDR notation.
	// +optional
	// +listType=atomic
	Used []string `json:"used,omitempty" protobuf:"bytes,3,rep,name=used"`
	// Conditions are the detailed observations.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" protobuf:"bytes,4,rep,name=conditions"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// PrefixList is a list of Prefixes.
type PrefixList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	// Items are the prefixes.
	Items []Prefix `json:"items" protobuf:"bytes,2,rep,name=items"`
}
