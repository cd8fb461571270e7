// Package networkinterface is the REST storage of networking.ferrite.dev NetworkInterfaces.
package networkinterface

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/ferrite-dev/ferrite/apis/networking"
	"github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/networking/validation"
	"github.com/ferrite-dev/ferrite/registry/columns"
	"github.com/ferrite-dev/ferrite/registry/kind"
)

// Kind describes NetworkInterfaces to the generic registry.
var Kind = &kind.Kind[*networking.NetworkInterface]{
	Resource:             networking.Resource("networkinterfaces"),
	Singular:             "networkinterface",
	StorageVersion:       v1alpha1.SchemeGroupVersion,
	Namespaced:           true,
	ShortNames:           []string{"nic"},
	Categories:           []string{"ferrite", "networking"},
	New:                  func() *networking.NetworkInterface { return &networking.NetworkInterface{} },
	NewList:              func() runtime.Object { return &networking.NetworkInterfaceList{} },
	Spec:                 func(n *networking.NetworkInterface) any { return n.Spec },
	ClearStatus:          func(n *networking.NetworkInterface) { n.Status = networking.NetworkInterfaceStatus{} },
	CopyStatus:           func(from, to *networking.NetworkInterface) { to.Status = from.Status },
	CopySpec:             func(from, to *networking.NetworkInterface) { to.Spec = from.Spec },
	Validate:             validation.ValidateNetworkInterface,
	ValidateUpdate:       validation.ValidateNetworkInterfaceUpdate,
	ValidateStatusUpdate: validation.ValidateNetworkInterfaceStatusUpdate,
	Claim: &kind.Claim[*networking.NetworkInterface]{
		Path:         field.NewPath("spec", "machineRef"),
		ClaimerGroup: "compute.ferrite.dev",
		ClaimerKind:  "Machine",
		Get: func(n *networking.NetworkInterface) *kind.ClaimRef {
			if n.Spec.MachineRef == nil {
				return nil
			}
			return &kind.ClaimRef{Name: n.Spec.MachineRef.Name, UID: n.Spec.MachineRef.UID}
		},
		Set: func(n *networking.NetworkInterface, ref *kind.ClaimRef) {
			n.Spec.MachineRef = nil
			if ref != nil {
				n.Spec.MachineRef = &networking.MachineReference{Name: ref.Name, UID: ref.UID}
			}
		},
	},
	SelectableFields: func(n *networking.NetworkInterface) fields.Set {
		machine := ""
		if n.Spec.MachineRef != nil {
			machine = n.Spec.MachineRef.Name
		}
		return fields.Set{"spec.networkRef.name": n.Spec.NetworkRef.Name, "spec.machineRef.name": machine,
			"status.machinePoolRef.name": machinePool(n)}
	},
	// Each host's network agent watches status.machinePoolRef.name=<pool>.
	IndexedField: &kind.IndexedField[*networking.NetworkInterface]{Path: "status.machinePoolRef.name", Value: machinePool},
	Columns: []metav1.TableColumnDefinition{
		columns.Column("Network", "string", "Network of the interface.", false),
		columns.Column("Machine", "string", "Machine the interface is attached to.", false),
		columns.Column("IPs", "string", "Effective addresses.", false),
		columns.Column("State", "string", "Lifecycle state.", false),
		columns.Column("VirtualIP", "string", "Public address.", true),
		columns.Column("Prefixes", "string", "Routed prefixes.", true),
	},
	Row: func(n *networking.NetworkInterface) []any {
		return []any{
			n.Spec.NetworkRef.Name, machineName(n.Spec.MachineRef), columns.List(n.Status.IPs),
			columns.Text(string(n.Status.State)), columns.Text(n.Status.VirtualIP), columns.List(n.Status.Prefixes),
		}
	},
}

// NewStorage returns the storage of networkinterfaces and networkinterfaces/status.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*kind.Storage, error) {
	return kind.NewStorage(scheme, optsGetter, Kind)
}

func machineName(ref *networking.MachineReference) string {
	if ref == nil {
		return columns.None
	}
	return columns.Text(ref.Name)
}

func machinePool(n *networking.NetworkInterface) string {
	if n.Status.MachinePoolRef == nil {
		return ""
	}
	return n.Status.MachinePoolRef.Name
}
