package networking

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LoadBalancerType is the reachability of a load balancer.
type LoadBalancerType string

const (
	// LoadBalancerTypePublic has a public address.
	LoadBalancerTypePublic LoadBalancerType = "Public"
	// LoadBalancerTypeInternal has an address of its network.
	LoadBalancerTypeInternal LoadBalancerType = "Internal"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// LoadBalancer spreads traffic for its addresses and ports over the network interfaces its
// selector matches.
type LoadBalancer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state of the load balancer.
	Spec LoadBalancerSpec `json:"spec,omitempty"`
	// Status is the observed state of the load balancer.
	Status LoadBalancerStatus `json:"status,omitempty"`
}

// LoadBalancerSpec is the desired state of a LoadBalancer.
type LoadBalancerSpec struct {
	// Type of the load balancer. Immutable.
	Type LoadBalancerType `json:"type"`
	// IPFamilies of the load balancer's addresses. Defaults to IPv4. Immutable.
	// +optional
	IPFamilies []corev1.IPFamily `json:"ipFamilies,omitempty"`
	// NetworkRef names the Network of the targets. Immutable.
	NetworkRef corev1.LocalObjectReference `json:"networkRef"`
	// NetworkInterfaceSelector selects the target interfaces in the network.
	// +optional
	NetworkInterfaceSelector *metav1.LabelSelector `json:"networkInterfaceSelector,omitempty"`
	// Ports are the balanced ports; empty means all.
	// +optional
	Ports []LoadBalancerPort `json:"ports,omitempty"`
}

// LoadBalancerPort is a port or port range of a given protocol.
type LoadBalancerPort struct {
	// Protocol is TCP, UDP or SCTP. Defaults to TCP.
	// +optional
	Protocol corev1.Protocol `json:"protocol,omitempty"`
	// Port is the first port (1 to 65535).
	Port int32 `json:"port"`
	// EndPort makes a range from port to endPort inclusive.
	// +optional
	EndPort *int32 `json:"endPort,omitempty"`
}

// LoadBalancerStatus is the observed state of a LoadBalancer.
type LoadBalancerStatus struct {
	// ObservedGeneration is the metadata.generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// IPs are the allocated addresses.
	// +optional
	IPs []string `json:"ips,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// LoadBalancerList is a list of LoadBalancers.
type LoadBalancerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the load balancers.
	Items []LoadBalancer `json:"items"`
}
