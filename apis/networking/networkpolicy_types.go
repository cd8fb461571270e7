package networking

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

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NetworkPolicy restricts the traffic of the network interfaces it selects to what its rules
// allow. Interfaces no policy selects allow all traffic.
type NetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state of the policy.
	Spec NetworkPolicySpec `json:"spec,omitempty"`
}

// NetworkPolicySpec is the desired state of a NetworkPolicy.
type NetworkPolicySpec struct {
	// NetworkRef names the Network the policy applies in. Immutable.
	NetworkRef corev1.LocalObjectReference `json:"networkRef"`
	// NetworkInterfaceSelector selects the interfaces the policy applies to; empty selects all.
	NetworkInterfaceSelector metav1.LabelSelector `json:"networkInterfaceSelector"`
	// PolicyTypes are the directions governed. Defaults to Ingress, plus Egress if egress rules exist.
	// +optional
	PolicyTypes []PolicyType `json:"policyTypes,omitempty"`
	// Ingress rules allow traffic to the selected interfaces.
	// +optional
	Ingress []NetworkPolicyRule `json:"ingress,omitempty"`
	// Egress rules allow traffic from the selected interfaces.
	// +optional
	Egress []NetworkPolicyRule `json:"egress,omitempty"`
}

// NetworkPolicyRule allows traffic with the listed peers on the listed ports.
type NetworkPolicyRule struct {
	// Peers are the other ends allowed; empty means any.
	// +optional
	Peers []NetworkPolicyPeer `json:"peers,omitempty"`
	// Ports allowed; empty means all.
	// +optional
	Ports []LoadBalancerPort `json:"ports,omitempty"`
}

// NetworkPolicyPeer is an allowed other end: a CIDR block or interfaces matching a selector.
// Exactly one field must be set.
type NetworkPolicyPeer struct {
	// IPBlock is a CIDR with optional exceptions.
	// +optional
	IPBlock *IPBlock `json:"ipBlock,omitempty"`
	// NetworkInterfaceSelector selects interfaces in the same network.
	// +optional
	NetworkInterfaceSelector *metav1.LabelSelector `json:"networkInterfaceSelector,omitempty"`
}

// IPBlock is a CIDR with excepted sub-ranges.
type IPBlock struct {
	// CIDR is the allowed range.
	CIDR string `json:"cidr"`
	// Except are ranges inside cidr that are not allowed.
	// +optional
	Except []string `json:"except,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NetworkPolicyList is a list of NetworkPolicies.
type NetworkPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the network policies.
	Items []NetworkPolicy `json:"items"`
}
