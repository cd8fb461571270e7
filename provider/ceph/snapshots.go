package ceph

import (
	"context"
	"fmt"
	"sort"

	"github.com/ceph/go-ceph/rbd"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ferrite-dev/ferrite/poollet/runtime/objectmeta"
	api "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/volume/validation"
)

// A snapshot is the RBD snapshot ferrite-snapshot-<id> of its volume's image, with a record
// (labels, size) in the image's metadata written first. A record without its RBD snapshot is a
// create that did not finish: it is not listed, and the next CreateSnapshot of the ID finishes it.

// CreateSnapshot snapshots a volume, or returns the snapshot that has the ID.
func (p *Provider) CreateSnapshot(_ context.Context, req *api.CreateSnapshotRequest) (*api.CreateSnapshotResponse, error) {
	if err := validation.Snapshot(req.GetSnapshot()); err != nil {
		return nil, err
	}
	in := req.GetSnapshot()
	id, volumeID := in.GetMetadata().GetId(), in.GetSpec().GetVolumeId()
	if s := p.getSnapshot(id); s != nil {
		return &api.CreateSnapshotResponse{Snapshot: s.obj}, nil
	}
	unlock := p.locks.lock(volumeID)
	defer unlock()
	if p.isClosed() {
		return nil, errClosed
	}
	if s := p.getSnapshot(id); s != nil {
		return &api.CreateSnapshotResponse{Snapshot: s.obj}, nil
	}
	v := p.getVolume(volumeID)
	if v == nil || v.hidden {
		return nil, status.Errorf(codes.NotFound, "volume %s not found", volumeID)
	}
	if v.obj.GetStatus().GetState() != api.VolumeState_VOLUME_STATE_AVAILABLE {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %s is not available (%s)", volumeID, v.obj.GetStatus().GetState())
	}
	img, err := rbd.OpenImage(p.conn.ioctx, v.image, rbd.NoSnapshot)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", v.image, err)
	}
	defer img.Close()
	s := &api.Snapshot{
		Metadata: &api.ObjectMetadata{Id: id, Labels: in.GetMetadata().GetLabels(), CreateTime: timestamppb.New(p.opts.Now())},
		Spec:     &api.SnapshotSpec{VolumeId: volumeID},
		Status:   &api.SnapshotStatus{State: api.SnapshotState_SNAPSHOT_STATE_READY, SizeBytes: v.obj.GetStatus().GetSizeBytes()},
	}
	record, err := marshalSnapshot(s)
	if err != nil {
		return nil, err
	}
	if err := img.SetMetadata(metaSnapshotPrefix+id, record); err != nil {
		return nil, fmt.Errorf("image %s: %w", v.image, err)
	}
	if _, err := img.CreateSnapshot(snapshotName(id)); err != nil && !isExist(err) {
		return nil, fmt.Errorf("image %s: snapshot %s: %w", v.image, snapshotName(id), err)
	}
	if err := protect(img, snapshotName(id)); err != nil {
		return nil, err
	}
	out := p.putSnapshot(&snapshot{obj: s, volumeID: volumeID})
	return &api.CreateSnapshotResponse{Snapshot: out, Created: true}, nil
}

// ListSnapshots lists the snapshots, those of deleted volumes' hidden images too.
func (p *Provider) ListSnapshots(_ context.Context, req *api.ListSnapshotsRequest) (*api.ListSnapshotsResponse, error) {
	if err := validation.Filter("filter", req.GetFilter()); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	resp := &api.ListSnapshotsResponse{Revision: p.history.Revision()}
	for _, s := range p.snapshots {
		if objectmeta.Matches(s.obj.GetMetadata(), req.GetFilter()) {
			resp.Snapshots = append(resp.Snapshots, clone(s.obj))
		}
	}
	sort.Slice(resp.Snapshots, func(i, j int) bool {
		return resp.Snapshots[i].GetMetadata().GetId() < resp.Snapshots[j].GetMetadata().GetId()
	})
	return resp, nil
}

