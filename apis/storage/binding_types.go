package storage

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// VolumeBinding binds a Volume to a VolumePool. It is posted to the volume's binding
// subresource by the scheduler, or by an operator placing a volume by hand.
type VolumeBinding struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	// Target is the pool to bind the volume to.
	Target corev1.LocalObjectReference
}
