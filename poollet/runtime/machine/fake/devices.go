package fake

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/validation"
)

// withoutSecrets returns a copy of v whose secret data is left out (what the provider stores in
// the spec and returns), and the secret it carried, if any.
func withoutSecrets(v *runtimev1alpha1.Volume) (*runtimev1alpha1.Volume, *runtimev1alpha1.SecretKey) {
	v = proto.Clone(v).(*runtimev1alpha1.Volume)
	key := v.GetNetworkDisk().GetRbd().GetKey()
	if key == nil {
		return v, nil
	}
	secret := proto.Clone(key).(*runtimev1alpha1.SecretKey)
	key.Data = nil
	return v, secret
}

func volumeIndex(m *machine, name string) int {
	return slices.IndexFunc(m.m.Spec.Volumes, func(v *runtimev1alpha1.Volume) bool { return v.GetName() == name })
}

func volumeStatus(m *machine, name string) *runtimev1alpha1.VolumeStatus {
	i := slices.IndexFunc(m.m.Status.Volumes, func(v *runtimev1alpha1.VolumeStatus) bool { return v.GetName() == name })
	if i < 0 {
		return nil
	}
	return m.m.Status.Volumes[i]
}

// deviceInUse reports whether a guest device is taken by the root disk or another volume.
func deviceInUse(m *machine, device string) bool {
	if rd := m.m.Status.RootDisk; rd != nil && rd.Device == device {
		return true
	}
	return slices.ContainsFunc(m.m.Status.Volumes, func(v *runtimev1alpha1.VolumeStatus) bool { return v.Device == device })
}

// addVolumeLocked adds a validated volume to the spec and the status of m.
func (s *Server) addVolumeLocked(m *machine, v *runtimev1alpha1.Volume) {
	stored, secret := withoutSecrets(v)
	m.m.Spec.Volumes = append(m.m.Spec.Volumes, stored)
	device := v.GetDevice()
	for device == "" {
		if candidate := "vd" + string(m.nextDevice); !deviceInUse(m, candidate) {
			device = candidate
		}
		m.nextDevice++
	}
	st := &runtimev1alpha1.VolumeStatus{Name: v.GetName(), State: attachmentState(m), Device: device}
	switch src := v.GetSource().(type) {
	case *runtimev1alpha1.Volume_EmptyDisk:
		st.Handle = fmt.Sprintf("empty/%s/%s", m.m.Metadata.Id, v.GetName())
		st.SizeBytes = src.EmptyDisk.GetSizeBytes()
	case *runtimev1alpha1.Volume_NetworkDisk:
		rbd := src.NetworkDisk.GetRbd()
		st.Handle = fmt.Sprintf("rbd:%s/%s", rbd.GetPool(), rbd.GetImage())
		st.SizeBytes = src.NetworkDisk.GetSizeBytes()
	}
	if secret != nil {
		m.keys[secret.GetId()] = secret.GetData()
		st.KeyId = secret.GetId()
	}
	m.m.Status.Volumes = append(m.m.Status.Volumes, st)
}

// AttachVolume attaches a volume, or does nothing when it is attached with the same spec.
func (s *Server) AttachVolume(_ context.Context, req *runtimev1alpha1.AttachVolumeRequest) (*runtimev1alpha1.AttachVolumeResponse, error) {
	v := req.GetVolume()
	if err := validation.Volume("volume", v); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.lookupMutableLocked(req.GetMachineId())
	if err != nil {
		return nil, err
	}
	if i := volumeIndex(m, v.GetName()); i >= 0 {
		requested, _ := withoutSecrets(v)
		if proto.Equal(requested, m.m.Spec.Volumes[i]) {
			return &runtimev1alpha1.AttachVolumeResponse{Machine: clone(m)}, nil
		}
		return nil, status.Errorf(codes.AlreadyExists, "machine %q has a different volume %q: update or detach it", m.m.Metadata.Id, v.GetName())
	}
	if d := v.GetDevice(); d != "" && deviceInUse(m, d) {
		return nil, status.Errorf(codes.AlreadyExists, "machine %q has another disk on device %q", m.m.Metadata.Id, d)
	}
	s.addVolumeLocked(m, v)
	specChangedLocked(m)
	s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
	s.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "VolumeAttached", "attached volume %s as %s",
		v.GetName(), volumeStatus(m, v.GetName()).GetDevice())
	return &runtimev1alpha1.AttachVolumeResponse{Machine: clone(m)}, nil
}

