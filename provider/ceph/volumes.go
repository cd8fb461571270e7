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

// volumeFromRecord builds the served volume of an image record: identity and spec from its
// metadata, status from the image and its user.
func (p *Provider) volumeFromRecord(rec *imageRecord) (*volume, error) {
	id := rec.volume.GetMetadata().GetId()
	v := &volume{image: rec.name, hidden: rec.hidden}
	st := &api.VolumeStatus{SizeBytes: rec.visibleSize(), ImageDigest: rec.digest}
	if rec.header > 0 {
		st.Encryption = api.EncryptionFormat_ENCRYPTION_FORMAT_LUKS2
	}
	switch rec.state {
	case stateAvailable:
		st.State = api.VolumeState_VOLUME_STATE_AVAILABLE
		access, err := p.access(id, rec)
		if err != nil {
			return nil, err
		}
		st.Access = access
	case stateDeleting:
		st.State = api.VolumeState_VOLUME_STATE_TERMINATING
	default:
		st.State, st.Reason, st.Message = api.VolumeState_VOLUME_STATE_PENDING, "Creating", "the image is being made"
	}
	v.obj = withStatus(rec.volume, st)
	if rec.state == stateDeleting && v.obj.Metadata.DeleteTime == nil {
		v.obj.Metadata.DeleteTime = timestamppb.New(p.opts.Now())
	}
	return v, nil
}

// access is how a hypervisor attaches the volume: its image, its own user and key, and its
// passphrase when encrypted.
func (p *Provider) access(id string, rec *imageRecord) (*api.VolumeAccess, error) {
	user := p.names.user(id)
	key, err := p.userKey(id)
	if err != nil {
		return nil, err
	}
	a := &api.VolumeAccess{
		Driver: "ceph",
		Handle: p.opts.Pool + "/" + rec.name,
		Attributes: map[string]string{
			"monitors": p.monitors,
			"pool":     p.opts.Pool,
			"image":    rec.name,
			"user":     user[len("client."):],
		},
		Secrets: map[string][]byte{"key": []byte(key)},
	}
	if rec.header > 0 {
		pass, err := p.passphrase(id)
		if err != nil {
			return nil, err
		}
		a.Attributes["encryption"] = "luks2"
		a.Secrets["passphrase"] = pass
	}
	return a, nil
}

// withStatus returns a copy of v with st as its status.
func withStatus(v *api.Volume, st *api.VolumeStatus) *api.Volume {
	c := clone(v)
	c.Status = st
	return c
}

// ListVolumes lists the volumes (hidden images of deleted volumes are not volumes).
func (p *Provider) ListVolumes(_ context.Context, req *api.ListVolumesRequest) (*api.ListVolumesResponse, error) {
	if err := validation.Filter("filter", req.GetFilter()); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	resp := &api.ListVolumesResponse{Revision: p.history.Revision()}
	for _, v := range p.volumes {
		if !v.hidden && objectmeta.Matches(v.obj.GetMetadata(), req.GetFilter()) {
			resp.Volumes = append(resp.Volumes, clone(v.obj))
		}
	}
	sort.Slice(resp.Volumes, func(i, j int) bool {
		return resp.Volumes[i].GetMetadata().GetId() < resp.Volumes[j].GetMetadata().GetId()
	})
	return resp, nil
}

// ExpandVolume grows a volume; an encrypted image grows by the same number of bytes, its header
// stays.
func (p *Provider) ExpandVolume(_ context.Context, req *api.ExpandVolumeRequest) (*api.ExpandVolumeResponse, error) {
	if err := validation.Expand(req); err != nil {
		return nil, err
	}
	id := req.GetVolumeId()
	unlock := p.locks.lock(id)
	defer unlock()
	if p.isClosed() {
		return nil, errClosed
	}
	v := p.getVolume(id)
	if v == nil || v.hidden {
		return nil, status.Errorf(codes.NotFound, "volume %s not found", id)
	}
	if v.obj.GetStatus().GetState() != api.VolumeState_VOLUME_STATE_AVAILABLE {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %s is not available (%s)", id, v.obj.GetStatus().GetState())
	}
	want := (req.GetSizeBytes() + sizeUnit - 1) / sizeUnit * sizeUnit
	cur := v.obj.GetStatus().GetSizeBytes()
	if want < cur {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %s is %d bytes; shrinking to %d is not supported", id, cur, req.GetSizeBytes())
	}
	if want == cur {
		return &api.ExpandVolumeResponse{Volume: v.obj}, nil
	}
	img, err := rbd.OpenImage(p.conn.ioctx, v.image, rbd.NoSnapshot)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", v.image, err)
	}
	defer img.Close()
	rec, err := readImage(img)
	if err != nil {
		return nil, err
	}
	if err := img.Resize(want + rec.header); err != nil {
		return nil, fmt.Errorf("image %s: resizing to %d: %w", v.image, want+rec.header, err)
	}
	rec.rawSize = want + rec.header
	nv, err := p.volumeFromRecord(rec)
	if err != nil {
		return nil, err
	}
	out := p.putVolume(nv)
	p.event(id, api.EventType_EVENT_TYPE_NORMAL, "Expanded", "grown from %d to %d bytes", cur, want)
	return &api.ExpandVolumeResponse{Volume: out}, nil
}

