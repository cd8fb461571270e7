package storage

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// VolumePool is a storage backend (for example a Ceph pool) that holds volumes. Its
// volumepoollet registers it, reports capacity per volume class and heartbeats.
type VolumePool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state of the pool.
	Spec VolumePoolSpec `json:"spec,omitempty"`
	// Status is the observed state of the pool, written by its poollet.
	Status VolumePoolStatus `json:"status,omitempty"`
}

// VolumePoolSpec is the desired state of a VolumePool.
type VolumePoolSpec struct {
	// ProviderID identifies the pool at its provider, for example "ceph://cluster/pool". Immutable once set.
	// +optional
	ProviderID string `json:"providerID,omitempty"`
	// Taints keep volumes that do not tolerate them off the pool.
	// +optional
	Taints []corev1.Taint `json:"taints,omitempty"`
}

// VolumePoolConditionReady is the condition type a poollet refreshes with every heartbeat.
const VolumePoolConditionReady = "Ready"

// VolumePoolStatus is the observed state of a VolumePool.
type VolumePoolStatus struct {
	// ObservedGeneration is the metadata.generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready is refreshed on every heartbeat; it turns Unknown when heartbeats stop.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Capacity is, per volume class name, the total bytes the pool holds for that class.
	// +optional
	Capacity corev1.ResourceList `json:"capacity,omitempty"`
	// Allocatable is, per volume class name, the bytes the pool can still give to new volumes.
	// +optional
	Allocatable corev1.ResourceList `json:"allocatable,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// VolumePoolList is a list of VolumePools.
type VolumePoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the volume pools.
	Items []VolumePool `json:"items"`
}
