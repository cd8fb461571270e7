// Package network is the REST storage of networking.ferrite.dev Networks. Each network gets a
// unique VNI at create, held until the network is deleted.
package network

import (
	"context"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage/names"
	"k8s.io/apiserver/pkg/util/dryrun"
	"k8s.io/klog/v2"

	"github.com/ferrite-dev/ferrite/apis/networking"
	"github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/networking/validation"
	"github.com/ferrite-dev/ferrite/registry/columns"
	"github.com/ferrite-dev/ferrite/registry/kind"
	"github.com/ferrite-dev/ferrite/registry/networking/vni"
)

// Kind describes Networks to the generic registry. Create clears the status but keeps the VNI
// that REST.Create has just allocated.
var Kind = &kind.Kind[*networking.Network]{
	Resource:             networking.Resource("networks"),
	Singular:             "network",
	StorageVersion:       v1alpha1.SchemeGroupVersion,
	Namespaced:           true,
	ShortNames:           []string{"net"},
	Categories:           []string{"ferrite", "networking"},
	New:                  func() *networking.Network { return &networking.Network{} },
	NewList:              func() runtime.Object { return &networking.NetworkList{} },
	Spec:                 func(n *networking.Network) any { return n.Spec },
	ClearStatus:          func(n *networking.Network) { n.Status = networking.NetworkStatus{VNI: n.Status.VNI} },
	CopyStatus:           func(from, to *networking.Network) { to.Status = from.Status },
	CopySpec:             func(from, to *networking.Network) { to.Spec = from.Spec },
	Validate:             validation.ValidateNetwork,
	ValidateUpdate:       validation.ValidateNetworkUpdate,
	ValidateStatusUpdate: validation.ValidateNetworkStatusUpdate,
	Columns: []metav1.TableColumnDefinition{
		columns.Column("VNI", "integer", "Overlay network identifier.", false),
		columns.Column("State", "string", "Lifecycle state.", false),
		columns.Column("Peerings", "string", "Active peerings.", true),
	},
	Row: func(n *networking.Network) []any {
		return []any{strconv.Itoa(int(n.Status.VNI)), columns.Text(string(n.Status.State)), columns.List(n.Status.Peerings)}
	},
}

// REST is the storage of networks: the generic store plus VNI allocation.
type REST struct {
	*kind.REST
	allocator *vni.Allocator
}

// NewStorage returns the storage of networks and networks/status.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, allocator *vni.Allocator) (map[string]rest.Storage, error) {
	storage, err := kind.NewStorage(scheme, optsGetter, Kind)
	if err != nil {
		return nil, err
	}
	networks := &REST{REST: storage.REST, allocator: allocator}
	storage.REST.Store.AfterDelete = networks.releaseVNI
	return map[string]rest.Storage{"networks": networks, "networks/status": storage.Status}, nil
}

// Create allocates a VNI, then stores the network; the VNI is released if the store refuses it.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	network := obj.(*networking.Network)
	// Whatever the client sent as status is replaced; only the server picks VNIs.
	network.Status = networking.NetworkStatus{}
	if dryrun.IsDryRun(options.DryRun) {
		return r.REST.Create(ctx, obj, createValidation, options)
	}
	// The claim names its owner, so generated names are fixed before the claim is made.
	if network.Name == "" && network.GenerateName != "" {
		network.Name = names.SimpleNameGenerator.GenerateName(network.GenerateName)
	}
	owner := ownerOf(genericapirequest.NamespaceValue(ctx), network.Name)
	id, err := r.allocator.Allocate(ctx, owner)
	if err != nil {
		return nil, err
	}
	network.Status.VNI = id
	out, err := r.REST.Create(ctx, network, createValidation, options)
	if err != nil {
		if releaseErr := r.allocator.Release(context.WithoutCancel(ctx), id, owner); releaseErr != nil {
			klog.ErrorS(releaseErr, "Leaked VNI claim after a failed create", "vni", id, "network", owner)
		}
		return nil, err
	}
	return out, nil
}

// releaseVNI frees the VNI of a deleted network.
func (r *REST) releaseVNI(obj runtime.Object, options *metav1.DeleteOptions) {
	if options != nil && dryrun.IsDryRun(options.DryRun) {
		return
	}
	network := obj.(*networking.Network)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.allocator.Release(ctx, network.Status.VNI, ownerOf(network.Namespace, network.Name)); err != nil {
		klog.ErrorS(err, "Could not release VNI of a deleted network", "vni", network.Status.VNI, "network", klog.KObj(network))
	}
}

func ownerOf(namespace, name string) string { return namespace + "/" + name }
