// Package natgateway is the REST storage of networking.ferrite.dev NATGateways.
package natgateway

import (
	"strconv"

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

// Kind describes NATGateways to the generic registry.
var Kind = &kind.Kind[*networking.NATGateway]{
	Resource:             networking.Resource("natgateways"),
	Singular:             "natgateway",
	StorageVersion:       v1alpha1.SchemeGroupVersion,
	Namespaced:           true,
	ShortNames:           []string{"natgw"},
	Categories:           []string{"ferrite", "networking"},
	New:                  func() *networking.NATGateway { return &networking.NATGateway{} },
	NewList:              func() runtime.Object { return &networking.NATGatewayList{} },
	Spec:                 func(g *networking.NATGateway) any { return g.Spec },
	ClearStatus:          func(g *networking.NATGateway) { g.Status = networking.NATGatewayStatus{} },
	CopyStatus:           func(from, to *networking.NATGateway) { to.Status = from.Status },
	CopySpec:             func(from, to *networking.NATGateway) { to.Spec = from.Spec },
	Validate:             validation.ValidateNATGateway,
	ValidateUpdate:       validation.ValidateNATGatewayUpdate,
	ValidateStatusUpdate: validation.ValidateNATGatewayStatusUpdate,
	SelectableFields: func(g *networking.NATGateway) fields.Set {
		return fields.Set{"spec.networkRef.name": g.Spec.NetworkRef.Name}
	},
	Columns: []metav1.TableColumnDefinition{
		columns.Column("Network", "string", "Network the gateway serves.", false),
		columns.Column("IPs", "string", "Public addresses.", false),
		columns.Column("PortsPerNIC", "integer", "Source ports per network interface.", true),
	},
	Row: func(g *networking.NATGateway) []any {
		return []any{g.Spec.NetworkRef.Name, columns.List(g.Status.IPs), strconv.Itoa(int(g.Spec.PortsPerNetworkInterface))}
	},
}

// NewStorage returns the storage of natgateways and natgateways/status.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*kind.Storage, error) {
	return kind.NewStorage(scheme, optsGetter, Kind)
}
