// Package network is the REST storage of networking.ferrite.dev Networks. Each network gets a
// unique VNI and the protection finalizer at create. The VNI is held until the network is gone
// from etcd (after the finalizer), then stays in quarantine; see package vni.
package network

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/util/dryrun"
	"k8s.io/klog/v2"

	"github.com/ferrite-dev/ferrite/apis/networking"
	"github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/networking/validation"
	"github.com/ferrite-dev/ferrite/registry/columns"
	"github.com/ferrite-dev/ferrite/registry/kind"
	"github.com/ferrite-dev/ferrite/registry/networking/vni"
)

// ProtectionFinalizer is the finalizer the apiserver adds to every new Network.
const ProtectionFinalizer = networking.NetworkProtectionFinalizer

// Kind describes Networks to the generic registry. Create clears the status but keeps the VNI
// that REST.beginCreate has just claimed.
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

// NewStorage returns the storage of networks and networks/status, and gives allocator's repair
// pass the list of stored networks.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, allocator *vni.Allocator) (map[string]rest.Storage, error) {
	// Creates record whether their etcd write was sent and how it ended (see beginCreate).
	storage, err := kind.NewStorage(scheme, recordingOptions{RESTOptionsGetter: optsGetter}, Kind)
	if err != nil {
		return nil, err
	}
	networks := &REST{REST: storage.REST, allocator: allocator}
	// BeginCreate runs for every create, also for one that server-side apply or an update with
	// create-on-update makes, after the name and UID are set and before the strategy prepares
	// the object. AfterDelete runs only when the network is removed from etcd, not when a
	// delete request leaves it waiting for finalizers.
	storage.REST.Store.BeginCreate = networks.beginCreate
	storage.REST.Store.AfterDelete = networks.releaseVNI
	allocator.SetNetworks(networks.storedNetworks)
	status := &statusREST{StatusREST: storage.Status, networks: networks}
	return map[string]rest.Storage{"networks": networks, "networks/status": status}, nil
}

// statusREST is the storage of networks/status. The status subresource may remove finalizers,
// so a status update can be what deletes a network; the status store is a copy of the main
// store made before AfterDelete was set, so the release is called here.
type statusREST struct {
	*kind.StatusREST
	networks *REST
}

// Update changes the status of a network and releases its VNI if the update removed the last
// finalizer of a network being deleted.
func (s *statusREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	obj, created, err := s.StatusREST.Update(ctx, name, objInfo, createValidation, updateValidation, forceAllowCreate, options)
	if network, ok := obj.(*networking.Network); ok && err == nil && network.DeletionTimestamp != nil && len(network.Finalizers) == 0 {
		deleteOptions := &metav1.DeleteOptions{}
		if options != nil {
			deleteOptions.DryRun = options.DryRun
		}
		s.networks.releaseVNI(network, deleteOptions)
	}
	return obj, created, err
}

// Create stores a new network. The request carries a record of its etcd write, so that a
// failed create frees its VNI only when it certainly stored nothing.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	return r.REST.Create(withWriteRecord(ctx), obj, createValidation, options)
}