// DeleteSnapshot removes a snapshot. Volumes cloned from it are flattened first, so they keep
// their data; a hidden image whose last snapshot this was goes too.
func (p *Provider) DeleteSnapshot(_ context.Context, req *api.DeleteSnapshotRequest) (*api.DeleteSnapshotResponse, error) {
	id := req.GetSnapshotId()
	if err := validation.ID("snapshot_id", id); err != nil {
		return nil, err
	}
	p.snapMu.Lock()
	defer p.snapMu.Unlock()
	s := p.getSnapshot(id)
	if s == nil {
		return &api.DeleteSnapshotResponse{}, nil
	}
	unlock := p.locks.lock(s.volumeID)
	defer unlock()
	if p.isClosed() {
		return nil, errClosed
	}
	v := p.getVolume(s.volumeID)
	if v == nil {
		p.dropSnapshot(id)
		return &api.DeleteSnapshotResponse{}, nil
	}
	if err := p.removeSnapshot(v.image, id); err != nil {
		return nil, err
	}
	p.dropSnapshot(id)
	if v.hidden && len(p.snapshotsOf(s.volumeID)) == 0 {
		if err := p.removeVolumeImage(s.volumeID, v.image); err != nil {
			return nil, err
		}
		p.event(s.volumeID, api.EventType_EVENT_TYPE_NORMAL, "Removed", "the image %s of deleted volume %s is removed with its last snapshot", v.image, s.volumeID)
	}
	return &api.DeleteSnapshotResponse{}, nil
}

// removeSnapshot flattens the clones of image@ferrite-snapshot-<id>, then unprotects and removes
// it and its record.
func (p *Provider) removeSnapshot(image, id string) error {
	snapName := snapshotName(id)
	img, err := rbd.OpenImage(p.conn.ioctx, image, rbd.NoSnapshot)
	if err != nil {
		return fmt.Errorf("image %s: %w", image, err)
	}
	defer img.Close()
	if err := p.flattenChildren(image, snapName); err != nil {
		return err
	}
	snap := img.GetSnapshot(snapName)
	if ok, err := snap.IsProtected(); err == nil && ok {
		if err := snap.Unprotect(); err != nil {
			return fmt.Errorf("snapshot %s@%s: unprotect: %w", image, snapName, err)
		}
	} else if err != nil && !isNotFound(err) {
		return fmt.Errorf("snapshot %s@%s: %w", image, snapName, err)
	}
	if err := snap.Remove(); err != nil && !isNotFound(err) {
		return fmt.Errorf("snapshot %s@%s: remove: %w", image, snapName, err)
	}
	if err := img.RemoveMetadata(metaSnapshotPrefix + id); err != nil && !isNotFound(err) {
		return fmt.Errorf("image %s: %w", image, err)
	}
	return nil
}

// flattenChildren flattens every clone of image@snap: each gets its own copy of the data it
// shared, and its user loses the caps on the parent.
func (p *Provider) flattenChildren(image, snap string) error {
	at, err := rbd.OpenImageReadOnly(p.conn.ioctx, image, snap)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("image %s@%s: %w", image, snap, err)
	}
	_, children, err := at.ListChildren()
	at.Close()
	if err != nil {
		return fmt.Errorf("image %s@%s: children: %w", image, snap, err)
	}
	for _, child := range children {
		if err := p.flatten(child, image, snap); err != nil {
			return err
		}
	}
	return nil
}

// flatten flattens the clone child of image@snap under the child volume's lock (the caller holds
// snapMu and the parent's lock; child calls never wait for those while holding their own).
func (p *Provider) flatten(child, image, snap string) error {
	id, ok := p.names.volumeID(child)
	if ok {
		unlock := p.locks.lock(id)
		defer unlock()
	}
	img, err := rbd.OpenImage(p.conn.ioctx, child, rbd.NoSnapshot)
	if err != nil {
		return fmt.Errorf("image %s: %w", child, err)
	}
	defer img.Close()
	if err := img.Flatten(); err != nil {
		return fmt.Errorf("image %s: flatten: %w", child, err)
	}
	if !ok {
		return nil
	}
	if v := p.getVolume(id); v != nil && !v.hidden && v.obj.GetStatus().GetState() == api.VolumeState_VOLUME_STATE_AVAILABLE {
		if _, err := p.ensureUser(id, img); err != nil {
			return err
		}
	}
	p.event(id, api.EventType_EVENT_TYPE_NORMAL, "Flattened", "image %s no longer shares data with %s@%s", child, image, snap)
	return nil
}
