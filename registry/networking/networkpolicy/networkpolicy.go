// Package networkpolicy is the REST storage of networking.ferrite.dev NetworkPolicies.
package networkpolicy

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

// Kind describes NetworkPolicies to the generic registry. They have no status.
var Kind = &kind.Kind[*networking.NetworkPolicy]{
	Resource:       networking.Resource("networkpolicies"),
	Singular:       "networkpolicy",
	StorageVersion: v1alpha1.SchemeGroupVersion,
	Namespaced:     true,
	// "netpol" belongs to Kubernetes' own NetworkPolicy; this one needs its own alias.
	ShortNames:     []string{"npol"},
	Categories:     []string{"ferrite", "networking"},
	New:            func() *networking.NetworkPolicy { return &networking.NetworkPolicy{} },
	NewList:        func() runtime.Object { return &networking.NetworkPolicyList{} },
	Spec:           func(p *networking.NetworkPolicy) any { return p.Spec },
	Validate:       validation.ValidateNetworkPolicy,
	ValidateUpdate: validation.ValidateNetworkPolicyUpdate,
	SelectableFields: func(p *networking.NetworkPolicy) fields.Set {
		return fields.Set{"spec.networkRef.name": p.Spec.NetworkRef.Name}
	},
	Columns: []metav1.TableColumnDefinition{
		columns.Column("Network", "string", "Network the policy applies in.", false),
		columns.Column("PolicyTypes", "string", "Directions governed.", false),
	},
	Row: func(p *networking.NetworkPolicy) []any {
		return []any{p.Spec.NetworkRef.Name, columns.List(p.Spec.PolicyTypes)}
	},
}

// NewStorage returns the storage of networkpolicies.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*kind.Storage, error) {
	return kind.NewStorage(scheme, optsGetter, Kind)
}
