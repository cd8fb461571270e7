package fake

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ferrite-dev/ferrite/poollet/runtime/objectmeta"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/volume/validation"
)

// CreateVolume creates a volume under the caller's ID, or returns the one that has it.
func (s *Server) CreateVolume(_ context.Context, req *runtimev1alpha1.CreateVolumeRequest) (*runtimev1alpha1.CreateVolumeResponse, error) {
	return call(s, "CreateVolume", func() (*runtimev1alpha1.CreateVolumeResponse, error) {
		if err := validation.Volume(req.GetVolume()); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.openLocked(); err != nil {
			return nil, err
		}
		id := req.GetVolume().GetMetadata().GetId()
		if existing, ok := s.volumes[id]; ok {
			return &runtimev1alpha1.CreateVolumeResponse{Volume: cloneVolume(existing)}, nil
		}
		v, err := s.newVolumeLocked(req.GetVolume())
		if err != nil {
			return nil, err
		}
		s.volumes[id] = v
		s.history.Volume(runtimev1alpha1.ChangeType_CHANGE_TYPE_ADDED, v.v)
		if s.opts.AvailableDelay > 0 {
			v.pending = time.AfterFunc(s.opts.AvailableDelay, func() { s.becomeAvailable(id) })
		} else {
			s.availableLocked(v)
		}
		return &runtimev1alpha1.CreateVolumeResponse{Volume: cloneVolume(v), Created: true}, nil
	})
}

// newVolumeLocked builds a pending volume from a validated request, or fails when its source or
// size cannot be honoured.
func (s *Server) newVolumeLocked(req *runtimev1alpha1.Volume) (*volume, error) {
	spec := proto.Clone(req.GetSpec()).(*runtimev1alpha1.VolumeSpec)
	id := req.GetMetadata().GetId()
	size := s.round(spec.GetSizeBytes())
	v := &volume{key: randomSecret(40)}
	st := &runtimev1alpha1.VolumeStatus{
		State:      runtimev1alpha1.VolumeState_VOLUME_STATE_PENDING,
		Reason:     "Creating",
		Message:    "the volume is being created",
		SizeBytes:  size,
		Encryption: spec.GetEncryption().GetFormat(),
	}
	switch src := spec.GetSource().(type) {
	case *runtimev1alpha1.VolumeSpec_Image:
		img, ok := s.images[src.Image.GetImage()]
		if !ok {
			return nil, status.Errorf(codes.NotFound, "image %q not found", src.Image.GetImage())
		}
		if img.SizeBytes > spec.GetSizeBytes() {
			return nil, status.Errorf(codes.FailedPrecondition, "volume.spec.size_bytes: %d bytes is smaller than the %d bytes of image %q", spec.GetSizeBytes(), img.SizeBytes, src.Image.GetImage())
		}
		st.ImageDigest = img.Digest
		st.Reason, st.Message = "ImageImporting", fmt.Sprintf("importing image %s", src.Image.GetImage())
	case *runtimev1alpha1.VolumeSpec_Snapshot:
		sn, ok := s.snapshots[src.Snapshot.GetSnapshotId()]
		if !ok {
			return nil, status.Errorf(codes.NotFound, "snapshot %q not found", src.Snapshot.GetSnapshotId())
		}
		if sn.s.GetStatus().GetState() != runtimev1alpha1.SnapshotState_SNAPSHOT_STATE_READY {
			return nil, status.Errorf(codes.FailedPrecondition, "snapshot %q is not ready", src.Snapshot.GetSnapshotId())
		}
		if least := sn.s.GetStatus().GetSizeBytes(); least > spec.GetSizeBytes() {
			return nil, status.Errorf(codes.FailedPrecondition, "volume.spec.size_bytes: %d bytes is smaller than the %d bytes of snapshot %q", spec.GetSizeBytes(), least, src.Snapshot.GetSnapshotId())
		}
		// A restored volume keeps the encryption and passphrase of the snapshotted volume.
		if sn.encryption != runtimev1alpha1.EncryptionFormat_ENCRYPTION_FORMAT_NONE {
			st.Encryption = sn.encryption
			v.passphrase = sn.passphrase
		}
		st.ImageDigest = sn.digest
	}
	if st.Encryption != runtimev1alpha1.EncryptionFormat_ENCRYPTION_FORMAT_NONE && v.passphrase == nil {
		v.passphrase = randomSecret(32)
	}
	if err := s.reserveLocked(size); err != nil {
		return nil, err
	}
	v.v = &runtimev1alpha1.Volume{
		Metadata: &runtimev1alpha1.ObjectMetadata{
			Id:         id,
			Labels:     req.GetMetadata().GetLabels(),
			CreateTime: s.now(),
		},
		Spec:   spec,
		Status: st,
	}
	return v, nil
}

// becomeAvailable ends the pending time of a volume.
func (s *Server) becomeAvailable(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.volumes[id]
	if !ok || s.closed || v.v.Status.State != runtimev1alpha1.VolumeState_VOLUME_STATE_PENDING {
		return
	}
	s.availableLocked(v)
}

