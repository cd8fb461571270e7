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

// Volumes: empty disks as qcow2 files in the machine's directory, attached as virtio disks
// (vdb, vdc, ... when the spec leaves the device empty; vda is the root disk). Network disks
// (RBD) are not supported yet.

// AttachVolume attaches an empty disk (hot-plugged when the machine runs).
func (p *Provider) AttachVolume(_ context.Context, req *runtimev1alpha1.AttachVolumeRequest) (*runtimev1alpha1.AttachVolumeResponse, error) {
	v := req.GetVolume()
	if err := validation.Volume("volume", v); err != nil {
		return nil, err
	}
	if err := supportedVolume("volume", v); err != nil {
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
	p.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "VolumeAttached", "attached volume %s as %s", v.GetName(), volumeDevice(m, v))
	p.mu.Unlock()
	return &runtimev1alpha1.AttachVolumeResponse{Machine: p.viewOf(m)}, nil
}

// storedVolume is a volume as the spec keeps it, for comparing two.
func storedVolume(v *runtimev1alpha1.Volume) *runtimev1alpha1.Volume {
	c := proto.Clone(v).(*runtimev1alpha1.Volume)
	if key := c.GetNetworkDisk().GetRbd().GetKey(); key != nil {
		key.Data = nil
	}
	return c
}

// UpdateVolume grows an empty disk (online when the machine runs).
func (p *Provider) UpdateVolume(ctx context.Context, req *runtimev1alpha1.UpdateVolumeRequest) (*runtimev1alpha1.UpdateVolumeResponse, error) {
	v := req.GetVolume()
	if err := validation.Volume("volume", v); err != nil {
		return nil, err
	}
	if err := supportedVolume("volume", v); err != nil {
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
	cannot := func(what string) error {
		return status.Errorf(codes.FailedPrecondition, "volume %q: %s cannot change in place; detach and attach it", v.GetName(), what)
	}
	switch {
	case v.GetDevice() != "" && v.GetDevice() != dev:
		return nil, cannot("the device")
	case v.GetReadOnly() != old.GetReadOnly():
		return nil, cannot("read-only")
	case old.GetEmptyDisk() == nil:
		return nil, cannot("the source kind")
	}
	size, was := v.GetEmptyDisk().GetSizeBytes(), old.GetEmptyDisk().GetSizeBytes()
	if size < was {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %q: cannot shrink from %d to %d bytes", v.GetName(), was, size)
	}
	if size == was {
		return &runtimev1alpha1.UpdateVolumeResponse{Machine: p.viewOf(m)}, nil
	}
	if prepared {
		// The disk grows first: a spec that says more than the disk has would never be retried.
		if active {
			err = withDomain(lv, m.id, func(dom *libvirt.Domain) error {
				return dom.BlockResize(dev, size, libvirt.DOMAIN_BLOCK_RESIZE_BYTES)
			})
		} else {
			err = disk.Resize(ctx, p.volumePath(m.id, v.GetName()), size)
		}
		if err != nil {
			return nil, grpcError(fmt.Sprintf("resizing volume %q", v.GetName()), err)
		}
	}
	err = p.updateSpec(lv, m, func(spec *runtimev1alpha1.MachineSpec, _ *record) {
		spec.Volumes[i].GetEmptyDisk().SizeBytes = size
	})
	if err != nil {
		return nil, grpcError("machine "+m.id, err)
	}
	_ = p.refresh(lv, m)
	p.event(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "VolumeUpdated", "updated volume %s in place: resized from %d to %d bytes", v.GetName(), was, size)
	return &runtimev1alpha1.UpdateVolumeResponse{Machine: p.viewOf(m)}, nil
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
