package compute

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// MachinePool is a hypervisor (or a brokered cluster) that runs machines. Its machinepoollet
// registers it, reports capacity per machine class and heartbeats through the Ready condition.
type MachinePool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state of the pool.
	Spec MachinePoolSpec `json:"spec,omitempty"`
	// Status is the observed state of the pool, written by its poollet.
	Status MachinePoolStatus `json:"status,omitempty"`
}

// MachinePoolSpec is the desired state of a MachinePool.
type MachinePoolSpec struct {
	// ProviderID identifies the pool at its provider, for example "libvirt://host-a". Immutable once set.
	// +optional
	ProviderID string `json:"providerID,omitempty"`
	// Taints keep machines that do not tolerate them off the pool.
	// +optional
	Taints []corev1.Taint `json:"taints,omitempty"`
}

// MachinePoolAddressType is the kind of a pool address.
type MachinePoolAddressType string

const (
	// MachinePoolHostName is the host name of the hypervisor.
	MachinePoolHostName MachinePoolAddressType = "Hostname"
	// MachinePoolInternalIP is an address reachable from the control plane.
	MachinePoolInternalIP MachinePoolAddressType = "InternalIP"
	// MachinePoolExternalIP is an address reachable from outside the cluster.
	MachinePoolExternalIP MachinePoolAddressType = "ExternalIP"
)

// MachinePoolAddress is an address of a pool.
type MachinePoolAddress struct {
	// Type of the address.
	Type MachinePoolAddressType `json:"type"`
	// Address is the host name or IP.
	Address string `json:"address"`
}

// MachinePoolConditionReady is the condition type a poollet refreshes with every heartbeat.
const MachinePoolConditionReady = "Ready"

// MachinePoolStatus is the observed state of a MachinePool.
type MachinePoolStatus struct {
	// ObservedGeneration is the metadata.generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready is refreshed on every heartbeat; it turns Unknown when heartbeats stop.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Capacity is, per machine class name, how many machines of that class the pool holds in total.
	// +optional
	Capacity corev1.ResourceList `json:"capacity,omitempty"`
	// Allocatable is, per machine class name, how many machines of that class the pool can hold
	// (capacity less what the host keeps for itself). Machines placed on the pool are counted
	// against it in Allocated and Reservations, not subtracted here.
	// +optional
	Allocatable corev1.ResourceList `json:"allocatable,omitempty"`
	// Addresses of the pool's hypervisor.
	// +optional
	Addresses []MachinePoolAddress `json:"addresses,omitempty"`
	// RuntimeEndpoint is where the machine runtime of the pool listens, for console access.
	// +optional
	RuntimeEndpoint string `json:"runtimeEndpoint,omitempty"`
	// LastHeartbeatTime is when the poollet last reported the pool alive. The pool health
	// controller turns Ready to Unknown when it is older than the grace period.
	// +optional
	LastHeartbeatTime *metav1.Time `json:"lastHeartbeatTime,omitempty"`
	// Allocated is the scheduler's ledger of machines placed on the pool: per machine class, what the
	// machines bound to this pool take (a count of machines), leaving out machines that hold
	// an entry in Reservations. The ledger controller recounts it from the bound machines it has
	// observed; what a class may still take is Allocatable less Allocated less Reservations.
	// +optional
	Allocated corev1.ResourceList `json:"allocated,omitempty"`
	// AllocatedRevision is the resourceVersion of Machines up to which Allocated was counted. A ledger
	// writer whose view of Machines is older leaves Allocated alone.
	// +optional
	AllocatedRevision string `json:"allocatedRevision,omitempty"`
	// Reservations are the machines placed on the pool that Allocated does not count yet: a
	// scheduler adds the entry with a resourceVersion precondition before it binds the machine,
	// and the ledger controller moves it into Allocated once it observes the machine bound (or
	// drops it when the machine is gone or bound elsewhere). The list holds only
	// what is in flight, so its length is bounded by the schedulers' concurrency (at most
	// 1024 entries), not by the machines on the pool.
	// +optional
	Reservations []MachinePoolReservation `json:"reservations,omitempty"`
}

// MachinePoolReservation is one machine in flight in a pool's ledger.
type MachinePoolReservation struct {
	// MachineUID is the UID of the machine; a re-created machine of the same name is another entry.
	MachineUID types.UID `json:"machineUID"`
	// MachineClass is the class the machine is counted under.
	MachineClass string `json:"machineClass"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// MachinePoolList is a list of MachinePools.
type MachinePoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the machine pools.
	Items []MachinePool `json:"items"`
}
