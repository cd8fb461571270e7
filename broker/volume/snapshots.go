package volume

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/volume/validation"
)

// CreateSnapshot creates the lower VolumeSnapshot s-<id> of the volume's lower Volume. A
// snapshot that exists is returned with created=false.
func (b *Broker) CreateSnapshot(ctx context.Context, req *runtimev1alpha1.CreateSnapshotRequest) (*runtimev1alpha1.CreateSnapshotResponse, error) {
	if err := validation.Snapshot(req.GetSnapshot()); err != nil {
		return nil, err
	}
	id, volumeID := req.GetSnapshot().GetMetadata().GetId(), req.GetSnapshot().GetSpec().GetVolumeId()
	if rs, _ := b.snapshot(id); rs != nil {
		return &runtimev1alpha1.CreateSnapshotResponse{Snapshot: rs}, nil
	}
	rv, _ := b.volume(volumeID)
	if rv == nil {
		return nil, status.Errorf(codes.NotFound, "snapshot.spec.volume_id: volume %q does not exist", volumeID)
	}
	if rv.GetStatus().GetState() != runtimev1alpha1.VolumeState_VOLUME_STATE_AVAILABLE {
		return nil, status.Errorf(codes.FailedPrecondition, "snapshot.spec.volume_id: volume %q is %s, not available", volumeID, rv.GetStatus().GetState())
	}
	annotations, err := objectAnnotations(req.GetSnapshot().GetMetadata().GetLabels())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "snapshot.metadata.labels: %v", err)
	}
	ls := &storagev1alpha1.VolumeSnapshot{
		ObjectMeta: metav1.ObjectMeta{Namespace: b.opts.Namespace, Name: snapshotName(id), Labels: map[string]string{LabelID: id}, Annotations: annotations},
		Spec:       storagev1alpha1.VolumeSnapshotSpec{VolumeRef: corev1.LocalObjectReference{Name: volumeName(volumeID)}},
	}
	snapshots := b.client.StorageV1alpha1().VolumeSnapshots(b.opts.Namespace)
	created := true
	out, err := snapshots.Create(ctx, ls, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created = false
		out, err = snapshots.Get(ctx, ls.Name, metav1.GetOptions{})
		if err == nil && out.Labels[LabelID] != id {
			return nil, status.Errorf(codes.AlreadyExists, "lower VolumeSnapshot %s/%s exists without label %s=%s", b.opts.Namespace, ls.Name, LabelID, id)
		}
	}
	if err != nil {
		return nil, lowerError("creating lower VolumeSnapshot "+ls.Name, err)
	}
	b.observeSnapshot(out, false)
	rs, _ := b.snapshot(id)
	if rs == nil {
		return nil, status.Errorf(codes.Aborted, "lower VolumeSnapshot %s vanished during the create; retry", ls.Name)
	}
	return &runtimev1alpha1.CreateSnapshotResponse{Snapshot: rs, Created: created}, nil
}

// ListSnapshots lists the mirrored snapshots, with the revision they are consistent with.
func (b *Broker) ListSnapshots(_ context.Context, req *runtimev1alpha1.ListSnapshotsRequest) (*runtimev1alpha1.ListSnapshotsResponse, error) {
	if err := validation.Filter("filter", req.GetFilter()); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	resp := &runtimev1alpha1.ListSnapshotsResponse{Revision: b.history.Revision()}
	for id, e := range b.mirror.snapshots {
		if matches(req.GetFilter(), id, e.runtime.GetMetadata().GetLabels()) {
			resp.Snapshots = append(resp.Snapshots, proto.Clone(e.runtime).(*runtimev1alpha1.Snapshot))
		}
	}
	return resp, nil
}

// DeleteSnapshot deletes the lower VolumeSnapshot and waits (Options.DeleteWait) until the
// lower cluster has released it: the runtime's snapshot is gone when the call returns. When it
// is not gone in time the call fails with UNAVAILABLE, and a retry waits again.
func (b *Broker) DeleteSnapshot(ctx context.Context, req *runtimev1alpha1.DeleteSnapshotRequest) (*runtimev1alpha1.DeleteSnapshotResponse, error) {
	id := req.GetSnapshotId()
	if err := validation.ID("snapshot_id", id); err != nil {
		return nil, err
	}
	name := snapshotName(id)
	err := b.client.StorageV1alpha1().VolumeSnapshots(b.opts.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, lowerError("deleting lower VolumeSnapshot "+name, err)
	}
	wait, cancel := context.WithTimeout(ctx, b.opts.DeleteWait)
	defer cancel()
	for {
		rs, _ := b.snapshot(id)
		if rs == nil {
			return &runtimev1alpha1.DeleteSnapshotResponse{}, nil
		}
		select {
		case <-wait.Done():
			return nil, status.Errorf(codes.Unavailable, "lower VolumeSnapshot %s is still being deleted; retry", name)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
