package compute

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Machine is a virtual machine: a machine class (its size), a boot image, volumes and network
// interfaces. The scheduler binds it to a MachinePool; that pool's poollet makes it real.
type Machine struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state of the machine.
	Spec MachineSpec `json:"spec,omitempty"`
	// Status is the observed state of the machine, written by the poollet.
	Status MachineStatus `json:"status,omitempty"`
}

// Power is the desired power state of a machine.
type Power string

const (
	// PowerOn keeps the machine running.
	PowerOn Power = "On"
	// PowerOff keeps the machine stopped.
	PowerOff Power = "Off"
)

// MachineSpec is the desired state of a Machine.
type MachineSpec struct {
	// MachineClassRef names the MachineClass (size) of the machine. Immutable.
	MachineClassRef corev1.LocalObjectReference `json:"machineClassRef"`
	// MachinePoolSelector restricts scheduling to pools whose labels match. Immutable once bound.
	// +optional
	MachinePoolSelector map[string]string `json:"machinePoolSelector,omitempty"`
	// MachinePoolRef is the pool the machine is bound to. Only the binding subresource sets it
	// (the scheduler, or an operator placing a machine by hand); once set it cannot change.
	// +optional
	MachinePoolRef *MachinePoolReference `json:"machinePoolRef,omitempty"`
	// Power is the desired power state, On or Off. Defaults to On. Quote it in YAML
	// (power: "Off"): unquoted, YAML 1.1 reads On and Off as booleans.
	// +optional
	Power Power `json:"power,omitempty"`
	// Image is the OS image the machine boots from when no volume is marked bootable.
	// +optional
	Image string `json:"image,omitempty"`
	// IgnitionRef references a Secret in the machine's namespace holding ignition or
	// cloud-init user data.
	// +optional
	IgnitionRef *SecretKeySelector `json:"ignitionRef,omitempty"`
	// Volumes are the disks attached to the machine.
	// +optional
	Volumes []MachineVolume `json:"volumes,omitempty"`
	// NetworkInterfaces are the network interfaces attached to the machine.
	// +optional
	NetworkInterfaces []MachineNetworkInterface `json:"networkInterfaces,omitempty"`
	// Tolerations let the machine be scheduled onto pools with matching taints.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// TopologySpreadConstraints spread the machine and its peers (machines of the namespace
	// the constraint's selector matches) over the values of a pool label, such as
	// topology.ferrite.dev/zone. Immutable once bound.
	// +optional
	TopologySpreadConstraints []TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
}

// TopologyZoneLabel is the MachinePool and VolumePool label naming the pool's failure zone.
const TopologyZoneLabel = "topology.ferrite.dev/zone"

// UnsatisfiableConstraintAction says what the scheduler does with a machine whose spread
// constraint no pool satisfies.
type UnsatisfiableConstraintAction string

const (
	// DoNotSchedule leaves the machine unscheduled until a pool satisfies the constraint.
	DoNotSchedule UnsatisfiableConstraintAction = "DoNotSchedule"
	// ScheduleAnyway places the machine regardless, preferring pools that reduce the skew.
	ScheduleAnyway UnsatisfiableConstraintAction = "ScheduleAnyway"
)

// TopologySpreadConstraint spreads matching machines over the domains of a pool label, like a
// pod topology spread constraint: in each domain (each value of TopologyKey among the pools the
// machine may use) the number of matching machines differs by at most MaxSkew.
type TopologySpreadConstraint struct {
	// MaxSkew is the largest allowed difference between the number of matching machines in any
	// domain and in the domain with the fewest. At least 1; defaults to 1.
	// +optional
	MaxSkew int32 `json:"maxSkew,omitempty"`
	// TopologyKey is the pool label whose values are the domains, usually
	// topology.ferrite.dev/zone. Pools without the label are not used when WhenUnsatisfiable is
	// DoNotSchedule.
	TopologyKey string `json:"topologyKey"`
	// WhenUnsatisfiable is DoNotSchedule (the default) or ScheduleAnyway.
	// +optional
	WhenUnsatisfiable UnsatisfiableConstraintAction `json:"whenUnsatisfiable,omitempty"`
	// LabelSelector selects the machines of the namespace that are counted, the machine itself
	// included. When unset, machines with all of this machine's labels are counted.
	// +optional
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
}

// MachinePoolReference names the pool a machine is bound to, and which pool of that name.
type MachinePoolReference struct {
	// Name of the MachinePool.
	Name string `json:"name"`
	// UID of the pool when the machine was bound: a pool re-created under the same name has
	// another UID and does not inherit the machine.
	// +optional
	UID types.UID `json:"uid,omitempty"`
}

// SecretKeySelector selects a key of a Secret in the same namespace.
type SecretKeySelector struct {
	// Name of the Secret.
	Name string `json:"name"`
	// Key in the Secret's data. Defaults to "ignition.json".
	// +optional
	Key string `json:"key,omitempty"`
}