// DeleteVolume removes a volume. An image that still has snapshots is kept, hidden, until its last
// snapshot goes; the volume's user goes at once.
func (p *Provider) DeleteVolume(_ context.Context, req *api.DeleteVolumeRequest) (*api.DeleteVolumeResponse, error) {
	id := req.GetVolumeId()
	if err := validation.ID("volume_id", id); err != nil {
		return nil, err
	}
	// A create that outlived its caller would hold the lock until it ends: stop it.
	p.cancelCreate(id)
	unlock := p.locks.lock(id)
	defer unlock()
	if p.isClosed() {
		return nil, errClosed
	}
	v := p.getVolume(id)
	if v == nil || v.hidden {
		return &api.DeleteVolumeResponse{}, nil
	}
	img, err := rbd.OpenImage(p.conn.ioctx, v.image, rbd.NoSnapshot)
	if isNotFound(err) {
		p.dropVolume(id)
		return &api.DeleteVolumeResponse{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", v.image, err)
	}
	gone := v.obj
	err = func() error {
		defer img.Close()
		if err := img.SetMetadata(metaState, stateDeleting); err != nil {
			return fmt.Errorf("image %s: %w", v.image, err)
		}
		if err := p.deleteUser(id); err != nil {
			return err
		}
		if len(p.snapshotsOf(id)) == 0 {
			return nil
		}
		if err := img.SetMetadata(metaDeleted, "true"); err != nil {
			return fmt.Errorf("image %s: %w", v.image, err)
		}
		v.hidden = true
		return nil
	}()
	if err != nil {
		return nil, err
	}
	if v.hidden {
		p.putVolume(v)
		p.event(id, api.EventType_EVENT_TYPE_NORMAL, "Hidden", "volume %s is deleted; its image %s stays for its snapshots", id, v.image)
	} else if err := p.removeVolumeImage(id, v.image); err != nil {
		// The image stays until a retry removes it; its user is gone already.
		v.obj.Status = &api.VolumeStatus{State: api.VolumeState_VOLUME_STATE_TERMINATING, Reason: "Deleting", Message: err.Error(),
			SizeBytes: v.obj.GetStatus().GetSizeBytes(), Encryption: v.obj.GetStatus().GetEncryption(), ImageDigest: v.obj.GetStatus().GetImageDigest()}
		v.obj.Metadata.DeleteTime = timestamppb.New(p.opts.Now())
		p.putVolume(v)
		return nil, err
	}
	gone.Status.State = api.VolumeState_VOLUME_STATE_TERMINATING
	gone.Status.Access = nil
	gone.Metadata.DeleteTime = timestamppb.New(p.opts.Now())
	return &api.DeleteVolumeResponse{Volume: gone}, nil
}

// removeVolumeImage removes the image of volume id, its passphrase and its user, and forgets it.
func (p *Provider) removeVolumeImage(id, name string) error {
	if err := rbd.RemoveImage(p.conn.ioctx, name); err != nil && !isNotFound(err) {
		if isBusy(err) {
			return status.Errorf(codes.FailedPrecondition, "volume %s: image %s is in use (a hypervisor has it open)", id, name)
		}
		return fmt.Errorf("image %s: remove: %w", name, err)
	}
	if err := p.deleteUser(id); err != nil {
		return err
	}
	if err := p.deletePassphrase(id); err != nil {
		return err
	}
	p.dropVolume(id)
	return nil
}
