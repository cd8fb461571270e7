package core

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Resource names a ResourceQuota can limit. Besides these, "count/<resource>.<group>" limits
// the number of objects of any Ferrite kind (for example count/machines.compute.ferrite.dev),
// and "<class>.machineclass.compute.ferrite.dev/machines" or
// "<class>.volumeclass.storage.ferrite.dev/storage" limit use per class.
const (
	// ResourceRequestsCPU is the sum of CPU of the namespace's machines (from their classes).
	ResourceRequestsCPU corev1.ResourceName = "requests.cpu"
	// ResourceRequestsMemory is the sum of memory of the namespace's machines.
	ResourceRequestsMemory corev1.ResourceName = "requests.memory"
	// ResourceRequestsStorage is the sum of the storage of the namespace's volumes.
	ResourceRequestsStorage corev1.ResourceName = "requests.storage"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ResourceQuota caps what a namespace may use: object counts, CPU and memory of machines,
// storage of volumes, in total or per class.
type ResourceQuota struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state of the quota.
	Spec ResourceQuotaSpec `json:"spec,omitempty"`
	// Status is the observed use, kept current by the quota controller.
	Status ResourceQuotaStatus `json:"status,omitempty"`
}

// ResourceQuotaSpec is the desired state of a ResourceQuota.
type ResourceQuotaSpec struct {
	// Hard are the limits per resource name.
	Hard corev1.ResourceList `json:"hard"`
}

// ResourceQuotaStatus is the observed state of a ResourceQuota.
type ResourceQuotaStatus struct {
	// ObservedGeneration is the metadata.generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Hard are the enforced limits.
	// +optional
	Hard corev1.ResourceList `json:"hard,omitempty"`
	// Used is the current use per resource name.
	// +optional
	Used corev1.ResourceList `json:"used,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ResourceQuotaList is a list of ResourceQuotas.
type ResourceQuotaList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the quotas.
	Items []ResourceQuota `json:"items"`
}
