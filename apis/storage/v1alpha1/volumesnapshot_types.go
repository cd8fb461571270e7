package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// VolumeSnapshot is a point-in-time copy of a Volume, usable as the data source of new volumes.
type VolumeSnapshot struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// Spec is the desired state of the snapshot.
	Spec VolumeSnapshotSpec `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`
	// Status is the observed state of the snapshot.
	Status VolumeSnapshotStatus `json:"status,omitempty" protobuf:"bytes,3,opt,name=status"`
}

// VolumeSnapshotSpec is the desired state of a VolumeSnapshot.
type VolumeSnapshotSpec struct {
	// VolumeRef names the Volume to snapshot, in the same namespace. Immutable.
	VolumeRef corev1.LocalObjectReference `json:"volumeRef" protobuf:"bytes,1,opt,name=volumeRef"`
}

// VolumeSnapshotState is the lifecycle state of a snapshot.
type VolumeSnapshotState string

const (
	// VolumeSnapshotStatePending means the snapshot is being taken.
	VolumeSnapshotStatePending VolumeSnapshotState = "Pending"
	// VolumeSnapshotStateReady means the snapshot can be used as a data source.
	VolumeSnapshotStateReady VolumeSnapshotState = "Ready"
	// VolumeSnapshotStateFailed means the backend could not take the snapshot.
	VolumeSnapshotStateFailed VolumeSnapshotState = "Failed"
)

// VolumeSnapshotStatus is the observed state of a VolumeSnapshot.
type VolumeSnapshotStatus struct {
	// ObservedGeneration is the metadata.generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty" protobuf:"varint,1,opt,name=observedGeneration"`
	// State is the lifecycle state.
	// +optional
	State VolumeSnapshotState `json:"state,omitempty" protobuf:"bytes,2,opt,name=state,casttype=VolumeSnapshotState"`
	// SnapshotID is the backend's identifier of the snapshot.
	// +optional
	SnapshotID string `json:"snapshotID,omitempty" protobuf:"bytes,3,opt,name=snapshotID"`
	// RestoreSize is the smallest size of a volume created from the snapshot.
	// +optional
	RestoreSize *resource.Quantity `json:"restoreSize,omitempty" protobuf:"bytes,4,opt,name=restoreSize"`
	// VolumePoolRef is the pool holding the snapshot, written by that pool's poollet when it
	// takes the snapshot. A Volume restored from the snapshot is placed on this pool. Immutable
	// once set.
	// +optional
	VolumePoolRef *corev1.LocalObjectReference `json:"volumePoolRef,omitempty" protobuf:"bytes,5,opt,name=volumePoolRef"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// VolumeSnapshotList is a list of VolumeSnapshots.
type VolumeSnapshotList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	// Items are the snapshots.
	Items []VolumeSnapshot `json:"items" protobuf:"bytes,2,rep,name=items"`
}
