package networking

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// VirtualIPType is the reachability of a virtual IP.
type VirtualIPType string

const (
	// VirtualIPTypePublic is reachable from the internet.
	VirtualIPTypePublic VirtualIPType = "Public"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// VirtualIP is a public IP address that can be attached to one network interface.
type VirtualIP struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state of the virtual IP.
	Spec VirtualIPSpec `json:"spec,omitempty"`
	// Status is the observed state; status.ip is the allocated address.
	Status VirtualIPStatus `json:"status,omitempty"`
}

// VirtualIPSpec is the desired state of a VirtualIP.
type VirtualIPSpec struct {
	// Type of the virtual IP. Defaults to Public. Immutable.
	// +optional
	Type VirtualIPType `json:"type,omitempty"`
	// IPFamily of the address. Defaults to IPv4. Immutable.
	// +optional
	IPFamily corev1.IPFamily `json:"ipFamily,omitempty"`
	// TargetRef is the network interface the address is attached to.
	// +optional
	TargetRef *TargetReference `json:"targetRef,omitempty"`
}

// TargetReference names an object of the same namespace by name and UID.
type TargetReference struct {
	// Name of the target.
	Name string `json:"name"`
	// UID of the target, so a re-created object of the same name is not the target.
	// +optional
	UID types.UID `json:"uid,omitempty"`
}

// VirtualIPStatus is the observed state of a VirtualIP.
type VirtualIPStatus struct {
	// ObservedGeneration is the metadata.generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// IP is the allocated public address.
	// +optional
	IP string `json:"ip,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// VirtualIPList is a list of VirtualIPs.
type VirtualIPList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the virtual IPs.
	Items []VirtualIP `json:"items"`
}
