package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// +genclient
// +genclient:method=Bind,verb=create,subresource=binding,input=github.com/ferrite-dev/ferrite/apis/storage/v1alpha1.VolumeBinding,result=github.com/ferrite-dev/ferrite/apis/storage/v1alpha1.Volume
// +genclient:method=UpdateClaim,verb=update,subresource=claim,input=github.com/ferrite-dev/ferrite/apis/storage/v1alpha1.Volume,result=github.com/ferrite-dev/ferrite/apis/storage/v1alpha1.Volume
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Volume is a block device of a given class and size. The scheduler binds it to a VolumePool;
// that pool's poollet creates it on the storage backend (for example a Ceph RBD image).
type Volume struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// Spec is the desired state of the volume.
	Spec VolumeSpec `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`
	// Status is the observed state of the volume, written by the poollet.
	Status VolumeStatus `json:"status,omitempty" protobuf:"bytes,3,opt,name=status"`
}

// VolumeSpec is the desired state of a Volume.
type VolumeSpec struct {
	// VolumeClassRef names the VolumeClass (performance tier) of the volume. Immutable.
	VolumeClassRef corev1.LocalObjectReference `json:"volumeClassRef" protobuf:"bytes,1,opt,name=volumeClassRef"`
	// VolumePoolSelector restricts scheduling to pools whose labels match.
	// +optional
	VolumePoolSelector map[string]string `json:"volumePoolSelector,omitempty" protobuf:"bytes,2,rep,name=volumePoolSelector"`
	// VolumePoolRef is the pool the volume is bound to. Only the binding subresource sets it (the
	// scheduler, or an operator placing a volume by hand); once set it cannot change.
	// +optional
	VolumePoolRef *VolumePoolReference `json:"volumePoolRef,omitempty" protobuf:"bytes,3,opt,name=volumePoolRef"`
	// Resources are the requested resources; "storage" is required. Storage may grow if the
	// class allows expansion and never shrinks.
	Resources corev1.ResourceList `json:"resources" protobuf:"bytes,4,rep,name=resources,casttype=k8s.io/api/core/v1.ResourceList,castkey=k8s.io/api/core/v1.ResourceName"`
	// Image is an OS image written to the volume at create. Exclusive with snapshotRef. Immutable.
	// +optional
	Image string `json:"image,omitempty" protobuf:"bytes,5,opt,name=image"`
	// SnapshotRef creates the volume from a VolumeSnapshot of the same namespace. Exclusive
	// with image. Immutable.
	// +optional
	SnapshotRef *corev1.LocalObjectReference `json:"snapshotRef,omitempty" protobuf:"bytes,6,opt,name=snapshotRef"`
	// ClaimRef is the machine using the volume; a volume is attached to one machine at a time.
	// Only the claim subresource writes it (the controller manager, for the machine that
	// references the volume); it cannot be set or changed through the volume itself.
	// +optional
	ClaimRef *ClaimReference `json:"claimRef,omitempty" protobuf:"bytes,7,opt,name=claimRef"`
	// Tolerations let the volume be scheduled onto pools with matching taints.
	// +optional
	// +listType=atomic
	Tolerations []corev1.Toleration `json:"tolerations,omitempty" protobuf:"bytes,8,rep,name=tolerations"`
}

// VolumePoolReference names the pool a volume is bound to, and which pool of that name.
type VolumePoolReference struct {
	// Name of the VolumePool.
	Name string `json:"name" protobuf:"bytes,1,opt,name=name"`
	// UID of the pool when the volume was bound: a pool re-created under the same name has
	// another UID and does not inherit the volume.
	// +optional
	UID types.UID `json:"uid,omitempty" protobuf:"bytes,2,opt,name=uid,casttype=k8s.io/apimachinery/pkg/types.UID"`
}

// ClaimReference names the object that uses a volume.
type ClaimReference struct {
	// Name of the claiming object in the volume's namespace.
	Name string `json:"name" protobuf:"bytes,1,opt,name=name"`
	// UID of the claiming object, so a re-created object of the same name does not inherit the claim.
	// +optional
	UID types.UID `json:"uid,omitempty" protobuf:"bytes,2,opt,name=uid,casttype=k8s.io/apimachinery/pkg/types.UID"`
}

// VolumeState is the coarse lifecycle state of a volume.
type VolumeState string

const (
	// VolumeStatePending means the volume is not yet created on its backend.
	VolumeStatePending VolumeState = "Pending"
	// VolumeStateAvailable means the volume exists and can be attached.
	VolumeStateAvailable VolumeState = "Available"
	// VolumeStateError means the backend failed to create or serve the volume.
	VolumeStateError VolumeState = "Error"
)

// VolumeStatus is the observed state of a Volume.
type VolumeStatus struct {
	// ObservedGeneration is the metadata.generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty" protobuf:"varint,1,opt,name=observedGeneration"`
	// State is the coarse lifecycle state.
	// +optional
	State VolumeState `json:"state,omitempty" protobuf:"bytes,2,opt,name=state,casttype=VolumeState"`
	// VolumeID is the backend's identifier of the volume.
	// +optional
	VolumeID string `json:"volumeID,omitempty" protobuf:"bytes,3,opt,name=volumeID"`
	// Conditions are the detailed observations.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" protobuf:"bytes,4,rep,name=conditions"`
	// Access tells a hypervisor how to attach the volume.
	// +optional
	Access *VolumeAccess `json:"access,omitempty" protobuf:"bytes,5,opt,name=access"`
}

// VolumeAccess is what a hypervisor needs to attach a volume.
type VolumeAccess struct {
	// Driver names the attachment mechanism, for example "ceph".
	Driver string `json:"driver" protobuf:"bytes,1,opt,name=driver"`
	// Handle is the driver-specific location, for example "pool/image".
	Handle string `json:"handle" protobuf:"bytes,2,opt,name=handle"`
	// Attributes are driver-specific parameters such as monitor addresses.
	// +optional
	Attributes map[string]string `json:"attributes,omitempty" protobuf:"bytes,3,rep,name=attributes"`
	// SecretRef names a Secret holding the credentials to attach the volume.
	// +optional
	SecretRef *corev1.LocalObjectReference `json:"secretRef,omitempty" protobuf:"bytes,4,opt,name=secretRef"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// VolumeList is a list of Volumes.
type VolumeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	// Items are the volumes.
	Items []Volume `json:"items" protobuf:"bytes,2,rep,name=items"`
}
