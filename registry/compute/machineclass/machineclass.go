// Package machineclass is the REST storage of compute.ferrite.dev MachineClasses.
package machineclass

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/ferrite-dev/ferrite/apis/compute"
	"github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/compute/validation"
	"github.com/ferrite-dev/ferrite/registry/columns"
	"github.com/ferrite-dev/ferrite/registry/kind"
)

// Kind describes MachineClasses to the generic registry. They have no status.
var Kind = &kind.Kind[*compute.MachineClass]{
	Resource:       compute.Resource("machineclasses"),
	Singular:       "machineclass",
	StorageVersion: v1alpha1.SchemeGroupVersion,
	ShortNames:     []string{"mc"},
	Categories:     []string{"ferrite", "compute"},
	New:            func() *compute.MachineClass { return &compute.MachineClass{} },
	NewList:        func() runtime.Object { return &compute.MachineClassList{} },
	Spec:           func(c *compute.MachineClass) any { return c.Capabilities },
	Validate:       validation.ValidateMachineClass,
	ValidateUpdate: validation.ValidateMachineClassUpdate,
	Columns: []metav1.TableColumnDefinition{
		columns.Column("CPU", "string", "CPUs of a machine of the class.", false),
		columns.Column("Memory", "string", "Memory of a machine of the class.", false),
	},
	Row: func(c *compute.MachineClass) []any {
		return []any{columns.Quantity(c.Capabilities, corev1.ResourceCPU), columns.Quantity(c.Capabilities, corev1.ResourceMemory)}
	},
}

// NewStorage returns the storage of machineclasses.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*kind.Storage, error) {
	return kind.NewStorage(scheme, optsGetter, Kind)
}