// beginCreate adds the protection finalizer and claims a VNI for a network about to be
// stored; it frees the VNI if the network was certainly not stored.
func (r *REST) beginCreate(ctx context.Context, obj runtime.Object, options *metav1.CreateOptions) (genericregistry.FinishFunc, error) {
	network := obj.(*networking.Network)
	if !slices.Contains(network.Finalizers, ProtectionFinalizer) {
		network.Finalizers = append(network.Finalizers, ProtectionFinalizer)
	}
	// Whatever the client sent as status is replaced; only the server picks VNIs.
	network.Status = networking.NetworkStatus{}
	if options != nil && dryrun.IsDryRun(options.DryRun) {
		return func(context.Context, bool) {}, nil
	}
	holder := vni.Holder{Namespace: genericapirequest.NamespaceValue(ctx), Name: network.Name, UID: network.UID}
	id, err := r.allocator.Allocate(ctx, holder)
	if vni.IsExhausted(err) {
		return nil, exhausted(err, network.Name)
	}
	if err != nil {
		return nil, err
	}
	network.Status.VNI = id
	return func(ctx context.Context, success bool) {
		if success {
			return
		}
		// A write whose outcome is open may commit after this answer, and after any read that
		// finds nothing: freeing the VNI then could let this or another apiserver hand it to a
		// second network. The claim stays; the repair pass reclaims it after RepairGrace if the
		// network never appears.
		if !nothingStored(takeWriteRecord(ctx)) {
			klog.V(2).InfoS("A network create failed with its outcome unknown; its VNI stays claimed until the repair pass looks", "vni", id, "network", holder.String())
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := r.allocator.Free(ctx, id, holder); err != nil {
			klog.ErrorS(err, "Could not free the VNI of a failed create; the repair pass will", "vni", id, "network", holder.String())
		}
	}, nil
}

// releaseVNI puts the VNI of a network that is gone from etcd in quarantine. A failure is
// retried a few times here, and after that by the repair pass.
func (r *REST) releaseVNI(obj runtime.Object, options *metav1.DeleteOptions) {
	if options != nil && dryrun.IsDryRun(options.DryRun) {
		return
	}
	network := obj.(*networking.Network)
	holder := vni.Holder{Namespace: network.Namespace, Name: network.Name, UID: network.UID}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := wait.ExponentialBackoffWithContext(ctx, wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Steps: 5}, func(ctx context.Context) (bool, error) {
		if r.stored(ctx, holder) {
			// Not gone after all: the VNI stays claimed.
			return true, nil
		}
		if err := r.allocator.Release(ctx, network.Status.VNI, holder); err != nil {
			klog.V(2).InfoS("Releasing the VNI of a deleted network failed; retrying", "vni", network.Status.VNI, "network", klog.KObj(network), "err", err)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		klog.ErrorS(err, "Could not release the VNI of a deleted network; the repair pass will", "vni", network.Status.VNI, "network", klog.KObj(network))
	}
}

// stored reports whether etcd holds the network of holder (same UID). When it cannot tell, it
// says yes: a VNI is never freed on a guess.
func (r *REST) stored(ctx context.Context, holder vni.Holder) bool {
	obj, err := r.Store.Get(genericapirequest.WithNamespace(ctx, holder.Namespace), holder.Name, &metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		return true
	}
	return obj.(*networking.Network).UID == holder.UID
}

// storedNetworks lists every stored network for the repair pass.
func (r *REST) storedNetworks(ctx context.Context) ([]vni.Network, error) {
	obj, err := r.Store.List(genericapirequest.WithNamespace(ctx, metav1.NamespaceAll), &metainternalversion.ListOptions{})
	if err != nil {
		return nil, err
	}
	list := obj.(*networking.NetworkList)
	networks := make([]vni.Network, 0, len(list.Items))
	for _, n := range list.Items {
		networks = append(networks, vni.Network{Holder: vni.Holder{Namespace: n.Namespace, Name: n.Name, UID: n.UID}, VNI: n.Status.VNI})
	}
	return networks, nil
}

// exhausted is the error of a create when no VNI is free: 507 Insufficient Storage, which
// says the server cannot take the network now, rather than that the request is wrong.
func exhausted(err error, name string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusInsufficientStorage,
		Reason:  ReasonVNIExhausted,
		Message: fmt.Sprintf("networks.networking.ferrite.dev %q cannot be created: %v", name, err),
		Details: &metav1.StatusDetails{Group: networking.GroupName, Kind: "networks", Name: name},
	}}
}

// ReasonVNIExhausted is the status reason of a create refused because no VNI is free.
const ReasonVNIExhausted metav1.StatusReason = "VNIExhausted"