// availableLocked makes a pending volume available with its access information.
func (s *Server) availableLocked(v *volume) {
	v.pending = nil
	id := v.v.Metadata.Id
	image := "ferrite-volume-" + id
	access := &runtimev1alpha1.VolumeAccess{
		Driver: "ceph",
		Handle: s.opts.Pool + "/" + image,
		Attributes: map[string]string{
			"monitors": s.opts.Monitors,
			"pool":     s.opts.Pool,
			"image":    image,
			"user":     image,
		},
		Secrets: map[string][]byte{"key": v.key},
	}
	if v.passphrase != nil {
		access.Attributes["encryption"] = "luks2"
		access.Secrets["passphrase"] = v.passphrase
	}
	st := v.v.Status
	st.State, st.Reason, st.Message, st.Access = runtimev1alpha1.VolumeState_VOLUME_STATE_AVAILABLE, "", "", access
	s.history.Volume(runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED, v.v)
	if img := v.v.Spec.GetImage(); img != nil {
		s.volumeEventLocked(id, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "ImageImported", "image %s (%s) imported", img.GetImage(), st.ImageDigest)
	}
	s.volumeEventLocked(id, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "Created", "volume %s created with %d bytes", id, st.SizeBytes)
}

// ListVolumes lists the volumes matching the filter, ordered by ID.
func (s *Server) ListVolumes(_ context.Context, req *runtimev1alpha1.ListVolumesRequest) (*runtimev1alpha1.ListVolumesResponse, error) {
	return call(s, "ListVolumes", func() (*runtimev1alpha1.ListVolumesResponse, error) {
		if err := validation.Filter("filter", req.GetFilter()); err != nil {
			return nil, err
		}
		filter := req.GetFilter()
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.openLocked(); err != nil {
			return nil, err
		}
		resp := &runtimev1alpha1.ListVolumesResponse{Revision: s.history.Revision()}
		for _, v := range objectmeta.Select(s.volumes, filter, func(v *volume) objectmeta.Metadata { return v.v.Metadata }) {
			resp.Volumes = append(resp.Volumes, cloneVolume(v))
		}
		return resp, nil
	})
}

// ExpandVolume grows an available volume; the current size is a no-op, a smaller one
// FAILED_PRECONDITION.
func (s *Server) ExpandVolume(_ context.Context, req *runtimev1alpha1.ExpandVolumeRequest) (*runtimev1alpha1.ExpandVolumeResponse, error) {
	return call(s, "ExpandVolume", func() (*runtimev1alpha1.ExpandVolumeResponse, error) {
		if err := validation.Expand(req); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.openLocked(); err != nil {
			return nil, err
		}
		v, ok := s.volumes[req.GetVolumeId()]
		if !ok {
			return nil, status.Errorf(codes.NotFound, "volume %q not found", req.GetVolumeId())
		}
		if v.v.Status.State != runtimev1alpha1.VolumeState_VOLUME_STATE_AVAILABLE {
			return nil, status.Errorf(codes.FailedPrecondition, "volume %s is %s, not available", req.GetVolumeId(), v.v.Status.State)
		}
		current, size := v.v.Status.SizeBytes, s.round(req.GetSizeBytes())
		switch {
		case size < current:
			return nil, status.Errorf(codes.FailedPrecondition, "volume %s is %d bytes; shrinking to %d is not supported", req.GetVolumeId(), current, req.GetSizeBytes())
		case size == current:
			return &runtimev1alpha1.ExpandVolumeResponse{Volume: cloneVolume(v)}, nil
		}
		if err := s.reserveLocked(size - current); err != nil {
			return nil, err
		}
		v.v.Spec.SizeBytes, v.v.Status.SizeBytes = req.GetSizeBytes(), size
		s.history.Volume(runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED, v.v)
		s.volumeEventLocked(req.GetVolumeId(), runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "Expanded", "volume %s grown from %d to %d bytes", req.GetVolumeId(), current, size)
		return &runtimev1alpha1.ExpandVolumeResponse{Volume: cloneVolume(v)}, nil
	})
}

// DeleteVolume removes a volume. Its snapshots stay (the fake keeps what restores need with each
// snapshot, as a real provider keeps hidden data).
func (s *Server) DeleteVolume(_ context.Context, req *runtimev1alpha1.DeleteVolumeRequest) (*runtimev1alpha1.DeleteVolumeResponse, error) {
	return call(s, "DeleteVolume", func() (*runtimev1alpha1.DeleteVolumeResponse, error) {
		if err := validation.ID("volume_id", req.GetVolumeId()); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.openLocked(); err != nil {
			return nil, err
		}
		v, ok := s.volumes[req.GetVolumeId()]
		if !ok {
			return &runtimev1alpha1.DeleteVolumeResponse{}, nil
		}
		if v.pending != nil {
			v.pending.Stop()
		}
		delete(s.volumes, req.GetVolumeId())
		v.v.Metadata.DeleteTime = s.now()
		v.v.Status.State = runtimev1alpha1.VolumeState_VOLUME_STATE_TERMINATING
		s.history.Volume(runtimev1alpha1.ChangeType_CHANGE_TYPE_DELETED, v.v)
		s.volumeEventLocked(req.GetVolumeId(), runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "Deleted", "volume %s deleted", req.GetVolumeId())
		return &runtimev1alpha1.DeleteVolumeResponse{Volume: cloneVolume(v)}, nil
	})
}
