package libvirt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"libvirt.org/go/libvirt"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/validation"
	"github.com/ferrite-dev/ferrite/provider/disk"
)

// Volumes and NICs. A change is first stored in the spec (the domain's metadata), then
// applyDevices brings the domain in line with the spec: level-triggered, so a change the domain
// did not take (libvirt down, a crash in between) is made by the next attempt, sync or event.

// applyDevices attaches the spec's empty disks and NICs that the domain lacks and detaches the
// provider's disks and NICs that the spec no longer has: in the persistent definition and, when
// the domain runs, live (hot-plug). A live detach completes when the guest releases the device
// (the device-removed event brings the provider back here). Files of empty disks that are in
// neither the spec nor the domain are deleted. The caller holds m.op.
func (p *Provider) applyDevices(lv *libvirt.Connect, m *machine) error {
	p.mu.Lock()
	spec, rec := cloneSpec(m.spec), m.rec
	p.mu.Unlock()
	if !rec.Prepared {
		return nil
	}
	wantDisks := map[string]diskConfig{}
	for _, v := range spec.GetVolumes() {
		dev := v.GetDevice()
		if dev == "" {
			dev = rec.device(v.GetName())
		}
		wantDisks[dev] = diskConfig{Path: p.volumePath(m.id, v.GetName()), Format: "qcow2", Device: dev, ReadOnly: v.GetReadOnly()}
		if _, err := os.Stat(p.volumePath(m.id, v.GetName())); os.IsNotExist(err) {
			if err := p.prepareVolume(context.Background(), m.id, v); err != nil {
				return fmt.Errorf("volume %q: %w", v.GetName(), err)
			}
		}
	}
	wantNICs := map[string]nicConfig{}
	for _, n := range spec.GetNetworkInterfaces() {
		mac, tap := nicNames(m.id, n)
		wantNICs[mac] = nicConfig{MAC: mac, Tap: tap}
	}
	var inUse []string
	err := withDomain(lv, m.id, func(dom *libvirt.Domain) error {
		active, err := dom.IsActive()
		if err != nil {
			return err
		}
		defs := []libvirt.DomainXMLFlags{libvirt.DOMAIN_XML_INACTIVE}
		if active {
			defs = append(defs, 0)
		}
		for _, flags := range defs {
			xml, err := dom.GetXMLDesc(flags)
			if err != nil {
				return err
			}
			have, err := parseDevices(xml)
			if err != nil {
				return err
			}
			for _, d := range have.disks {
				inUse = append(inUse, d.Source)
			}
			if err := p.applyDefinition(dom, m.id, flags == 0, have, wantDisks, wantNICs); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.removeStaleVolumes(m.id, spec, inUse)
	return nil
}

// applyDefinition attaches and detaches devices in one definition of the domain: the live one
// (live true) or the persistent one.
func (p *Provider) applyDefinition(dom *libvirt.Domain, id string, live bool, have domainDevices, wantDisks map[string]diskConfig, wantNICs map[string]nicConfig) error {
	flags := libvirt.DOMAIN_DEVICE_MODIFY_CONFIG
	if live {
		flags = libvirt.DOMAIN_DEVICE_MODIFY_LIVE
	}
	for _, dev := range sortedKeys(wantDisks) {
		want := wantDisks[dev]
		if cur, ok := have.disks[dev]; ok && cur.Source == want.Path {
			continue
		}
		xml, err := diskDeviceXML(want)
		if err != nil {
			return err
		}
		if err := dom.AttachDeviceFlags(xml, flags); err != nil {
			return fmt.Errorf("attaching disk %s: %w", dev, err)
		}
	}
	for _, dev := range sortedKeys(have.disks) {
		cur := have.disks[dev]
		if _, isVolume := p.volumeNameOf(id, cur.Source); !isVolume {
			continue // the root disk, the NoCloud drive, or not the provider's
		}
		if want, ok := wantDisks[dev]; ok && want.Path == cur.Source {
			continue
		}
		if err := detach(dom, live, cur.Alias, func() (string, error) {
			return diskDeviceXML(diskConfig{Path: cur.Source, Format: "qcow2", Device: dev})
		}); err != nil {
			return fmt.Errorf("detaching disk %s: %w", dev, err)
		}
	}
	for _, mac := range sortedKeys(wantNICs) {
		if _, ok := have.nics[mac]; ok {
			continue
		}
		xml, err := nicDeviceXML(wantNICs[mac])
		if err != nil {
			return err
		}
		if err := dom.AttachDeviceFlags(xml, flags); err != nil {
			return fmt.Errorf("attaching NIC %s: %w", mac, err)
		}
	}
	for _, mac := range sortedKeys(have.nics) {
		if _, ok := wantNICs[mac]; ok {
			continue
		}
		cur := have.nics[mac]
		if err := detach(dom, live, cur.Alias, func() (string, error) {
			return nicDeviceXML(nicConfig{MAC: mac, Tap: cur.Source})
		}); err != nil {
			return fmt.Errorf("detaching NIC %s: %w", mac, err)
		}
	}
	return nil
}

// detach removes a device: from a running domain by its alias, without waiting for the guest;
// from the persistent definition by its XML.
func detach(dom *libvirt.Domain, live bool, alias string, xml func() (string, error)) error {
	if live && alias != "" {
		return dom.DetachDeviceAlias(alias, libvirt.DOMAIN_DEVICE_MODIFY_LIVE)
	}
	x, err := xml()
	if err != nil {
		return err
	}
	flags := libvirt.DOMAIN_DEVICE_MODIFY_CONFIG
	if live {
		flags = libvirt.DOMAIN_DEVICE_MODIFY_LIVE
	}
	return dom.DetachDeviceFlags(x, flags)
}

// removeStaleVolumes deletes empty disk files that neither the spec nor the domain refers to.
func (p *Provider) removeStaleVolumes(id string, spec *runtimev1alpha1.MachineSpec, inUse []string) {
	files, _ := filepath.Glob(filepath.Join(p.machineDir(id), volumeFilePrefix+"*"+volumeFileSuffix))
	for _, file := range files {
		name, _ := p.volumeNameOf(id, file)
		wanted := slices.ContainsFunc(spec.GetVolumes(), func(v *runtimev1alpha1.Volume) bool { return v.GetName() == name })
		if !wanted && !slices.Contains(inUse, file) {
			if err := os.Remove(file); err != nil && !os.IsNotExist(err) {
				p.log.Error(err, "removing a detached disk", "machine", id, "file", file)
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func volumeIndex(spec *runtimev1alpha1.MachineSpec, name string) int {
	return slices.IndexFunc(spec.GetVolumes(), func(v *runtimev1alpha1.Volume) bool { return v.GetName() == name })
}

func nicIndex(spec *runtimev1alpha1.MachineSpec, name string) int {
	return slices.IndexFunc(spec.GetNetworkInterfaces(), func(n *runtimev1alpha1.NetworkInterface) bool { return n.GetName() == name })
}

// devicesChanged brings the domain in line after a spec change; a failure is reported to the
// caller, who retries (the retried request finds the spec changed and applies again).
func (p *Provider) devicesChanged(lv *libvirt.Connect, m *machine, what string) error {
	err := p.applyDevices(lv, m)
	if rerr := p.refresh(lv, m); err == nil {
		err = rerr
	}
	if err != nil {
		p.event(m, runtimev1alpha1.EventType_EVENT_TYPE_WARNING, "DeviceUpdateFailed", "%s: %v", what, err)
		return grpcError(what, err)
	}
	return nil
}

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
	taken := v.GetDevice() != "" && (v.GetDevice() == rootDevice || slices.ContainsFunc(m.spec.GetVolumes(), func(o *runtimev1alpha1.Volume) bool {
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

// AttachNetworkInterface attaches a NIC on a tap device libvirt creates (hot-plugged when the
// machine runs).
func (p *Provider) AttachNetworkInterface(_ context.Context, req *runtimev1alpha1.AttachNetworkInterfaceRequest) (*runtimev1alpha1.AttachNetworkInterfaceResponse, error) {
	n := req.GetNetworkInterface()
	if err := validation.NetworkInterface("network_interface", n); err != nil {
		return nil, err
	}
	m, lv, err := p.acquire(req.GetMachineId(), true)
	if err != nil {
		return nil, err
	}
	defer m.op.Unlock()
	mac, tap := nicNames(m.id, n)
	p.mu.Lock()
	i := nicIndex(m.spec, n.GetName())
	same := i >= 0 && proto.Equal(n, m.spec.NetworkInterfaces[i])
	clash := slices.ContainsFunc(m.spec.GetNetworkInterfaces(), func(o *runtimev1alpha1.NetworkInterface) bool {
		omac, otap := nicNames(m.id, o)
		return o.GetName() != n.GetName() && (omac == mac || otap == tap)
	})
	p.mu.Unlock()
	switch {
	case same:
		if err := p.devicesChanged(lv, m, "attaching network interface "+n.GetName()); err != nil {
			return nil, err
		}
		return &runtimev1alpha1.AttachNetworkInterfaceResponse{Machine: p.viewOf(m)}, nil
	case i >= 0:
		return nil, status.Errorf(codes.AlreadyExists, "machine %q has a different network interface %q: update or detach it", m.id, n.GetName())
	case clash:
		return nil, status.Errorf(codes.AlreadyExists, "machine %q has another network interface with MAC address %s or tap %s", m.id, mac, tap)
	}
	err = p.updateSpec(lv, m, func(spec *runtimev1alpha1.MachineSpec, _ *record) {
		spec.NetworkInterfaces = append(spec.NetworkInterfaces, proto.Clone(n).(*runtimev1alpha1.NetworkInterface))
	})
	if err != nil {
		return nil, grpcError("machine "+m.id, err)
	}
	p.mu.Lock()
	delete(m.detachingNICs, mac)
	p.mu.Unlock()
	if err := p.devicesChanged(lv, m, "attaching network interface "+n.GetName()); err != nil {
		return nil, err
	}
	p.event(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "NetworkInterfaceAttached", "attached network interface %s (%s on %s)", n.GetName(), mac, tap)
	return &runtimev1alpha1.AttachNetworkInterfaceResponse{Machine: p.viewOf(m)}, nil
}

// UpdateNetworkInterface changes a NIC's IPs and attributes: only the spec changes (the host's
// network agent acts on them), the guest keeps its device.
func (p *Provider) UpdateNetworkInterface(_ context.Context, req *runtimev1alpha1.UpdateNetworkInterfaceRequest) (*runtimev1alpha1.UpdateNetworkInterfaceResponse, error) {
	n := req.GetNetworkInterface()
	if err := validation.NetworkInterface("network_interface", n); err != nil {
		return nil, err
	}
	m, lv, err := p.acquire(req.GetMachineId(), true)
	if err != nil {
		return nil, err
	}
	defer m.op.Unlock()
	p.mu.Lock()
	i := nicIndex(m.spec, n.GetName())
	var old *runtimev1alpha1.NetworkInterface
	if i >= 0 {
		old = proto.Clone(m.spec.NetworkInterfaces[i]).(*runtimev1alpha1.NetworkInterface)
	}
	p.mu.Unlock()
	if old == nil {
		return nil, status.Errorf(codes.NotFound, "machine %q has no network interface %q", m.id, n.GetName())
	}
	mac, tap := nicNames(m.id, old)
	if want := strings.ToLower(n.GetMacAddress()); want != "" && want != mac {
		return nil, status.Errorf(codes.FailedPrecondition, "network interface %q: the MAC address cannot change in place; detach and attach it", n.GetName())
	}
	if want := n.GetTapName(); want != "" && want != tap {
		return nil, status.Errorf(codes.FailedPrecondition, "network interface %q: the tap name cannot change in place; detach and attach it", n.GetName())
	}
	updated := proto.Clone(old).(*runtimev1alpha1.NetworkInterface)
	updated.Ips = slices.Clone(n.GetIps())
	updated.Attributes = n.GetAttributes()
	if proto.Equal(updated, old) {
		return &runtimev1alpha1.UpdateNetworkInterfaceResponse{Machine: p.viewOf(m)}, nil
	}
	err = p.updateSpec(lv, m, func(spec *runtimev1alpha1.MachineSpec, _ *record) {
		spec.NetworkInterfaces[i] = updated
	})
	if err != nil {
		return nil, grpcError("machine "+m.id, err)
	}
	p.publish(m)
	p.event(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "NetworkInterfaceUpdated", "updated network interface %s in place", n.GetName())
	return &runtimev1alpha1.UpdateNetworkInterfaceResponse{Machine: p.viewOf(m)}, nil
}

// DetachNetworkInterface detaches a NIC; libvirt removes its tap once the guest released it.
func (p *Provider) DetachNetworkInterface(_ context.Context, req *runtimev1alpha1.DetachNetworkInterfaceRequest) (*runtimev1alpha1.DetachNetworkInterfaceResponse, error) {
	m, lv, err := p.acquire(req.GetMachineId(), true)
	if err != nil {
		return nil, err
	}
	defer m.op.Unlock()
	p.mu.Lock()
	i := nicIndex(m.spec, req.GetName())
	var mac string
	if i >= 0 {
		mac, _ = nicNames(m.id, m.spec.NetworkInterfaces[i])
	}
	p.mu.Unlock()
	if i < 0 {
		return &runtimev1alpha1.DetachNetworkInterfaceResponse{Machine: p.viewOf(m)}, nil
	}
	err = p.updateSpec(lv, m, func(spec *runtimev1alpha1.MachineSpec, _ *record) {
		spec.NetworkInterfaces = slices.Delete(spec.NetworkInterfaces, i, i+1)
	})
	if err != nil {
		return nil, grpcError("machine "+m.id, err)
	}
	p.mu.Lock()
	if m.detachingNICs == nil {
		m.detachingNICs = map[string]string{}
	}
	m.detachingNICs[mac] = req.GetName()
	p.mu.Unlock()
	if err := p.devicesChanged(lv, m, "detaching network interface "+req.GetName()); err != nil {
		return nil, err
	}
	p.event(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "NetworkInterfaceDetached", "detached network interface %s", req.GetName())
	return &runtimev1alpha1.DetachNetworkInterfaceResponse{Machine: p.viewOf(m)}, nil
}
