// Package machine is the REST storage of compute.ferrite.dev Machines.
package machine

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/ferrite-dev/ferrite/apis/compute"
	"github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/compute/validation"
	"github.com/ferrite-dev/ferrite/registry/columns"
	"github.com/ferrite-dev/ferrite/registry/kind"
)

// Kind describes Machines to the generic registry.
var Kind = &kind.Kind[*compute.Machine]{
	Resource:             compute.Resource("machines"),
	Singular:             "machine",
	StorageVersion:       v1alpha1.SchemeGroupVersion,
	Namespaced:           true,
	ShortNames:           []string{"mach"},
	Categories:           []string{"ferrite", "compute"},
	New:                  func() *compute.Machine { return &compute.Machine{} },
	NewList:              func() runtime.Object { return &compute.MachineList{} },
	Spec:                 func(m *compute.Machine) any { return m.Spec },
	ClearStatus:          func(m *compute.Machine) { m.Status = compute.MachineStatus{} },
	CopyStatus:           func(from, to *compute.Machine) { to.Status = from.Status },
	CopySpec:             func(from, to *compute.Machine) { to.Spec = from.Spec },
	Validate:             validation.ValidateMachine,
	ValidateUpdate:       validation.ValidateMachineUpdate,
	ValidateStatusUpdate: validation.ValidateMachineStatusUpdate,
	Binding: &kind.Binding[*compute.Machine]{
		Path:  field.NewPath("spec", "machinePoolRef"),
		Kind:  compute.Kind("MachineBinding"),
		Pools: compute.Resource("machinepools"),
		New:   func() runtime.Object { return &compute.MachineBinding{} },
		Target: func(request runtime.Object) (string, string) {
			b := request.(*compute.MachineBinding)
			return b.Name, b.Target.Name
		},
		PoolRef: func(m *compute.Machine) *kind.PoolRef {
			if m.Spec.MachinePoolRef == nil {
				return nil
			}
			return &kind.PoolRef{Name: m.Spec.MachinePoolRef.Name, UID: m.Spec.MachinePoolRef.UID}
		},
		SetPoolRef: func(m *compute.Machine, ref *kind.PoolRef) {
			m.Spec.MachinePoolRef = nil
			if ref != nil {
				m.Spec.MachinePoolRef = &compute.MachinePoolReference{Name: ref.Name, UID: ref.UID}
			}
		},
	},
	SelectableFields: func(m *compute.Machine) fields.Set {
		return fields.Set{
			"spec.machinePoolRef.name":  boundPool(m),
			"spec.machineClassRef.name": m.Spec.MachineClassRef.Name,
			"status.state":              string(m.Status.State),
		}
	},
	// Each pool's machinepoollet watches spec.machinePoolRef.name=<pool>.
	IndexedField: &kind.IndexedField[*compute.Machine]{Path: "spec.machinePoolRef.name", Value: boundPool},
	Columns: []metav1.TableColumnDefinition{
		columns.Column("Class", "string", "Machine class (size).", false),
		columns.Column("Pool", "string", "Machine pool the machine is bound to.", false),
		columns.Column("State", "string", "Lifecycle state reported by the pool.", false),
		columns.Column("Power", "string", "Desired power state.", true),
		columns.Column("Image", "string", "Boot image.", true),
		columns.Column("IPs", "string", "Addresses of the network interfaces.", true),
	},
	Row: func(m *compute.Machine) []any {
		var ips []string
		for _, nic := range m.Status.NetworkInterfaces {
			ips = append(ips, nic.IPs...)
		}
		return []any{
			m.Spec.MachineClassRef.Name, poolName(m.Spec.MachinePoolRef), columns.Text(string(m.Status.State)),
			string(m.Spec.Power), columns.Text(m.Spec.Image), columns.List(ips),
		}
	},
}

// NewStorage returns the storage of machines and machines/status.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*kind.Storage, error) {
	return kind.NewStorage(scheme, optsGetter, Kind)
}

// boundPool is the name of the pool the machine is bound to, "" while it is unbound.
func boundPool(m *compute.Machine) string {
	if m.Spec.MachinePoolRef == nil {
		return ""
	}
	return m.Spec.MachinePoolRef.Name
}

func poolName(ref *compute.MachinePoolReference) string {
	if ref == nil {
		return columns.None
	}
	return columns.Text(ref.Name)
}