// UpdateVolume changes a volume in place: growth, credentials, monitors.
func (s *Server) UpdateVolume(_ context.Context, req *runtimev1alpha1.UpdateVolumeRequest) (*runtimev1alpha1.UpdateVolumeResponse, error) {
	v := req.GetVolume()
	if err := validation.Volume("volume", v); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.lookupMutableLocked(req.GetMachineId())
	if err != nil {
		return nil, err
	}
	i := volumeIndex(m, v.GetName())
	if i < 0 {
		return nil, status.Errorf(codes.NotFound, "machine %q has no volume %q", m.m.Metadata.Id, v.GetName())
	}
	old, st := m.m.Spec.Volumes[i], volumeStatus(m, v.GetName())
	cannot := func(what string) error {
		return status.Errorf(codes.FailedPrecondition, "volume %q: %s cannot change in place; detach and attach it", v.GetName(), what)
	}
	if v.GetDevice() != "" && v.GetDevice() != st.GetDevice() {
		return nil, cannot("the device")
	}
	if v.GetReadOnly() != old.GetReadOnly() {
		return nil, cannot("read-only")
	}
	updated, secret := withoutSecrets(v)
	updated.Device = old.GetDevice()
	var size uint64
	switch src := v.GetSource().(type) {
	case *runtimev1alpha1.Volume_EmptyDisk:
		if old.GetEmptyDisk() == nil {
			return nil, cannot("the source kind")
		}
		size = src.EmptyDisk.GetSizeBytes()
	case *runtimev1alpha1.Volume_NetworkDisk:
		was, rbd := old.GetNetworkDisk().GetRbd(), src.NetworkDisk.GetRbd()
		if was == nil {
			return nil, cannot("the source kind")
		}
		if rbd.GetPool() != was.GetPool() || rbd.GetImage() != was.GetImage() || rbd.GetUser() != was.GetUser() {
			return nil, cannot("the RBD pool, image or user")
		}
		size = src.NetworkDisk.GetSizeBytes()
	}
	if size < st.GetSizeBytes() {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %q: cannot shrink from %d to %d bytes", v.GetName(), st.GetSizeBytes(), size)
	}
	if proto.Equal(updated, old) {
		return &runtimev1alpha1.UpdateVolumeResponse{Machine: clone(m)}, nil
	}

	var changes []string
	if size > st.GetSizeBytes() {
		changes = append(changes, fmt.Sprintf("resized from %d to %d bytes", st.GetSizeBytes(), size))
		st.SizeBytes = size
	}
	if !slices.Equal(updated.GetNetworkDisk().GetRbd().GetMonitors(), old.GetNetworkDisk().GetRbd().GetMonitors()) {
		changes = append(changes, "new monitors (used from the next start)")
	}
	if secret != nil && secret.GetId() != st.GetKeyId() {
		delete(m.keys, st.GetKeyId())
		m.keys[secret.GetId()] = secret.GetData()
		st.KeyId = secret.GetId()
		changes = append(changes, "credentials rotated")
	}
	m.m.Spec.Volumes[i] = updated
	specChangedLocked(m)
	s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
	s.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "VolumeUpdated", "updated volume %s in place: %s", v.GetName(), strings.Join(changes, ", "))
	return &runtimev1alpha1.UpdateVolumeResponse{Machine: clone(m)}, nil
}

// DetachVolume detaches a volume; a volume that is not attached is no error.
func (s *Server) DetachVolume(_ context.Context, req *runtimev1alpha1.DetachVolumeRequest) (*runtimev1alpha1.DetachVolumeResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.lookupMutableLocked(req.GetMachineId())
	if err != nil {
		return nil, err
	}
	i := volumeIndex(m, req.GetName())
	if i < 0 {
		return &runtimev1alpha1.DetachVolumeResponse{Machine: clone(m)}, nil
	}
	delete(m.keys, volumeStatus(m, req.GetName()).GetKeyId())
	m.m.Spec.Volumes = slices.Delete(m.m.Spec.Volumes, i, i+1)
	m.m.Status.Volumes = slices.DeleteFunc(m.m.Status.Volumes, func(v *runtimev1alpha1.VolumeStatus) bool { return v.GetName() == req.GetName() })
	specChangedLocked(m)
	s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
	s.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "VolumeDetached", "detached volume %s", req.GetName())
	return &runtimev1alpha1.DetachVolumeResponse{Machine: clone(m)}, nil
}

func nicIndex(m *machine, name string) int {
	return slices.IndexFunc(m.m.Spec.NetworkInterfaces, func(n *runtimev1alpha1.NetworkInterface) bool { return n.GetName() == name })
}

func nicStatus(m *machine, name string) *runtimev1alpha1.NetworkInterfaceStatus {
	i := slices.IndexFunc(m.m.Status.NetworkInterfaces, func(n *runtimev1alpha1.NetworkInterfaceStatus) bool { return n.GetName() == name })
	if i < 0 {
		return nil
	}
	return m.m.Status.NetworkInterfaces[i]
}

// addNetworkInterfaceLocked adds a validated NIC to the spec and the status of m.
func (s *Server) addNetworkInterfaceLocked(m *machine, n *runtimev1alpha1.NetworkInterface) {
	m.m.Spec.NetworkInterfaces = append(m.m.Spec.NetworkInterfaces, proto.Clone(n).(*runtimev1alpha1.NetworkInterface))
	st := &runtimev1alpha1.NetworkInterfaceStatus{
		Name:       n.GetName(),
		State:      attachmentState(m),
		MacAddress: n.GetMacAddress(),
		TapName:    n.GetTapName(),
		Ips:        slices.Clone(n.GetIps()),
	}
	if st.MacAddress == "" {
		st.MacAddress = stableMAC(m.m.Metadata.Id, n.GetName())
	}
	if st.TapName == "" {
		st.TapName = stableTap(m.m.Metadata.Id, n.GetName())
	}
	m.m.Status.NetworkInterfaces = append(m.m.Status.NetworkInterfaces, st)
}

