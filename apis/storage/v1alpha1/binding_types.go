package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// VolumeBinding binds a Volume to a VolumePool. POST it to the volume's binding subresource
// (volumes/NAME/binding); only holders of volumes/binding (the scheduler, operators) may. The
// server checks that the pool exists, records its UID in spec.volumePoolRef, and refuses to move
// a volume that is already bound elsewhere.
type VolumeBinding struct {
	metav1.TypeMeta `json:",inline"`
	// Name must be the volume's name (or empty).
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// Target is the pool to bind the volume to.
	Target corev1.LocalObjectReference `json:"target" protobuf:"bytes,2,opt,name=target"`
}
