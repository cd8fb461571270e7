package volume

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// setupSnapshots adds the snapshot controller. VolumeSnapshots have no pool field, so the
// cache holds all of them and the controller acts on those whose Volume is on the pool (or that
// carry the finalizer: their runtime snapshot is the pool's even when the Volume is gone). A
// change of a Volume requeues its snapshots (one waiting for its Volume to be available).
func (p *Poollet) setupSnapshots(mgr ctrl.Manager) error {
	snapshotsOf := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		snapshots := &storagev1alpha1.VolumeSnapshotList{}
		if err := p.Client.List(ctx, snapshots, client.InNamespace(o.GetNamespace())); err != nil {
			return nil
		}
		var out []reconcile.Request
		for _, s := range snapshots.Items {
			if s.Spec.VolumeRef.Name == o.GetName() {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}})
			}
		}
		return out
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("volumepoollet-snapshot").
		For(&storagev1alpha1.VolumeSnapshot{}).
		Watches(&storagev1alpha1.Volume{}, snapshotsOf).
		WatchesRawSource(source.Channel(p.snapshotEvents, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: p.Workers}).
		Complete(reconcile.Func(p.reconcileSnapshot))
}

func (p *Poollet) reconcileSnapshot(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	snap := &storagev1alpha1.VolumeSnapshot{}
	if err := p.Client.Get(ctx, req.NamespacedName, snap); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	// The Volume, when it is on this pool (the cache holds only the pool's Volumes).
	v := &storagev1alpha1.Volume{}
	err := p.Client.Get(ctx, types.NamespacedName{Namespace: snap.Namespace, Name: snap.Spec.VolumeRef.Name}, v)
	if err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, err
	}
	onPool := err == nil && v.Spec.VolumePoolRef != nil && v.Spec.VolumePoolRef.Name == p.PoolName
	// The finalizer is every pool's; status.volumePoolRef says which pool holds the snapshot
	// (a snapshot claimed before that field existed has only the finalizer).
	held := snap.Status.VolumePoolRef
	if held != nil && held.Name != p.PoolName {
		return reconcile.Result{}, nil
	}
	ours := slices.Contains(snap.Finalizers, Finalizer)
	if !ours && !onPool {
		return reconcile.Result{}, nil
	}
	id := string(snap.UID)
	if snap.DeletionTimestamp != nil {
		if !ours {
			return reconcile.Result{}, nil
		}
		if _, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.DeleteSnapshotResponse, error) {
			return p.Runtime.DeleteSnapshot(ctx, &runtimev1alpha1.DeleteSnapshotRequest{SnapshotId: id})
		}); err != nil {
			return reconcile.Result{}, fmt.Errorf("deleting runtime snapshot %s: %w", id, err)
		}
		snap.Finalizers = slices.DeleteFunc(snap.Finalizers, func(f string) bool { return f == Finalizer })
		if err := p.Client.Status().Update(ctx, snap); err != nil && !apierrors.IsNotFound(err) {
			return reconcile.Result{}, err
		}
		return reconcile.Result{}, nil
	}
	if onPool && (!ours || held == nil) {
		// Claim the snapshot before taking it: the finalizer keeps the object until the runtime
		// snapshot is gone, and the pool reference sends restores here.
		if !ours {
			snap.Finalizers = append(snap.Finalizers, Finalizer)
		}
		snap.Status.VolumePoolRef = &corev1.LocalObjectReference{Name: p.PoolName}
		if err := p.Client.Status().Update(ctx, snap); err != nil {
			return reconcile.Result{}, err
		}
	}
	generation := snap.Generation
	rs, err := p.runtimeSnapshot(ctx, id)
	if err != nil {
		return reconcile.Result{}, err
	}
	if rs == nil {
		if !onPool || v.DeletionTimestamp != nil || v.Status.State != storagev1alpha1.VolumeStateAvailable || v.Status.VolumeID != string(v.UID) {
			// Taken only of an available volume; a change of the Volume requeues the snapshot.
			return reconcile.Result{RequeueAfter: p.Recheck}, p.writeSnapshotStatus(ctx, snap, storagev1alpha1.VolumeSnapshotStatePending, "", nil, snap.Status.ObservedGeneration)
		}
		created, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.CreateSnapshotResponse, error) {
			return p.Runtime.CreateSnapshot(ctx, &runtimev1alpha1.CreateSnapshotRequest{Snapshot: &runtimev1alpha1.Snapshot{
				Metadata: &runtimev1alpha1.ObjectMetadata{Id: id, Labels: map[string]string{
					LabelSnapshotUID: id, LabelSnapshotNamespace: snap.Namespace, LabelSnapshotName: snap.Name,
					LabelVolumeUID: string(v.UID),
				}},
				Spec: &runtimev1alpha1.SnapshotSpec{VolumeId: string(v.UID)},
			}})
		})
		if err != nil {
			p.Recorder.Eventf(snap, nil, corev1.EventTypeWarning, "CreateFailed", "CreateSnapshot", "creating runtime snapshot %s: %v", id, err)
			return reconcile.Result{}, fmt.Errorf("creating runtime snapshot %s: %w", id, err)
		}
		rs = created.GetSnapshot()
		if created.GetCreated() {
			p.Recorder.Eventf(snap, nil, corev1.EventTypeNormal, "Created", "CreateSnapshot", "took runtime snapshot %s of volume %s", id, v.Name)
		}
	}
	var size *resource.Quantity
	if bytes := rs.GetStatus().GetSizeBytes(); bytes > 0 {
		size = resource.NewQuantity(int64(bytes), resource.BinarySI)
	}
	return reconcile.Result{}, p.writeSnapshotStatus(ctx, snap, snapshotState(rs.GetStatus().GetState()), id, size, generation)
}

// runtimeSnapshot returns the runtime snapshot with id, nil when there is none. A snapshot
// that exists is never created again, even when its Volume is gone.
func (p *Poollet) runtimeSnapshot(ctx context.Context, id string) (*runtimev1alpha1.Snapshot, error) {
	list, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.ListSnapshotsResponse, error) {
		return p.Runtime.ListSnapshots(ctx, &runtimev1alpha1.ListSnapshotsRequest{Filter: &runtimev1alpha1.ObjectFilter{Id: id}})
	})
	if err != nil || len(list.GetSnapshots()) == 0 {
		return nil, err
	}
	return list.GetSnapshots()[0], nil
}

func snapshotState(s runtimev1alpha1.SnapshotState) storagev1alpha1.VolumeSnapshotState {
	switch s {
	case runtimev1alpha1.SnapshotState_SNAPSHOT_STATE_READY:
		return storagev1alpha1.VolumeSnapshotStateReady
	case runtimev1alpha1.SnapshotState_SNAPSHOT_STATE_ERROR:
		return storagev1alpha1.VolumeSnapshotStateFailed
	default:
		return storagev1alpha1.VolumeSnapshotStatePending
	}
}

// writeSnapshotStatus writes a snapshot's status with a merge patch when it changed.
func (p *Poollet) writeSnapshotStatus(ctx context.Context, snap *storagev1alpha1.VolumeSnapshot, state storagev1alpha1.VolumeSnapshotState, id string, size *resource.Quantity, generation int64) error {
	want := storagev1alpha1.VolumeSnapshotStatus{ObservedGeneration: generation, State: state, SnapshotID: id, RestoreSize: size, VolumePoolRef: snap.Status.VolumePoolRef}
	if equality.Semantic.DeepEqual(want, snap.Status) {
		return nil
	}
	base := snap.DeepCopy()
	snap.Status = want
	return p.Client.Status().Patch(ctx, snap, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
}
