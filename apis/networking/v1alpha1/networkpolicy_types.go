package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PolicyType is the direction a network policy governs.
type PolicyType string

const (
	// PolicyTypeIngress governs traffic to the selected interfaces.
	PolicyTypeIngress PolicyType = "Ingress"
	// PolicyTypeEgress governs traffic from the selected interfaces.
	PolicyTypeEgress PolicyType = "Egress"
)

// +genclient
// +genclient:noStatus
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NetworkPolicy restricts the traffic of the network interfaces it selects to what its rules
// allow. Interfaces no policy selects allow all traffic.
type NetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// Spec is the desired state of the policy.
	Spec NetworkPolicySpec `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`
}

// NetworkPolicySpec is the desired state of a NetworkPolicy.
type NetworkPolicySpec struct {
	// NetworkRef names the Network the policy applies in. Immutable.
	NetworkRef corev1.LocalObjectReference `json:"networkRef" protobuf:"bytes,1,opt,name=networkRef"`
	// NetworkInterfaceSelector selects the interfaces the policy applies to; empty selects all.
	NetworkInterfaceSelector metav1.LabelSelector `json:"networkInterfaceSelector" protobuf:"bytes,2,opt,name=networkInterfaceSelector"`
	// PolicyTypes are the directions governed. Defaults to Ingress, plus Egress if egress rules exist.
	// +optional
	// +listType=atomic
	PolicyTypes []PolicyType `json:"policyTypes,omitempty" protobuf:"bytes,3,rep,name=policyTypes,casttype=PolicyType"`
	// Ingress rules allow traffic to the selected interfaces.
	// +optional
	// +listType=atomic
	Ingress []NetworkPolicyRule `json:"ingress,omitempty" protobuf:"bytes,4,rep,name=ingress"`
	// Egress rules allow traffic from the selected interfaces.
	// +optional
	// +listType=atomic
	Egress []NetworkPolicyRule `json:"egress,omitempty" protobuf:"bytes,5,rep,name=egress"`
}

// NetworkPolicyRule allows traffic with the listed peers on the listed ports.
type NetworkPolicyRule struct {
	// Peers are the other ends allowed; empty means any.
	// +optional
	// +listType=atomic
	Peers []NetworkPolicyPeer `json:"peers,omitempty" protobuf:"bytes,1,rep,name=peers"`
	// Ports allowed; empty means all.
	// +optional
	// +listType=atomic
	Ports []LoadBalancerPort `json:"ports,omitempty" protobuf:"bytes,2,rep,name=ports"`
}

// NetworkPolicyPeer is an allowed other end: a CIDR block or interfaces matching a selector.
// Exactly one field must be set.
type NetworkPolicyPeer struct {
	// IPBlock is a CIDR with optional exceptions.
	// +optional
	IPBlock *IPBlock `json:"ipBlock,omitempty" protobuf:"bytes,1,opt,name=ipBlock"`
	// NetworkInterfaceSelector selects interfaces in the same network.
	// +optional
	NetworkInterfaceSelector *metav1.LabelSelector `json:"networkInterfaceSelector,omitempty" protobuf:"bytes,2,opt,name=networkInterfaceSelector"`
}

// IPBlock is a CIDR with excepted sub-ranges.
type IPBlock struct {
	// CIDR is the allowed range.
	CIDR string `json:"cidr" protobuf:"bytes,1,opt,name=cidr"`
	// Except are ranges inside cidr that are not allowed.
	// +optional
	// +listType=atomic
	Except []string `json:"except,omitempty" protobuf:"bytes,2,rep,name=except"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NetworkPolicyList is a list of NetworkPolicies.
type NetworkPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	// Items are the network policies.
	Items []NetworkPolicy `json:"items" protobuf:"bytes,2,rep,name=items"`
}
