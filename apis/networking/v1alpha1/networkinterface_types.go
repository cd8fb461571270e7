package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// +genclient
// +genclient:method=UpdateClaim,verb=update,subresource=claim,input=github.com/ferrite-dev/ferrite/apis/networking/v1alpha1.NetworkInterface,result=github.com/ferrite-dev/ferrite/apis/networking/v1alpha1.NetworkInterface
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NetworkInterface is a virtual NIC in a Network, attached to at most one Machine.
type NetworkInterface struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// Spec is the desired state of the interface.
	Spec NetworkInterfaceSpec `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`
	// Status is the observed state of the interface.
	Status NetworkInterfaceStatus `json:"status,omitempty" protobuf:"bytes,3,opt,name=status"`
}

// NetworkInterfaceSpec is the desired state of a NetworkInterface.
type NetworkInterfaceSpec struct {
	// NetworkRef names the Network of the interface. Immutable.
	NetworkRef corev1.LocalObjectReference `json:"networkRef" protobuf:"bytes,1,opt,name=networkRef"`
	// MachineRef is the machine the interface is attached to: its claim. An interface is attached
	// to one machine at a time. Only the claim subresource writes it (the controller manager, for
	// the machine that references the interface); it cannot be set or changed through the
	// interface itself.
	// +optional
	MachineRef *MachineReference `json:"machineRef,omitempty" protobuf:"bytes,2,opt,name=machineRef"`
	// IPFamilies of the interface. Defaults to the families of spec.ips, or IPv4.
	// +optional
	// +listType=atomic
	IPFamilies []corev1.IPFamily `json:"ipFamilies,omitempty" protobuf:"bytes,3,rep,name=ipFamilies,casttype=k8s.io/api/core/v1.IPFamily"`
	// IPs are the addresses of the interface, one per family: fixed or allocated from a prefix.
	// +optional
	// +listType=atomic
	IPs []IPSource `json:"ips,omitempty" protobuf:"bytes,4,rep,name=ips"`
	// VirtualIPRef attaches a public VirtualIP to the interface (1:1 NAT).
	// +optional
	VirtualIPRef *corev1.LocalObjectReference `json:"virtualIPRef,omitempty" protobuf:"bytes,5,opt,name=virtualIPRef"`
	// Prefixes are additional CIDRs routed to the interface (for example for containers in the guest).
	// +optional
	// +listType=atomic
	Prefixes []string `json:"prefixes,omitempty" protobuf:"bytes,6,rep,name=prefixes"`
}

// MachineReference names the machine that claims a network interface.
type MachineReference struct {
	// Name of the machine in the interface's namespace.
	Name string `json:"name" protobuf:"bytes,1,opt,name=name"`
	// UID of the machine, so a re-created machine of the same name does not inherit the claim.
	// +optional
	UID types.UID `json:"uid,omitempty" protobuf:"bytes,2,opt,name=uid,casttype=k8s.io/apimachinery/pkg/types.UID"`
}

// IPSource is either a fixed address or a request to allocate one from a Prefix.
type IPSource struct {
	// Value is a fixed IP address.
	// +optional
	Value string `json:"value,omitempty" protobuf:"bytes,1,opt,name=value"`
	// PrefixRef allocates the address from this ipam Prefix of the same namespace.
	// +optional
	PrefixRef *corev1.LocalObjectReference `json:"prefixRef,omitempty" protobuf:"bytes,2,opt,name=prefixRef"`
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
	ObservedGeneration int64 `json:"observedGeneration,omitempty" protobuf:"varint,1,opt,name=observedGeneration"`
	// State is the lifecycle state.
	// +optional
	State NetworkInterfaceState `json:"state,omitempty" protobuf:"bytes,2,opt,name=state,casttype=NetworkInterfaceState"`
	// IPs are the effective addresses of the interface.
	// +optional
	// +listType=atomic
	IPs []string `json:"ips,omitempty" protobuf:"bytes,3,rep,name=ips"`
	// VirtualIP is the effective public address, if any.
	// +optional
	VirtualIP string `json:"virtualIP,omitempty" protobuf:"bytes,4,opt,name=virtualIP"`
	// Prefixes are the effective routed prefixes.
	// +optional
	// +listType=atomic
	Prefixes []string `json:"prefixes,omitempty" protobuf:"bytes,5,rep,name=prefixes"`
	// MachinePoolRef is the MachinePool whose host runs the interface, written by that pool's
	// machinepoollet when it attaches the interface; the host's network agent selects the
	// interfaces it serves by it.
	// +optional
	MachinePoolRef *corev1.LocalObjectReference `json:"machinePoolRef,omitempty" protobuf:"bytes,6,opt,name=machinePoolRef"`
	// NAT is the interface's share of a NATGateway of its network, written by the controller
	// manager: a range of source ports of the gateway's public address, used for the
	// interface's traffic to public addresses while it has no VirtualIP.
	// +optional
	NAT *NATAssignment `json:"nat,omitempty" protobuf:"bytes,7,opt,name=nat"`
}

// NATAssignment is one network interface's source ports of a NATGateway's public address.
type NATAssignment struct {
	// NATGatewayRef names the NATGateway (in the interface's namespace).
	NATGatewayRef corev1.LocalObjectReference `json:"natGatewayRef" protobuf:"bytes,1,opt,name=natGatewayRef"`
	// IP is the gateway's public address.
	IP string `json:"ip" protobuf:"bytes,2,opt,name=ip"`
	// PortMin and PortMax bound the source ports (inclusive); PortMin is a multiple of 64.
	PortMin int32 `json:"portMin" protobuf:"varint,3,opt,name=portMin"`
	PortMax int32 `json:"portMax" protobuf:"varint,4,opt,name=portMax"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NetworkInterfaceList is a list of NetworkInterfaces.
type NetworkInterfaceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	// Items are the network interfaces.
	Items []NetworkInterface `json:"items" protobuf:"bytes,2,rep,name=items"`
}
