// Package prefix is the REST storage of ipam.ferrite.dev Prefixes.
package prefix

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/ferrite-dev/ferrite/apis/ipam"
	"github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/ipam/validation"
	"github.com/ferrite-dev/ferrite/registry/columns"
	"github.com/ferrite-dev/ferrite/registry/kind"
)

// Kind describes Prefixes to the generic registry.
var Kind = &kind.Kind[*ipam.Prefix]{
	Resource:             ipam.Resource("prefixes"),
	Singular:             "prefix",
	StorageVersion:       v1alpha1.SchemeGroupVersion,
	Namespaced:           true,
	ShortNames:           []string{"pfx"},
	Categories:           []string{"ferrite", "networking", "ipam"},
	New:                  func() *ipam.Prefix { return &ipam.Prefix{} },
	NewList:              func() runtime.Object { return &ipam.PrefixList{} },
	Spec:                 func(p *ipam.Prefix) any { return p.Spec },
	ClearStatus:          func(p *ipam.Prefix) { p.Status = ipam.PrefixStatus{} },
	CopyStatus:           func(from, to *ipam.Prefix) { to.Status = from.Status },
	CopySpec:             func(from, to *ipam.Prefix) { to.Spec = from.Spec },
	Validate:             validation.ValidatePrefix,
	ValidateUpdate:       validation.ValidatePrefixUpdate,
	ValidateStatusUpdate: validation.ValidatePrefixStatusUpdate,
	SelectableFields: func(p *ipam.Prefix) fields.Set {
		parent := ""
		if p.Spec.ParentRef != nil {
			parent = p.Spec.ParentRef.Name
		}
		return fields.Set{"spec.parentRef.name": parent}
	},
	Columns: []metav1.TableColumnDefinition{
		columns.Column("Prefix", "string", "The range in CIDR notation.", false),
		columns.Column("Parent", "string", "Parent prefix.", false),
		columns.Column("Phase", "string", "Allocation phase.", false),
		columns.Column("Family", "string", "IP family.", true),
	},
	Row: func(p *ipam.Prefix) []any {
		return []any{columns.Text(p.Spec.Prefix), columns.RefName(p.Spec.ParentRef), columns.Text(string(p.Status.Phase)), string(p.Spec.IPFamily)}
	},
}

// NewStorage returns the storage of prefixes and prefixes/status.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*kind.Storage, error) {
	return kind.NewStorage(scheme, optsGetter, Kind)
}
