package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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
	// Allocatable is, per volume class name, the bytes the pool can give to volumes (capacity less
	// what the backend keeps for itself). Volumes placed on the pool are counted against it in
	// Allocated and Reservations, not subtracted here.
	// +optional
	Allocatable corev1.ResourceList `json:"allocatable,omitempty" protobuf:"bytes,4,rep,name=allocatable,casttype=k8s.io/api/core/v1.ResourceList,castkey=k8s.io/api/core/v1.ResourceName"`
	// LastHeartbeatTime is when the poollet last reported the pool alive. The pool health
	// controller turns Ready to Unknown when it is older than the grace period.
	// +optional
	LastHeartbeatTime *metav1.Time `json:"lastHeartbeatTime,omitempty" protobuf:"bytes,5,opt,name=lastHeartbeatTime"`
	// Allocated is the scheduler's ledger of volumes placed on the pool: per volume class, what the
	// volumes bound to this pool take (their bytes), leaving out volumes that hold
	// an entry in Reservations. The ledger controller recounts it from the bound volumes it has
	// observed; what a class may still take is Allocatable less Allocated less Reservations.
	// +optional
	Allocated corev1.ResourceList `json:"allocated,omitempty" protobuf:"bytes,7,rep,name=allocated,casttype=k8s.io/api/core/v1.ResourceList,castkey=k8s.io/api/core/v1.ResourceName"`
	// AllocatedRevision is the resourceVersion of Volumes up to which Allocated was counted. A ledger
	// writer whose view of Volumes is older leaves Allocated alone.
	// +optional
	AllocatedRevision string `json:"allocatedRevision,omitempty" protobuf:"bytes,8,opt,name=allocatedRevision"`
	// Reservations are the volumes placed on the pool that Allocated does not count yet: a
	// scheduler adds the entry with a resourceVersion precondition before it binds the volume,
	// and the ledger controller moves it into Allocated once it observes the volume bound (or
	// drops it when the volume is gone or bound elsewhere). A growth of a bound volume is reserved here too, at the new size, until the larger size is observed. The list holds only
	// what is in flight, so its length is bounded by the schedulers' concurrency (at most
	// 1024 entries), not by the volumes on the pool.
	// +optional
	// +listType=map
	// +listMapKey=volumeUID
	Reservations []VolumePoolReservation `json:"reservations,omitempty" protobuf:"bytes,6,rep,name=reservations"`
}

// VolumePoolReservation is one volume in flight in a pool's ledger.
type VolumePoolReservation struct {
	// VolumeUID is the UID of the volume; a re-created volume of the same name is another entry.
	VolumeUID types.UID `json:"volumeUID" protobuf:"bytes,1,opt,name=volumeUID,casttype=k8s.io/apimachinery/pkg/types.UID"`
	// VolumeClass is the class the volume is counted under.
	VolumeClass string `json:"volumeClass" protobuf:"bytes,4,opt,name=volumeClass"`
	// Storage is the number of bytes counted for the volume.
	Storage resource.Quantity `json:"storage" protobuf:"bytes,5,opt,name=storage"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// VolumePoolList is a list of VolumePools.
type VolumePoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	// Items are the volume pools.
	Items []VolumePool `json:"items" protobuf:"bytes,2,rep,name=items"`
}
