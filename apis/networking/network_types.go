package networking

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Network is an isolated overlay network. The apiserver gives each Network a unique VNI at
// create; interfaces in the network reach each other, and nothing else unless peered.
type Network struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state of the network.
	Spec NetworkSpec `json:"spec,omitempty"`
	// Status is the observed state of the network; status.vni is set by the apiserver.
	Status NetworkStatus `json:"status,omitempty"`
}

// NetworkSpec is the desired state of a Network.
type NetworkSpec struct {
	// Peerings connect this network with other networks, possibly in other namespaces. A
	// peering is active once both sides declare it.
	// +optional
	Peerings []NetworkPeering `json:"peerings,omitempty"`
}

// NetworkPeering is one side of a peering between two networks.
type NetworkPeering struct {
	// Name identifies the peering within the network (a DNS label).
	Name string `json:"name"`
	// NetworkRef is the peer network.
	NetworkRef NetworkPeeringReference `json:"networkRef"`
}

// NetworkPeeringReference names a network, possibly in another namespace.
type NetworkPeeringReference struct {
	// Namespace of the peer network; empty means the same namespace.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Name of the peer network.
	Name string `json:"name"`
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
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// VNI is the overlay network identifier (1 to 16777215), allocated by the apiserver at create
	// and fixed for the life of the network.
	// +optional
	VNI int32 `json:"vni,omitempty"`
	// State is the lifecycle state.
	// +optional
	State NetworkState `json:"state,omitempty"`
	// Peerings lists the peerings that are active (declared on both sides).
	// +optional
	Peerings []string `json:"peerings,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NetworkList is a list of Networks.
type NetworkList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the networks.
	Items []Network `json:"items"`
}
