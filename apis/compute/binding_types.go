package compute

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// MachineBinding binds a Machine to a MachinePool. It is posted to the machine's binding
// subresource by the scheduler, or by an operator placing a machine by hand.
type MachineBinding struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	// Target is the pool to bind the machine to.
	Target corev1.LocalObjectReference
}
