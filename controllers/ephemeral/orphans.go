package ephemeral

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// Orphans deletes ephemeral Volumes or NetworkInterfaces whose controlling Machine is gone.
type Orphans struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader confirms with the API server that the machine is gone.
	APIReader client.Reader
	// NewObject returns an empty object of the reconciled kind.
	NewObject func() client.Object
}

// VolumeOrphans returns the orphan reconciler for Volumes.
func VolumeOrphans(c client.Client, reader client.Reader) *Orphans {
	return &Orphans{Client: c, APIReader: reader, NewObject: func() client.Object { return &storagev1alpha1.Volume{} }}
}

// NetworkInterfaceOrphans returns the orphan reconciler for NetworkInterfaces.
func NetworkInterfaceOrphans(c client.Client, reader client.Reader) *Orphans {
	return &Orphans{Client: c, APIReader: reader, NewObject: func() client.Object { return &networkingv1alpha1.NetworkInterface{} }}
}

// Reconcile deletes one object if its controlling machine is gone.
func (r *Orphans) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	obj := r.NewObject()
	if err := r.Client.Get(ctx, request.NamespacedName, obj); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if obj.GetDeletionTimestamp() != nil || controllingMachine(obj) == nil {
		return reconcile.Result{}, nil
	}
	gone, err := machineGone(ctx, r.APIReader, obj)
	if err != nil || !gone {
		return reconcile.Result{}, err
	}
	return reconcile.Result{}, deleteExact(ctx, r.Client, obj)
}
