// Package machinepool is the REST storage of compute.ferrite.dev MachinePools.
package machinepool

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/ferrite-dev/ferrite/apis/compute"
	"github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/compute/validation"
	"github.com/ferrite-dev/ferrite/registry/columns"
	"github.com/ferrite-dev/ferrite/registry/kind"
)

// Kind describes MachinePools to the generic registry.
var Kind = &kind.Kind[*compute.MachinePool]{
	Resource:             compute.Resource("machinepools"),
	Singular:             "machinepool",
	StorageVersion:       v1alpha1.SchemeGroupVersion,
	ShortNames:           []string{"mp"},
	Categories:           []string{"ferrite", "compute"},
	New:                  func() *compute.MachinePool { return &compute.MachinePool{} },
	NewList:              func() runtime.Object { return &compute.MachinePoolList{} },
	Spec:                 func(p *compute.MachinePool) any { return p.Spec },
	ClearStatus:          func(p *compute.MachinePool) { p.Status = compute.MachinePoolStatus{} },
	CopyStatus:           func(from, to *compute.MachinePool) { to.Status = from.Status },
	CopySpec:             func(from, to *compute.MachinePool) { to.Spec = from.Spec },
	Validate:             validation.ValidateMachinePool,
	ValidateUpdate:       validation.ValidateMachinePoolUpdate,
	ValidateStatusUpdate: validation.ValidateMachinePoolStatusUpdate,
	Columns: []metav1.TableColumnDefinition{
		columns.Column("Ready", "string", "Whether the pool's poollet is heartbeating.", false),
		columns.Column("Classes", "string", "Machine classes the pool offers: machines placed (counted and in flight) / allocatable.", false),
		columns.Column("ProviderID", "string", "Identifier of the pool at its provider.", true),
		columns.Column("Taints", "string", "Taints of the pool.", true),
	},
	Row: func(p *compute.MachinePool) []any {
		var classes, taints []string
		for name, count := range p.Status.Allocatable {
			counted := p.Status.Allocated[name]
			used := counted.Value()
			for _, r := range p.Status.Reservations {
				if r.MachineClass == string(name) {
					used++
				}
			}
			classes = append(classes, fmt.Sprintf("%s=%d/%s", name, used, count.String()))
		}
		sort.Strings(classes)
		for _, t := range p.Spec.Taints {
			taints = append(taints, t.ToString())
		}
		return []any{
			columns.ConditionStatus(p.Status.Conditions, compute.MachinePoolConditionReady),
			columns.Text(strings.Join(classes, ",")), columns.Text(p.Spec.ProviderID), columns.List(taints),
		}
	},
}

// NewStorage returns the storage of machinepools and machinepools/status.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*kind.Storage, error) {
	return kind.NewStorage(scheme, optsGetter, Kind)
}
