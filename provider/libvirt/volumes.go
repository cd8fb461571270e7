package libvirt

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"libvirt.org/go/libvirt"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/validation"
	"github.com/ferrite-dev/ferrite/provider/disk"
)

// Volumes: empty disks as qcow2 files in the machine's directory, and network disks (RBD images
// opened by QEMU's librbd with the volume's cephx key, LUKS2-encrypted ones opened by librbd with
// their passphrase), attached as virtio disks (vdb, vdc, ... when the spec leaves the device
// empty; vda is the root disk, or the volume the machine boots from).

// AttachVolume attaches a disk (hot-plugged when the machine runs).
func (p *Provider) AttachVolume(_ context.Context, req *runtimev1alpha1.AttachVolumeRequest) (*runtimev1alpha1.AttachVolumeResponse, error) {
	v := req.GetVolume()
	if err := validation.Volume("volume", v); err != nil {
		return nil, err
	}
	m, lv, err := p.acquire(req.GetMachineId(), true)
	if err != nil {
		return nil, err
	}
	defer m.op.Unlock()
	p.mu.Lock()
	i := volumeIndex(m.spec, v.GetName())
	same := i >= 0 && proto.Equal(storedVolume(v), storedVolume(m.spec.Volumes[i]))
	taken := v.GetDevice() != "" && (v.GetDevice() == rootDevice || v.GetDevice() == cloudInitDevice || slices.ContainsFunc(m.spec.GetVolumes(), func(o *runtimev1alpha1.Volume) bool {
		return volumeDevice(m, o) == v.GetDevice()
	}))
	p.mu.Unlock()
	if same || i < 0 {
		// The secrets are stored before the spec names them (a retry stores them again).
		if err := p.writeVolumeKeys(m.id, v); err != nil {
			return nil, status.Errorf(codes.Internal, "machine %q: %v", m.id, err)
		}
	}
	switch {
	case same:
		// Attached with this spec already; apply again in case the domain did not take it.
		if err := p.devicesChanged(lv, m, "attaching volume "+v.GetName()); err != nil {
			return nil, err
		}
		return &runtimev1alpha1.AttachVolumeResponse{Machine: p.viewOf(m)}, nil
	case i >= 0:
		return nil, status.Errorf(codes.AlreadyExists, "machine %q has a different volume %q: update or detach it", m.id, v.GetName())
	case taken:
		return nil, status.Errorf(codes.AlreadyExists, "machine %q has another disk on device %q", m.id, v.GetDevice())
	}
	err = p.updateSpec(lv, m, func(spec *runtimev1alpha1.MachineSpec, rec *record) {
		spec.Volumes = append(spec.Volumes, proto.Clone(v).(*runtimev1alpha1.Volume))
		if v.GetDevice() == "" {
			rec.setDevice(v.GetName(), nextDevice(m))
		}
	})
	if err != nil {
		return nil, grpcError("machine "+m.id, err)
	}
	if err := p.devicesChanged(lv, m, "attaching volume "+v.GetName()); err != nil {
		return nil, err
	}
	p.mu.Lock()
	if m.obs.active && v.GetNetworkDisk().GetRbd().GetEncryption() != nil {
		p.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "VolumeAttachPending",
			"volume %s (encrypted) is attached as %s at the next start of the machine: libvirt cannot hot-plug an encrypted RBD disk", v.GetName(), volumeDevice(m, v))
	} else {
		p.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "VolumeAttached", "attached volume %s as %s", v.GetName(), volumeDevice(m, v))
	}
	p.mu.Unlock()
	return &runtimev1alpha1.AttachVolumeResponse{Machine: p.viewOf(m)}, nil
}

// storedVolume is a volume as the spec keeps it, for comparing two.
func storedVolume(v *runtimev1alpha1.Volume) *runtimev1alpha1.Volume {
	c := proto.Clone(v).(*runtimev1alpha1.Volume)
	withoutSecrets(c)
	return c
}

// withoutSecrets clears the secret bytes of a volume (its key and passphrase), keeping their IDs.
func withoutSecrets(v *runtimev1alpha1.Volume) {
	rbd := v.GetNetworkDisk().GetRbd()
	if key := rbd.GetKey(); key != nil {
		key.Data = nil
	}
	if passphrase := rbd.GetEncryption().GetPassphrase(); passphrase != nil {
		passphrase.Data = nil
	}
}

