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
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
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
// that REST.allocateVNI has just claimed.
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
	// BeginCreate runs for every create, also for one that server-side apply or an update with
	// create-on-update makes, and before the strategy prepares the object.
	storage.REST.Store.BeginCreate = networks.allocateVNI
	storage.REST.Store.AfterDelete = networks.releaseVNI
	return map[string]rest.Storage{"networks": networks, "networks/status": storage.Status}, nil
}

// allocateVNI claims a VNI for a network about to be stored and releases it if the store then
// refuses the network.
func (r *REST) allocateVNI(ctx context.Context, obj runtime.Object, options *metav1.CreateOptions) (genericregistry.FinishFunc, error) {
	network := obj.(*networking.Network)
	// Whatever the client sent as status is replaced; only the server picks VNIs.
	network.Status = networking.NetworkStatus{}
	if options != nil && dryrun.IsDryRun(options.DryRun) {
		return func(context.Context, bool) {}, nil
	}
	// The claim names its owner, so a generated name is fixed before the claim is made.
	if network.Name == "" && network.GenerateName != "" {
		network.Name = names.SimpleNameGenerator.GenerateName(network.GenerateName)
	}
	owner := ownerOf(genericapirequest.NamespaceValue(ctx), network.Name)
	id, err := r.allocator.Allocate(ctx, owner)
	if err != nil {
		return nil, err
	}
	network.Status.VNI = id
	return func(ctx context.Context, success bool) {
		if success {
			return
		}
		if err := r.allocator.Release(context.WithoutCancel(ctx), id, owner); err != nil {
			klog.ErrorS(err, "Leaked VNI claim after a failed create", "vni", id, "network", owner)
		}
	}, nil
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
