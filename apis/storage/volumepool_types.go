package storage

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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
	// Allocatable is, per volume class name, the bytes the pool can give to volumes (capacity less
	// what the backend keeps for itself). Volumes placed on the pool are counted against it in
	// Allocated and Reservations, not subtracted here.
	// +optional
	Allocatable corev1.ResourceList `json:"allocatable,omitempty"`
	// LastHeartbeatTime is when the poollet last reported the pool alive. The pool health
	// controller turns Ready to Unknown when it is older than the grace period.
	// +optional
	LastHeartbeatTime *metav1.Time `json:"lastHeartbeatTime,omitempty"`
	// Allocated is the scheduler's ledger of volumes placed on the pool: per volume class, what the
	// volumes bound to this pool take (their bytes), leaving out volumes that hold
	// an entry in Reservations. The ledger controller recounts it from the bound volumes it has
	// observed; what a class may still take is Allocatable less Allocated less Reservations.
	// +optional
	Allocated corev1.ResourceList `json:"allocated,omitempty"`
	// AllocatedRevision is the resourceVersion of Volumes up to which Allocated was counted. A ledger
	// writer whose view of Volumes is older leaves Allocated alone.
	// +optional
	AllocatedRevision string `json:"allocatedRevision,omitempty"`
	// Reservations are the volumes placed on the pool that Allocated does not count yet: a
	// scheduler adds the entry with a resourceVersion precondition before it binds the volume,
	// and the ledger controller moves it into Allocated once it observes the volume bound (or
	// drops it when the volume is gone or bound elsewhere). A growth of a bound volume is reserved here too, at the new size, until the larger size is observed. The list holds only
	// what is in flight, so its length is bounded by the schedulers' concurrency (at most
	// 1024 entries), not by the volumes on the pool.
	// +optional
	Reservations []VolumePoolReservation `json:"reservations,omitempty"`
}

// VolumePoolReservation is one volume in flight in a pool's ledger.
type VolumePoolReservation struct {
	// VolumeUID is the UID of the volume; a re-created volume of the same name is another entry.
	VolumeUID types.UID `json:"volumeUID"`
	// VolumeClass is the class the volume is counted under.
	VolumeClass string `json:"volumeClass"`
	// Storage is the number of bytes counted for the volume.
	Storage resource.Quantity `json:"storage"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// VolumePoolList is a list of VolumePools.
type VolumePoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the volume pools.
	Items []VolumePool `json:"items"`
}
