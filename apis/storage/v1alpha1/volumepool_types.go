package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// VolumePool is a storage backend (for example a Ceph pool) that holds volumes. Its
// volumepoollet registers it, reports capacity per volume class and heartbeats.
type VolumePool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// Spec is the desired state of the pool.
	Spec VolumePoolSpec `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`
	// Status is the observed state of the pool, written by its poollet.
	Status VolumePoolStatus `json:"status,omitempty" protobuf:"bytes,3,opt,name=status"`
}

// VolumePoolSpec is the desired state of a VolumePool.
type VolumePoolSpec struct {
	// ProviderID identifies the pool at its provider, for example "ceph://cluster/pool". Immutable once set.
	// +optional
	ProviderID string `json:"providerID,omitempty" protobuf:"bytes,1,opt,name=providerID"`
	// Taints keep volumes that do not tolerate them off the pool.
	// +optional
	// +listType=atomic
	Taints []corev1.Taint `json:"taints,omitempty" protobuf:"bytes,2,rep,name=taints"`
}

// VolumePoolConditionReady is the condition type a poollet refreshes with every heartbeat.
const VolumePoolConditionReady = "Ready"

// VolumePoolStatus is the observed state of a VolumePool.
type VolumePoolStatus struct {
	// ObservedGeneration is the metadata.generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty" protobuf:"varint,1,opt,name=observedGeneration"`
	// Conditions: Ready is refreshed on every heartbeat; it turns Unknown when heartbeats stop.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" protobuf:"bytes,2,rep,name=conditions"`
	// Capacity is, per volume class name, the total bytes the pool holds for that class.
	// +optional
	Capacity corev1.ResourceList `json:"capacity,omitempty" protobuf:"bytes,3,rep,name=capacity,casttype=k8s.io/api/core/v1.ResourceList,castkey=k8s.io/api/core/v1.ResourceName"`
	// Allocatable is, per volume class name, the bytes the pool can still give to new volumes.
	// +optional
	Allocatable corev1.ResourceList `json:"allocatable,omitempty" protobuf:"bytes,4,rep,name=allocatable,casttype=k8s.io/api/core/v1.ResourceList,castkey=k8s.io/api/core/v1.ResourceName"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// VolumePoolList is a list of VolumePools.
type VolumePoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	// Items are the volume pools.
	Items []VolumePool `json:"items" protobuf:"bytes,2,rep,name=items"`
}
