package volume

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtimewatch"
)

// sweepOrphans collects orphans every OrphanSweepInterval (the first collection is the runtime
// watcher's, before its first list).
func (p *Poollet) sweepOrphans(ctx context.Context) error {
	return runtimewatch.Every(ctx, p.OrphanSweepInterval, "collecting runtime volumes and snapshots of deleted objects", p.collectOrphans)
}

// collectOrphans deletes the runtime snapshots whose VolumeSnapshot and the runtime volumes
// whose Volume (by UID, read live) no longer exist, for example objects whose finalizer was
// removed while the poollet was down, and the Secrets of those volumes. Runtime objects without
// the poollet's labels are never touched.
func (p *Poollet) collectOrphans(ctx context.Context) error {
	snapshots, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.ListSnapshotsResponse, error) {
		return p.Runtime.ListSnapshots(ctx, &runtimev1alpha1.ListSnapshotsRequest{})
	})
	if err != nil {
		return err
	}
	for _, rs := range snapshots.GetSnapshots() {
		labels := rs.GetMetadata().GetLabels()
		uid := labels[LabelSnapshotUID]
		if uid == "" {
			continue
		}
		snap := &storagev1alpha1.VolumeSnapshot{}
		err := p.APIReader.Get(ctx, types.NamespacedName{Namespace: labels[LabelSnapshotNamespace], Name: labels[LabelSnapshotName]}, snap)
		switch {
		case err == nil && string(snap.UID) == uid:
			continue
		case err != nil && !apierrors.IsNotFound(err):
			return err
		}
		if _, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.DeleteSnapshotResponse, error) {
			return p.Runtime.DeleteSnapshot(ctx, &runtimev1alpha1.DeleteSnapshotRequest{SnapshotId: rs.GetMetadata().GetId()})
		}); err != nil {
			return err
		}
		logger(ctx).Info("deleted the runtime snapshot of a VolumeSnapshot that no longer exists", "id", rs.GetMetadata().GetId(), "snapshot", labels[LabelSnapshotNamespace]+"/"+labels[LabelSnapshotName])
	}

	volumes, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.ListVolumesResponse, error) {
		return p.Runtime.ListVolumes(ctx, &runtimev1alpha1.ListVolumesRequest{})
	})
	if err != nil {
		return err
	}
	for _, rv := range volumes.GetVolumes() {
		labels := rv.GetMetadata().GetLabels()
		uid, namespace, name := labels[LabelVolumeUID], labels[LabelVolumeNamespace], labels[LabelVolumeName]
		if uid == "" || rv.GetStatus().GetState() == runtimev1alpha1.VolumeState_VOLUME_STATE_TERMINATING {
			continue // not the poollet's, or already going
		}
		v := &storagev1alpha1.Volume{}
		err := p.APIReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, v)
		switch {
		case err == nil && string(v.UID) == uid && v.Spec.VolumePoolRef != nil && v.Spec.VolumePoolRef.Name == p.PoolName:
			continue
		case err != nil && !apierrors.IsNotFound(err):
			return err
		}
		if _, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.DeleteVolumeResponse, error) {
			return p.Runtime.DeleteVolume(ctx, &runtimev1alpha1.DeleteVolumeRequest{VolumeId: rv.GetMetadata().GetId()})
		}); err != nil {
			return err
		}
		if err := p.deleteSecrets(ctx, namespace, name, types.UID(uid)); err != nil {
			return err
		}
		logger(ctx).Info("deleted the runtime volume of a Volume that no longer exists", "id", rv.GetMetadata().GetId(), "volume", namespace+"/"+name)
	}
	return nil
}
