package v1alpha1

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

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// LoadBalancer spreads traffic for its addresses and ports over the network interfaces its
// selector matches.
type LoadBalancer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// Spec is the desired state of the load balancer.
	Spec LoadBalancerSpec `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`
	// Status is the observed state of the load balancer.
	Status LoadBalancerStatus `json:"status,omitempty" protobuf:"bytes,3,opt,name=status"`
}

// LoadBalancerSpec is the desired state of a LoadBalancer.
type LoadBalancerSpec struct {
	// Type of the load balancer. Immutable.
	Type LoadBalancerType `json:"type" protobuf:"bytes,1,opt,name=type,casttype=LoadBalancerType"`
	// IPFamilies of the load balancer's addresses. Defaults to IPv4. Immutable.
	// +optional
	// +listType=atomic
	IPFamilies []corev1.IPFamily `json:"ipFamilies,omitempty" protobuf:"bytes,2,rep,name=ipFamilies,casttype=k8s.io/api/core/v1.IPFamily"`
	// NetworkRef names the Network of the targets. Immutable.
	NetworkRef corev1.LocalObjectReference `json:"networkRef" protobuf:"bytes,3,opt,name=networkRef"`
	// NetworkInterfaceSelector selects the target interfaces in the network.
	// +optional
	NetworkInterfaceSelector *metav1.LabelSelector `json:"networkInterfaceSelector,omitempty" protobuf:"bytes,4,opt,name=networkInterfaceSelector"`
	// Ports are the balanced ports; empty means all.
	// +optional
	// +listType=atomic
	Ports []LoadBalancerPort `json:"ports,omitempty" protobuf:"bytes,5,rep,name=ports"`
}

// LoadBalancerPort is a port or port range of a given protocol.
type LoadBalancerPort struct {
	// Protocol is TCP, UDP or SCTP. Defaults to TCP.
	// +optional
	Protocol corev1.Protocol `json:"protocol,omitempty" protobuf:"bytes,1,opt,name=protocol,casttype=k8s.io/api/core/v1.Protocol"`
	// Port is the first port (1 to 65535).
	Port int32 `json:"port" protobuf:"varint,2,opt,name=port"`
	// EndPort makes a range from port to endPort inclusive.
	// +optional
	EndPort *int32 `json:"endPort,omitempty" protobuf:"varint,3,opt,name=endPort"`
}

// LoadBalancerStatus is the observed state of a LoadBalancer.
type LoadBalancerStatus struct {
	// ObservedGeneration is the metadata.generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty" protobuf:"varint,1,opt,name=observedGeneration"`
	// IPs are the allocated addresses.
	// +optional
	// +listType=atomic
	IPs []string `json:"ips,omitempty" protobuf:"bytes,2,rep,name=ips"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// LoadBalancerList is a list of LoadBalancers.
type LoadBalancerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	// Items are the load balancers.
	Items []LoadBalancer `json:"items" protobuf:"bytes,2,rep,name=items"`
}