// AttachNetworkInterface attaches a NIC, or does nothing when it is attached with the same spec.
func (s *Server) AttachNetworkInterface(_ context.Context, req *runtimev1alpha1.AttachNetworkInterfaceRequest) (*runtimev1alpha1.AttachNetworkInterfaceResponse, error) {
	n := req.GetNetworkInterface()
	if err := validation.NetworkInterface("network_interface", n); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.lookupMutableLocked(req.GetMachineId())
	if err != nil {
		return nil, err
	}
	if i := nicIndex(m, n.GetName()); i >= 0 {
		if proto.Equal(n, m.m.Spec.NetworkInterfaces[i]) {
			return &runtimev1alpha1.AttachNetworkInterfaceResponse{Machine: clone(m)}, nil
		}
		return nil, status.Errorf(codes.AlreadyExists, "machine %q has a different network interface %q: update or detach it", m.m.Metadata.Id, n.GetName())
	}
	s.addNetworkInterfaceLocked(m, n)
	specChangedLocked(m)
	s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
	st := nicStatus(m, n.GetName())
	s.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "NetworkInterfaceAttached", "attached network interface %s (%s on %s)",
		n.GetName(), st.GetMacAddress(), st.GetTapName())
	return &runtimev1alpha1.AttachNetworkInterfaceResponse{Machine: clone(m)}, nil
}

// UpdateNetworkInterface changes a NIC's IPs and attributes in place.
func (s *Server) UpdateNetworkInterface(_ context.Context, req *runtimev1alpha1.UpdateNetworkInterfaceRequest) (*runtimev1alpha1.UpdateNetworkInterfaceResponse, error) {
	n := req.GetNetworkInterface()
	if err := validation.NetworkInterface("network_interface", n); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.lookupMutableLocked(req.GetMachineId())
	if err != nil {
		return nil, err
	}
	i := nicIndex(m, n.GetName())
	if i < 0 {
		return nil, status.Errorf(codes.NotFound, "machine %q has no network interface %q", m.m.Metadata.Id, n.GetName())
	}
	old, st := m.m.Spec.NetworkInterfaces[i], nicStatus(m, n.GetName())
	if mac := n.GetMacAddress(); mac != "" && mac != st.GetMacAddress() {
		return nil, status.Errorf(codes.FailedPrecondition, "network interface %q: the MAC address cannot change in place; detach and attach it", n.GetName())
	}
	if tap := n.GetTapName(); tap != "" && tap != st.GetTapName() {
		return nil, status.Errorf(codes.FailedPrecondition, "network interface %q: the tap name cannot change in place; detach and attach it", n.GetName())
	}
	updated := proto.Clone(old).(*runtimev1alpha1.NetworkInterface)
	updated.Ips = slices.Clone(n.GetIps())
	updated.Attributes = maps.Clone(n.GetAttributes())
	if proto.Equal(updated, old) {
		return &runtimev1alpha1.UpdateNetworkInterfaceResponse{Machine: clone(m)}, nil
	}
	m.m.Spec.NetworkInterfaces[i] = updated
	st.Ips = slices.Clone(n.GetIps())
	specChangedLocked(m)
	s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
	s.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "NetworkInterfaceUpdated", "updated network interface %s in place", n.GetName())
	return &runtimev1alpha1.UpdateNetworkInterfaceResponse{Machine: clone(m)}, nil
}

// DetachNetworkInterface detaches a NIC; one that is not attached is no error.
func (s *Server) DetachNetworkInterface(_ context.Context, req *runtimev1alpha1.DetachNetworkInterfaceRequest) (*runtimev1alpha1.DetachNetworkInterfaceResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.lookupMutableLocked(req.GetMachineId())
	if err != nil {
		return nil, err
	}
	i := nicIndex(m, req.GetName())
	if i < 0 {
		return &runtimev1alpha1.DetachNetworkInterfaceResponse{Machine: clone(m)}, nil
	}
	m.m.Spec.NetworkInterfaces = slices.Delete(m.m.Spec.NetworkInterfaces, i, i+1)
	m.m.Status.NetworkInterfaces = slices.DeleteFunc(m.m.Status.NetworkInterfaces,
		func(n *runtimev1alpha1.NetworkInterfaceStatus) bool { return n.GetName() == req.GetName() })
	specChangedLocked(m)
	s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
	s.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "NetworkInterfaceDetached", "detached network interface %s", req.GetName())
	return &runtimev1alpha1.DetachNetworkInterfaceResponse{Machine: clone(m)}, nil
}
