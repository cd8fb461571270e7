package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// MachineBinding binds a Machine to a MachinePool. POST it to the machine's binding subresource
// (machines/NAME/binding); only holders of machines/binding (the scheduler, operators) may. The
// server checks that the pool exists, records its UID in spec.machinePoolRef, and refuses to
// move a machine that is already bound elsewhere.
type MachineBinding struct {
	metav1.TypeMeta `json:",inline"`
	// Name must be the machine's name (or empty).
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// Target is the pool to bind the machine to.
	Target corev1.LocalObjectReference `json:"target" protobuf:"bytes,2,opt,name=target"`
}
