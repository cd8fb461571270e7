package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NATGateway gives the interfaces of a network that have no VirtualIP outbound access through
// shared public addresses, each interface getting its own range of source ports.
type NATGateway struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// Spec is the desired state of the gateway.
	Spec NATGatewaySpec `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`
	// Status is the observed state of the gateway.
	Status NATGatewayStatus `json:"status,omitempty" protobuf:"bytes,3,opt,name=status"`
}

// NATGatewaySpec is the desired state of a NATGateway.
type NATGatewaySpec struct {
	// Type of the gateway's addresses. Defaults to Public. Immutable.
	// +optional
	Type VirtualIPType `json:"type,omitempty" protobuf:"bytes,1,opt,name=type,casttype=VirtualIPType"`
	// IPFamily of the gateway's addresses. Defaults to IPv4. Immutable.
	// +optional
	IPFamily corev1.IPFamily `json:"ipFamily,omitempty" protobuf:"bytes,2,opt,name=ipFamily,casttype=k8s.io/api/core/v1.IPFamily"`
	// NetworkRef names the Network the gateway serves. Immutable.
	NetworkRef corev1.LocalObjectReference `json:"networkRef" protobuf:"bytes,3,opt,name=networkRef"`
	// PortsPerNetworkInterface is the size of each interface's source port range: a power of
	// two from 64 to 65536. Defaults to 2048.
	// +optional
	PortsPerNetworkInterface int32 `json:"portsPerNetworkInterface,omitempty" protobuf:"varint,4,opt,name=portsPerNetworkInterface"`
}

// NATGatewayStatus is the observed state of a NATGateway.
type NATGatewayStatus struct {
	// ObservedGeneration is the metadata.generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty" protobuf:"varint,1,opt,name=observedGeneration"`
	// IPs are the allocated public addresses.
	// +optional
	// +listType=atomic
	IPs []string `json:"ips,omitempty" protobuf:"bytes,2,rep,name=ips"`
	// PortsUsed is how many port ranges are handed out.
	// +optional
	PortsUsed int32 `json:"portsUsed,omitempty" protobuf:"varint,3,opt,name=portsUsed"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NATGatewayList is a list of NATGateways.
type NATGatewayList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	// Items are the NAT gateways.
	Items []NATGateway `json:"items" protobuf:"bytes,2,rep,name=items"`
}
