package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Network is an isolated overlay network. The apiserver gives each Network a unique VNI at
// create; interfaces in the network reach each other, and nothing else unless peered.
type Network struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// Spec is the desired state of the network.
	Spec NetworkSpec `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`
	// Status is the observed state of the network; status.vni is set by the apiserver.
	Status NetworkStatus `json:"status,omitempty" protobuf:"bytes,3,opt,name=status"`
}

// NetworkSpec is the desired state of a Network.
type NetworkSpec struct {
	// Peerings connect this network with other networks, possibly in other namespaces. A
	// peering is active once both sides declare it.
	// +optional
	// +listType=map
	// +listMapKey=name
	Peerings []NetworkPeering `json:"peerings,omitempty" protobuf:"bytes,1,rep,name=peerings"`
}

// NetworkPeering is one side of a peering between two networks.
type NetworkPeering struct {
	// Name identifies the peering within the network (a DNS label).
	Name string `json:"name" protobuf:"bytes,1,opt,name=name"`
	// NetworkRef is the peer network.
	NetworkRef NetworkPeeringReference `json:"networkRef" protobuf:"bytes,2,opt,name=networkRef"`
}

// NetworkPeeringReference names a network, possibly in another namespace.
type NetworkPeeringReference struct {
	// Namespace of the peer network; empty means the same namespace.
	// +optional
	Namespace string `json:"namespace,omitempty" protobuf:"bytes,1,opt,name=namespace"`
	// Name of the peer network.
	Name string `json:"name" protobuf:"bytes,2,opt,name=name"`
}

// NetworkState is the lifecycle state of a network.
type NetworkState string

const (
	// NetworkStatePending means the network is not yet programmed.
	NetworkStatePending NetworkState = "Pending"
	// NetworkStateAvailable means the network is usable.
	NetworkStateAvailable NetworkState = "Available"
)

// NetworkStatus is the observed state of a Network.
type NetworkStatus struct {
	// ObservedGeneration is the metadata.generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty" protobuf:"varint,1,opt,name=observedGeneration"`
	// VNI is the overlay network identifier (1 to 16777215), allocated by the apiserver at create
	// and fixed for the life of the network.
	// +optional
	VNI int32 `json:"vni,omitempty" protobuf:"varint,2,opt,name=vni"`
	// State is the lifecycle state.
	// +optional
	State NetworkState `json:"state,omitempty" protobuf:"bytes,3,opt,name=state,casttype=NetworkState"`
	// Peerings lists the peerings that are active (declared on both sides).
	// +optional
	// +listType=atomic
	Peerings []string `json:"peerings,omitempty" protobuf:"bytes,4,rep,name=peerings"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NetworkList is a list of Networks.
type NetworkList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	// Items are the networks.
	Items []Network `json:"items" protobuf:"bytes,2,rep,name=items"`
}
