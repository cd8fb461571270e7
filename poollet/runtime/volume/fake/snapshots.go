package fake

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ferrite-dev/ferrite/poollet/runtime/objectmeta"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/volume/validation"
)

// CreateSnapshot snapshots an available volume under the caller's ID, or returns the snapshot
// that has it. The snapshot is ready at once.
func (s *Server) CreateSnapshot(_ context.Context, req *runtimev1alpha1.CreateSnapshotRequest) (*runtimev1alpha1.CreateSnapshotResponse, error) {
	return call(s, "CreateSnapshot", func() (*runtimev1alpha1.CreateSnapshotResponse, error) {
		if err := validation.Snapshot(req.GetSnapshot()); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.openLocked(); err != nil {
			return nil, err
		}
		id := req.GetSnapshot().GetMetadata().GetId()
		if existing, ok := s.snapshots[id]; ok {
			return &runtimev1alpha1.CreateSnapshotResponse{Snapshot: cloneSnapshot(existing)}, nil
		}
		volumeID := req.GetSnapshot().GetSpec().GetVolumeId()
		v, ok := s.volumes[volumeID]
		if !ok {
			return nil, status.Errorf(codes.NotFound, "volume %q not found", volumeID)
		}
		if v.v.Status.State != runtimev1alpha1.VolumeState_VOLUME_STATE_AVAILABLE {
			return nil, status.Errorf(codes.FailedPrecondition, "volume %s is %s, not available", volumeID, v.v.Status.State)
		}
		sn := &snapshot{
			s: &runtimev1alpha1.Snapshot{
				Metadata: &runtimev1alpha1.ObjectMetadata{
					Id:         id,
					Labels:     req.GetSnapshot().GetMetadata().GetLabels(),
					CreateTime: s.now(),
				},
				Spec: &runtimev1alpha1.SnapshotSpec{VolumeId: volumeID},
				Status: &runtimev1alpha1.SnapshotStatus{
					State:     runtimev1alpha1.SnapshotState_SNAPSHOT_STATE_READY,
					SizeBytes: v.v.Status.SizeBytes,
				},
			},
			encryption: v.v.Status.Encryption,
			passphrase: v.passphrase,
			digest:     v.v.Status.ImageDigest,
		}
		s.snapshots[id] = sn
		s.history.Snapshot(runtimev1alpha1.ChangeType_CHANGE_TYPE_ADDED, sn.s)
		s.volumeEventLocked(id, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "SnapshotCreated", "snapshot %s of volume %s taken", id, volumeID)
		return &runtimev1alpha1.CreateSnapshotResponse{Snapshot: cloneSnapshot(sn), Created: true}, nil
	})
}

// ListSnapshots lists the snapshots matching the filter, ordered by ID.
func (s *Server) ListSnapshots(_ context.Context, req *runtimev1alpha1.ListSnapshotsRequest) (*runtimev1alpha1.ListSnapshotsResponse, error) {
	return call(s, "ListSnapshots", func() (*runtimev1alpha1.ListSnapshotsResponse, error) {
		if err := validation.Filter("filter", req.GetFilter()); err != nil {
			return nil, err
		}
		filter := req.GetFilter()
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.openLocked(); err != nil {
			return nil, err
		}
		resp := &runtimev1alpha1.ListSnapshotsResponse{Revision: s.history.Revision()}
		for _, sn := range objectmeta.Select(s.snapshots, filter, func(sn *snapshot) objectmeta.Metadata { return sn.s.Metadata }) {
			resp.Snapshots = append(resp.Snapshots, cloneSnapshot(sn))
		}
		return resp, nil
	})
}

// DeleteSnapshot removes a snapshot; volumes restored from it keep their data.
func (s *Server) DeleteSnapshot(_ context.Context, req *runtimev1alpha1.DeleteSnapshotRequest) (*runtimev1alpha1.DeleteSnapshotResponse, error) {
	return call(s, "DeleteSnapshot", func() (*runtimev1alpha1.DeleteSnapshotResponse, error) {
		if err := validation.ID("snapshot_id", req.GetSnapshotId()); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.openLocked(); err != nil {
			return nil, err
		}
		sn, ok := s.snapshots[req.GetSnapshotId()]
		if !ok {
			return &runtimev1alpha1.DeleteSnapshotResponse{}, nil
		}
		delete(s.snapshots, req.GetSnapshotId())
		sn.s.Metadata.DeleteTime = s.now()
		s.history.Snapshot(runtimev1alpha1.ChangeType_CHANGE_TYPE_DELETED, sn.s)
		return &runtimev1alpha1.DeleteSnapshotResponse{}, nil
	})
}
