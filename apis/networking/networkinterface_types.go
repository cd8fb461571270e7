package networking

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NetworkInterface is a virtual NIC in a Network, attached to at most one Machine.
type NetworkInterface struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state of the interface.
	Spec NetworkInterfaceSpec `json:"spec,omitempty"`
	// Status is the observed state of the interface.
	Status NetworkInterfaceStatus `json:"status,omitempty"`
}

// NetworkInterfaceSpec is the desired state of a NetworkInterface.
type NetworkInterfaceSpec struct {
	// NetworkRef names the Network of the interface. Immutable.
	NetworkRef corev1.LocalObjectReference `json:"networkRef"`
	// MachineRef is the machine the interface is attached to: its claim. An interface is attached
	// to one machine at a time. Only the claim subresource writes it (the controller manager, for
	// the machine that references the interface); it cannot be set or changed through the
	// interface itself.
	// +optional
	MachineRef *MachineReference `json:"machineRef,omitempty"`
	// IPFamilies of the interface. Defaults to the families of spec.ips, or IPv4.
	// +optional
	IPFamilies []corev1.IPFamily `json:"ipFamilies,omitempty"`
	// IPs are the addresses of the interface, one per family: fixed or allocated from a prefix.
	// +optional
	IPs []IPSource `json:"ips,omitempty"`
	// VirtualIPRef attaches a public VirtualIP to the interface (1:1 NAT).
	// +optional
	VirtualIPRef *corev1.LocalObjectReference `json:"virtualIPRef,omitempty"`
	// Prefixes are additional CIDRs routed to the interface (for example for containers in the guest).
	// +optional
	Prefixes []string `json:"prefixes,omitempty"`
}

// MachineReference names the machine that claims a network interface.
type MachineReference struct {
	// Name of the machine in the interface's namespace.
	Name string `json:"name"`
	// UID of the machine, so a re-created machine of the same name does not inherit the claim.
	// +optional
	UID types.UID `json:"uid,omitempty"`
}

// IPSource is either a fixed address or a request to allocate one from a Prefix.
type IPSource struct {
	// Value is a fixed IP address.
	// +optional
	Value string `json:"value,omitempty"`
	// PrefixRef allocates the address from this ipam Prefix of the same namespace.
	// +optional
	PrefixRef *corev1.LocalObjectReference `json:"prefixRef,omitempty"`
}

// NetworkInterfaceState is the lifecycle state of an interface.
type NetworkInterfaceState string

const (
	// NetworkInterfaceStatePending means addresses or the dataplane are not ready yet.
	NetworkInterfaceStatePending NetworkInterfaceState = "Pending"
	// NetworkInterfaceStateAvailable means the interface is programmed and routable.
	NetworkInterfaceStateAvailable NetworkInterfaceState = "Available"
	// NetworkInterfaceStateError means programming the interface failed.
	NetworkInterfaceStateError NetworkInterfaceState = "Error"
)

// NetworkInterfaceStatus is the observed state of a NetworkInterface.
type NetworkInterfaceStatus struct {
	// ObservedGeneration is the metadata.generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// State is the lifecycle state.
	// +optional
	State NetworkInterfaceState `json:"state,omitempty"`
	// IPs are the effective addresses of the interface.
	// +optional
	IPs []string `json:"ips,omitempty"`
	// VirtualIP is the effective public address, if any.
	// +optional
	VirtualIP string `json:"virtualIP,omitempty"`
	// Prefixes are the effective routed prefixes.
	// +optional
	Prefixes []string `json:"prefixes,omitempty"`
	// MachinePoolRef is the MachinePool whose host runs the interface, written by that pool's
	// machinepoollet when it attaches the interface; the host's network agent selects the
	// interfaces it serves by it.
	// +optional
	MachinePoolRef *corev1.LocalObjectReference `json:"machinePoolRef,omitempty"`
	// NAT is the interface's share of a NATGateway of its network, written by the controller
	// manager: a range of source ports of the gateway's public address, used for the
	// interface's traffic to public addresses while it has no VirtualIP.
	// +optional
	NAT *NATAssignment `json:"nat,omitempty"`
}

// NATAssignment is one network interface's source ports of a NATGateway's public address.
type NATAssignment struct {
	// NATGatewayRef names the NATGateway (in the interface's namespace).
	NATGatewayRef corev1.LocalObjectReference `json:"natGatewayRef"`
	// IP is the gateway's public address.
	IP string `json:"ip"`
	// PortMin and PortMax bound the source ports (inclusive); PortMin is a multiple of 64.
	PortMin int32 `json:"portMin"`
	PortMax int32 `json:"portMax"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NetworkInterfaceList is a list of NetworkInterfaces.
type NetworkInterfaceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the network interfaces.
	Items []NetworkInterface `json:"items"`
}