// MachineVolume is a disk of a machine. Exactly one source must be set.
type MachineVolume struct {
	// Name identifies the volume within the machine (a DNS label).
	Name string `json:"name"`
	// Device is the guest device name, for example "vda". Assigned by the poollet when empty.
	// +optional
	Device string `json:"device,omitempty"`
	// VolumeRef attaches an existing Volume of the machine's namespace.
	// +optional
	VolumeRef *corev1.LocalObjectReference `json:"volumeRef,omitempty"`
	// Ephemeral creates a Volume owned by the machine and deleted with it.
	// +optional
	Ephemeral *EphemeralVolumeSource `json:"ephemeral,omitempty"`
	// EmptyDisk is a scratch disk local to the hypervisor; its data is lost with the machine.
	// +optional
	EmptyDisk *EmptyDiskSource `json:"emptyDisk,omitempty"`
}

// EphemeralVolumeSource describes a Volume created for, and owned by, a machine.
type EphemeralVolumeSource struct {
	// VolumeClassRef names the VolumeClass of the created volume.
	VolumeClassRef corev1.LocalObjectReference `json:"volumeClassRef"`
	// Resources are the requested resources of the volume; "storage" is required.
	Resources corev1.ResourceList `json:"resources"`
	// Image is an OS image written to the volume when it is created.
	// +optional
	Image string `json:"image,omitempty"`
}

// EmptyDiskSource is a hypervisor-local scratch disk.
type EmptyDiskSource struct {
	// SizeLimit is the size of the disk. Defaults to the pool's choice when empty.
	// +optional
	SizeLimit *resource.Quantity `json:"sizeLimit,omitempty"`
}

// MachineNetworkInterface is a network interface of a machine. Exactly one source must be set.
type MachineNetworkInterface struct {
	// Name identifies the interface within the machine (a DNS label).
	Name string `json:"name"`
	// NetworkInterfaceRef attaches an existing NetworkInterface of the machine's namespace.
	// +optional
	NetworkInterfaceRef *corev1.LocalObjectReference `json:"networkInterfaceRef,omitempty"`
	// Ephemeral creates a NetworkInterface owned by the machine and deleted with it.
	// +optional
	Ephemeral *EphemeralNetworkInterfaceSource `json:"ephemeral,omitempty"`
}

// EphemeralNetworkInterfaceSource describes a NetworkInterface created for a machine.
type EphemeralNetworkInterfaceSource struct {
	// NetworkRef names the Network the interface is attached to.
	NetworkRef corev1.LocalObjectReference `json:"networkRef"`
	// IPs are fixed addresses for the interface; empty means one is allocated from the network's prefixes.
	// +optional
	IPs []string `json:"ips,omitempty"`
	// VirtualIPRef attaches a public VirtualIP to the interface.
	// +optional
	VirtualIPRef *corev1.LocalObjectReference `json:"virtualIPRef,omitempty"`
}

// MachineState is the coarse lifecycle state of a machine.
type MachineState string

const (
	// MachineStatePending means the machine is not yet running (unscheduled or being created).
	MachineStatePending MachineState = "Pending"
	// MachineStateRunning means the machine is running.
	MachineStateRunning MachineState = "Running"
	// MachineStateShutdown means the machine exists but is powered off.
	MachineStateShutdown MachineState = "Shutdown"
	// MachineStateTerminating means the machine is being deleted.
	MachineStateTerminating MachineState = "Terminating"
	// MachineStateError means the runtime reported an error it cannot recover from.
	MachineStateError MachineState = "Error"
)

// MachineStatus is the observed state of a Machine.
type MachineStatus struct {
	// ObservedGeneration is the metadata.generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// State is the coarse lifecycle state.
	// +optional
	State MachineState `json:"state,omitempty"`
	// MachineID is the runtime's identifier of the machine (for example the libvirt domain UUID).
	// +optional
	MachineID string `json:"machineID,omitempty"`
	// Conditions are the detailed observations (Scheduled, Ready, ...).
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Volumes is the status of each volume by name.
	// +optional
	Volumes []MachineVolumeStatus `json:"volumes,omitempty"`
	// NetworkInterfaces is the status of each network interface by name.
	// +optional
	NetworkInterfaces []MachineNetworkInterfaceStatus `json:"networkInterfaces,omitempty"`
}

// AttachmentState is the state of a volume or network interface attachment.
type AttachmentState string

const (
	// AttachmentPending means the attachment is being set up.
	AttachmentPending AttachmentState = "Pending"
	// AttachmentAttached means the device is attached to the running machine.
	AttachmentAttached AttachmentState = "Attached"
	// AttachmentDetached means the device is not attached.
	AttachmentDetached AttachmentState = "Detached"
)

// MachineVolumeStatus is the observed state of one volume of a machine.
type MachineVolumeStatus struct {
	// Name of the volume in spec.volumes.
	Name string `json:"name"`
	// State of the attachment.
	// +optional
	State AttachmentState `json:"state,omitempty"`
	// Handle is the runtime's identifier of the attached disk.
	// +optional
	Handle string `json:"handle,omitempty"`
}

// MachineNetworkInterfaceStatus is the observed state of one network interface of a machine.
type MachineNetworkInterfaceStatus struct {
	// Name of the interface in spec.networkInterfaces.
	Name string `json:"name"`
	// State of the attachment.
	// +optional
	State AttachmentState `json:"state,omitempty"`
	// IPs are the addresses of the interface.
	// +optional
	IPs []string `json:"ips,omitempty"`
	// VirtualIP is the public address attached to the interface, if any.
	// +optional
	VirtualIP string `json:"virtualIP,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// MachineList is a list of Machines.
type MachineList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the machines.
	Items []Machine `json:"items"`
}
