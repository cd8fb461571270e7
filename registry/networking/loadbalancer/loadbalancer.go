// Package loadbalancer is the REST storage of networking.ferrite.dev LoadBalancers.
package loadbalancer

import (
	"fmt"

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

// Kind describes LoadBalancers to the generic registry.
var Kind = &kind.Kind[*networking.LoadBalancer]{
	Resource:             networking.Resource("loadbalancers"),
	Singular:             "loadbalancer",
	StorageVersion:       v1alpha1.SchemeGroupVersion,
	Namespaced:           true,
	ShortNames:           []string{"lb"},
	Categories:           []string{"ferrite", "networking"},
	New:                  func() *networking.LoadBalancer { return &networking.LoadBalancer{} },
	NewList:              func() runtime.Object { return &networking.LoadBalancerList{} },
	Spec:                 func(l *networking.LoadBalancer) any { return l.Spec },
	ClearStatus:          func(l *networking.LoadBalancer) { l.Status = networking.LoadBalancerStatus{} },
	CopyStatus:           func(from, to *networking.LoadBalancer) { to.Status = from.Status },
	CopySpec:             func(from, to *networking.LoadBalancer) { to.Spec = from.Spec },
	Validate:             validation.ValidateLoadBalancer,
	ValidateUpdate:       validation.ValidateLoadBalancerUpdate,
	ValidateStatusUpdate: validation.ValidateLoadBalancerStatusUpdate,
	SelectableFields: func(l *networking.LoadBalancer) fields.Set {
		return fields.Set{"spec.networkRef.name": l.Spec.NetworkRef.Name}
	},
	Columns: []metav1.TableColumnDefinition{
		columns.Column("Type", "string", "Public or internal.", false),
		columns.Column("Network", "string", "Network of the targets.", false),
		columns.Column("IPs", "string", "Allocated addresses.", false),
		columns.Column("Ports", "string", "Balanced ports.", true),
	},
	Row: func(l *networking.LoadBalancer) []any {
		var ports []string
		for _, p := range l.Spec.Ports {
			s := fmt.Sprintf("%d/%s", p.Port, p.Protocol)
			if p.EndPort != nil {
				s = fmt.Sprintf("%d-%d/%s", p.Port, *p.EndPort, p.Protocol)
			}
			ports = append(ports, s)
		}
		return []any{string(l.Spec.Type), l.Spec.NetworkRef.Name, columns.List(l.Status.IPs), columns.List(ports)}
	},
}

// NewStorage returns the storage of loadbalancers and loadbalancers/status.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*kind.Storage, error) {
	return kind.NewStorage(scheme, optsGetter, Kind)
}
