// Package virtualip is the REST storage of networking.ferrite.dev VirtualIPs.
package virtualip

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/ferrite-dev/ferrite/apis/networking"
	"github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/networking/validation"
	"github.com/ferrite-dev/ferrite/registry/columns"
	"github.com/ferrite-dev/ferrite/registry/kind"
)

// Kind describes VirtualIPs to the generic registry.
var Kind = &kind.Kind[*networking.VirtualIP]{
	Resource:             networking.Resource("virtualips"),
	Singular:             "virtualip",
	StorageVersion:       v1alpha1.SchemeGroupVersion,
	Namespaced:           true,
	ShortNames:           []string{"vip"},
	Categories:           []string{"ferrite", "networking"},
	New:                  func() *networking.VirtualIP { return &networking.VirtualIP{} },
	NewList:              func() runtime.Object { return &networking.VirtualIPList{} },
	Spec:                 func(v *networking.VirtualIP) any { return v.Spec },
	ClearStatus:          func(v *networking.VirtualIP) { v.Status = networking.VirtualIPStatus{} },
	CopyStatus:           func(from, to *networking.VirtualIP) { to.Status = from.Status },
	CopySpec:             func(from, to *networking.VirtualIP) { to.Spec = from.Spec },
	Validate:             validation.ValidateVirtualIP,
	ValidateUpdate:       validation.ValidateVirtualIPUpdate,
	ValidateStatusUpdate: validation.ValidateVirtualIPStatusUpdate,
	SelectableFields: func(v *networking.VirtualIP) fields.Set {
		target := ""
		if v.Spec.TargetRef != nil {
			target = v.Spec.TargetRef.Name
		}
		return fields.Set{"spec.targetRef.name": target}
	},
	Columns: []metav1.TableColumnDefinition{
		columns.Column("Type", "string", "Reachability of the address.", false),
		columns.Column("IP", "string", "Allocated address.", false),
		columns.Column("Target", "string", "Network interface the address is attached to.", false),
	},
	Row: func(v *networking.VirtualIP) []any {
		target := columns.None
		if v.Spec.TargetRef != nil {
			target = v.Spec.TargetRef.Name
		}
		return []any{string(v.Spec.Type), columns.Text(v.Status.IP), target}
	},
}

// NewStorage returns the storage of virtualips and virtualips/status.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*kind.Storage, error) {
	return kind.NewStorage(scheme, optsGetter, Kind)
}
