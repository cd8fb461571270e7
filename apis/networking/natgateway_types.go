package networking

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NATGateway gives the interfaces of a network that have no VirtualIP outbound access through
// shared public addresses, each interface getting its own range of source ports.
type NATGateway struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state of the gateway.
	Spec NATGatewaySpec `json:"spec,omitempty"`
	// Status is the observed state of the gateway.
	Status NATGatewayStatus `json:"status,omitempty"`
}

// NATGatewaySpec is the desired state of a NATGateway.
type NATGatewaySpec struct {
	// Type of the gateway's addresses. Defaults to Public. Immutable.
	// +optional
	Type VirtualIPType `json:"type,omitempty"`
	// IPFamily of the gateway's addresses. Defaults to IPv4. Immutable.
	// +optional
	IPFamily corev1.IPFamily `json:"ipFamily,omitempty"`
	// NetworkRef names the Network the gateway serves. Immutable.
	NetworkRef corev1.LocalObjectReference `json:"networkRef"`
	// PortsPerNetworkInterface is the size of each interface's source port range: a power of
	// two from 64 to 65536. Defaults to 2048.
	// +optional
	PortsPerNetworkInterface int32 `json:"portsPerNetworkInterface,omitempty"`
}

// NATGatewayStatus is the observed state of a NATGateway.
type NATGatewayStatus struct {
	// ObservedGeneration is the metadata.generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// IPs are the allocated public addresses.
	// +optional
	IPs []string `json:"ips,omitempty"`
	// PortsUsed is how many port ranges are handed out.
	// +optional
	PortsUsed int32 `json:"portsUsed,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NATGatewayList is a list of NATGateways.
type NATGatewayList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the NAT gateways.
	Items []NATGateway `json:"items"`
}