// UpdateVolume grows a disk (online when the machine runs) and changes a network disk's
// credentials or monitors in place.
func (p *Provider) UpdateVolume(ctx context.Context, req *runtimev1alpha1.UpdateVolumeRequest) (*runtimev1alpha1.UpdateVolumeResponse, error) {
	v := req.GetVolume()
	if err := validation.Volume("volume", v); err != nil {
		return nil, err
	}
	m, lv, err := p.acquire(req.GetMachineId(), true)
	if err != nil {
		return nil, err
	}
	defer m.op.Unlock()
	p.mu.Lock()
	i := volumeIndex(m.spec, v.GetName())
	var old *runtimev1alpha1.Volume
	var dev string
	if i >= 0 {
		old = proto.Clone(m.spec.Volumes[i]).(*runtimev1alpha1.Volume)
		dev = volumeDevice(m, old)
	}
	prepared, active := m.rec.Prepared, m.obs.active
	p.mu.Unlock()
	if old == nil {
		return nil, status.Errorf(codes.NotFound, "machine %q has no volume %q", m.id, v.GetName())
	}
	if err := inPlace(old, v, dev); err != nil {
		return nil, err
	}
	size, was := volumeSize(v), volumeSize(old)
	if size < was {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %q: cannot shrink from %d to %d bytes", v.GetName(), was, size)
	}
	next := proto.Clone(v).(*runtimev1alpha1.Volume)
	next.Device = old.GetDevice()
	if proto.Equal(storedVolume(next), storedVolume(old)) {
		return &runtimev1alpha1.UpdateVolumeResponse{Machine: p.viewOf(m)}, nil
	}
	if err := p.writeVolumeKeys(m.id, v); err != nil {
		return nil, status.Errorf(codes.Internal, "machine %q: %v", m.id, err)
	}
	if prepared && size > was {
		// The disk grows first: a spec that says more than the disk has would never be retried.
		switch {
		case active:
			// For an RBD image the storage has grown it already; QEMU notices (and tells the guest).
			err = withDomain(lv, m.id, func(dom *libvirt.Domain) error {
				return dom.BlockResize(dev, size, libvirt.DOMAIN_BLOCK_RESIZE_BYTES)
			})
		case v.GetEmptyDisk() != nil:
			err = disk.Resize(ctx, p.volumePath(m.id, v.GetName()), size)
		}
		if err != nil {
			return nil, grpcError(fmt.Sprintf("resizing volume %q", v.GetName()), err)
		}
	}
	err = p.updateSpec(lv, m, func(spec *runtimev1alpha1.MachineSpec, _ *record) {
		spec.Volumes[i] = next
	})
	if err != nil {
		return nil, grpcError("machine "+m.id, err)
	}
	if err := p.devicesChanged(lv, m, "updating volume "+v.GetName()); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("resized from %d to %d bytes", was, size)
	if size == was {
		what = "new credentials or monitors (used from the next start)"
	}
	p.event(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "VolumeUpdated", "updated volume %s in place: %s", v.GetName(), what)
	return &runtimev1alpha1.UpdateVolumeResponse{Machine: p.viewOf(m)}, nil
}

// inPlace refuses an update of volume old to v that cannot happen in place.
func inPlace(old, v *runtimev1alpha1.Volume, dev string) error {
	cannot := func(what string) error {
		return status.Errorf(codes.FailedPrecondition, "volume %q: %s cannot change in place; detach and attach it", v.GetName(), what)
	}
	switch {
	case v.GetDevice() != "" && v.GetDevice() != dev:
		return cannot("the device")
	case v.GetReadOnly() != old.GetReadOnly():
		return cannot("read-only")
	case (old.GetEmptyDisk() == nil) != (v.GetEmptyDisk() == nil):
		return cannot("the source kind")
	case old.GetEmptyDisk() != nil:
		return nil
	}
	o, n := old.GetNetworkDisk().GetRbd(), v.GetNetworkDisk().GetRbd()
	switch {
	case o.GetPool() != n.GetPool() || o.GetImage() != n.GetImage():
		return cannot("the RBD image")
	case o.GetUser() != n.GetUser():
		return cannot("the cephx user")
	case o.GetEncryption().GetFormat() != n.GetEncryption().GetFormat() ||
		o.GetEncryption().GetPassphrase().GetId() != n.GetEncryption().GetPassphrase().GetId():
		return cannot("the encryption")
	}
	return nil
}

// volumeSize is the size of a disk as its spec says.
func volumeSize(v *runtimev1alpha1.Volume) uint64 {
	if d := v.GetEmptyDisk(); d != nil {
		return d.GetSizeBytes()
	}
	return v.GetNetworkDisk().GetSizeBytes()
}

// DetachVolume detaches a volume; its empty disk is deleted once the guest released it.
func (p *Provider) DetachVolume(_ context.Context, req *runtimev1alpha1.DetachVolumeRequest) (*runtimev1alpha1.DetachVolumeResponse, error) {
	m, lv, err := p.acquire(req.GetMachineId(), true)
	if err != nil {
		return nil, err
	}
	defer m.op.Unlock()
	p.mu.Lock()
	i := volumeIndex(m.spec, req.GetName())
	p.mu.Unlock()
	if i < 0 {
		return &runtimev1alpha1.DetachVolumeResponse{Machine: p.viewOf(m)}, nil
	}
	if req.GetName() == rootVolume(m.spec) {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %q is the disk machine %q boots from; delete the machine instead", req.GetName(), m.id)
	}
	err = p.updateSpec(lv, m, func(spec *runtimev1alpha1.MachineSpec, rec *record) {
		spec.Volumes = slices.Delete(spec.Volumes, i, i+1)
		rec.removeDevice(req.GetName())
	})
	if err != nil {
		return nil, grpcError("machine "+m.id, err)
	}
	if err := p.devicesChanged(lv, m, "detaching volume "+req.GetName()); err != nil {
		return nil, err
	}
	p.event(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "VolumeDetached", "detached volume %s", req.GetName())
	return &runtimev1alpha1.DetachVolumeResponse{Machine: p.viewOf(m)}, nil
}
