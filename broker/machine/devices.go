package machine

import (
	"context"
	"maps"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/validation"
)

// AttachVolume adds a disk to the lower Machine's spec.volumes (the lower poollet hot-plugs it).
func (b *Broker) AttachVolume(ctx context.Context, req *runtimev1alpha1.AttachVolumeRequest) (*runtimev1alpha1.AttachVolumeResponse, error) {
	if err := validation.Volume("volume", req.GetVolume()); err != nil {
		return nil, err
	}
	v := req.GetVolume()
	m, err := b.edit(ctx, req.GetMachineId(), func(m *computev1alpha1.Machine, spec *runtimev1alpha1.MachineSpec) (bool, error) {
		i := slices.IndexFunc(spec.Volumes, func(have *runtimev1alpha1.Volume) bool { return have.GetName() == v.GetName() })
		if i >= 0 {
			if proto.Equal(withoutKeys(spec.Volumes[i]), withoutKeys(v)) {
				return false, nil
			}
			return false, status.Errorf(codes.AlreadyExists, "volume %s is attached with another spec", v.GetName())
		}
		entry, err := b.lowerVolumeEntry(v)
		if err != nil {
			return false, err
		}
		spec.Volumes = append(spec.Volumes, v)
		m.Spec.Volumes = append(m.Spec.Volumes, entry)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &runtimev1alpha1.AttachVolumeResponse{Machine: runtimeMachine(m)}, nil
}

// UpdateVolume grows an empty disk, or records a network disk's new size or credentials (the
// lower Volume, which a volumebroker serves, is resized and re-keyed there).
func (b *Broker) UpdateVolume(ctx context.Context, req *runtimev1alpha1.UpdateVolumeRequest) (*runtimev1alpha1.UpdateVolumeResponse, error) {
	v := req.GetVolume()
	m, err := b.edit(ctx, req.GetMachineId(), func(m *computev1alpha1.Machine, spec *runtimev1alpha1.MachineSpec) (bool, error) {
		i := slices.IndexFunc(spec.Volumes, func(have *runtimev1alpha1.Volume) bool { return have.GetName() == v.GetName() })
		if i < 0 {
			return false, status.Errorf(codes.NotFound, "volume %s is not attached", v.GetName())
		}
		have := spec.Volumes[i]
		want := proto.Clone(v).(*runtimev1alpha1.Volume)
		if want.GetDevice() == "" {
			want.Device = have.GetDevice()
		}
		if want.GetDevice() != have.GetDevice() || want.GetReadOnly() != have.GetReadOnly() ||
			(want.GetEmptyDisk() == nil) != (have.GetEmptyDisk() == nil) {
			return false, status.Errorf(codes.FailedPrecondition, "volume %s: only the size and credentials change in place", v.GetName())
		}
		if ed := want.GetEmptyDisk(); ed != nil {
			if ed.GetSizeBytes() < have.GetEmptyDisk().GetSizeBytes() {
				return false, status.Errorf(codes.FailedPrecondition, "volume %s: an empty disk cannot shrink", v.GetName())
			}
			for j := range m.Spec.Volumes {
				if m.Spec.Volumes[j].Name == v.GetName() && m.Spec.Volumes[j].EmptyDisk != nil {
					m.Spec.Volumes[j].EmptyDisk.SizeLimit = resource.NewQuantity(int64(ed.GetSizeBytes()), resource.BinarySI)
				}
			}
		} else if a, b := have.GetNetworkDisk().GetRbd(), want.GetNetworkDisk().GetRbd(); a.GetPool() != b.GetPool() || a.GetImage() != b.GetImage() || a.GetUser() != b.GetUser() {
			return false, status.Errorf(codes.FailedPrecondition, "volume %s: the RBD pool, image and user cannot change in place", v.GetName())
		}
		if proto.Equal(withoutKeys(have), withoutKeys(want)) {
			return false, nil
		}
		spec.Volumes[i] = want
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &runtimev1alpha1.UpdateVolumeResponse{Machine: runtimeMachine(m)}, nil
}

// DetachVolume removes a disk from the lower Machine's spec.volumes.
func (b *Broker) DetachVolume(ctx context.Context, req *runtimev1alpha1.DetachVolumeRequest) (*runtimev1alpha1.DetachVolumeResponse, error) {
	name := req.GetName()
	m, err := b.edit(ctx, req.GetMachineId(), func(m *computev1alpha1.Machine, spec *runtimev1alpha1.MachineSpec) (bool, error) {
		n := len(spec.Volumes)
		spec.Volumes = slices.DeleteFunc(spec.Volumes, func(v *runtimev1alpha1.Volume) bool { return v.GetName() == name })
		m.Spec.Volumes = slices.DeleteFunc(m.Spec.Volumes, func(v computev1alpha1.MachineVolume) bool { return v.Name == name })
		return len(spec.Volumes) != n, nil
	})
	if err != nil {
		return nil, err
	}
	return &runtimev1alpha1.DetachVolumeResponse{Machine: runtimeMachine(m)}, nil
}

// AttachNetworkInterface makes the lower Network and NetworkInterface and adds it to the lower
// Machine.
func (b *Broker) AttachNetworkInterface(ctx context.Context, req *runtimev1alpha1.AttachNetworkInterfaceRequest) (*runtimev1alpha1.AttachNetworkInterfaceResponse, error) {
	if err := validation.NetworkInterface("network_interface", req.GetNetworkInterface()); err != nil {
		return nil, err
	}
	nic := req.GetNetworkInterface()
	if nic.GetAttributes()[attributeNetworkUID] == "" {
		return nil, status.Errorf(codes.FailedPrecondition, "network_interface (%s): no attribute %s: the lower Network cannot be chosen", nic.GetName(), attributeNetworkUID)
	}
	id := req.GetMachineId()
	m, err := b.edit(ctx, id, func(m *computev1alpha1.Machine, spec *runtimev1alpha1.MachineSpec) (bool, error) {
		i := slices.IndexFunc(spec.NetworkInterfaces, func(have *runtimev1alpha1.NetworkInterface) bool { return have.GetName() == nic.GetName() })
		if i >= 0 {
			if proto.Equal(spec.NetworkInterfaces[i], nic) {
				return false, nil
			}
			return false, status.Errorf(codes.AlreadyExists, "network interface %s is attached with another spec", nic.GetName())
		}
		if err := b.createNetworkInterface(ctx, id, nic, &madeObjects{}); err != nil {
			return false, apiStatus(err)
		}
		spec.NetworkInterfaces = append(spec.NetworkInterfaces, nic)
		m.Spec.NetworkInterfaces = append(m.Spec.NetworkInterfaces, lowerNetworkInterfaceEntry(id, nic))
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &runtimev1alpha1.AttachNetworkInterfaceResponse{Machine: runtimeMachine(m)}, nil
}

// UpdateNetworkInterface records new IPs and attributes, and gives the lower NetworkInterface
// the new IPs.
func (b *Broker) UpdateNetworkInterface(ctx context.Context, req *runtimev1alpha1.UpdateNetworkInterfaceRequest) (*runtimev1alpha1.UpdateNetworkInterfaceResponse, error) {
	nic := req.GetNetworkInterface()
	id := req.GetMachineId()
	m, err := b.edit(ctx, id, func(m *computev1alpha1.Machine, spec *runtimev1alpha1.MachineSpec) (bool, error) {
		i := slices.IndexFunc(spec.NetworkInterfaces, func(have *runtimev1alpha1.NetworkInterface) bool { return have.GetName() == nic.GetName() })
		if i < 0 {
			return false, status.Errorf(codes.NotFound, "network interface %s is not attached", nic.GetName())
		}
		have := spec.NetworkInterfaces[i]
		if (nic.GetMacAddress() != "" && nic.GetMacAddress() != have.GetMacAddress()) || (nic.GetTapName() != "" && nic.GetTapName() != have.GetTapName()) {
			return false, status.Errorf(codes.FailedPrecondition, "network interface %s: the MAC address and tap name cannot change in place", nic.GetName())
		}
		if slices.Equal(have.GetIps(), nic.GetIps()) && maps.Equal(have.GetAttributes(), nic.GetAttributes()) {
			return false, nil
		}
		if !slices.Equal(have.GetIps(), nic.GetIps()) {
			if err := b.setAddresses(ctx, NetworkInterfaceName(id, nic.GetName()), nic.GetIps()); err != nil {
				return false, err
			}
		}
		have.Ips, have.Attributes = slices.Clone(nic.GetIps()), maps.Clone(nic.GetAttributes())
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &runtimev1alpha1.UpdateNetworkInterfaceResponse{Machine: runtimeMachine(m)}, nil
}

// DetachNetworkInterface removes a NIC from the lower Machine and deletes its lower
// NetworkInterface.
func (b *Broker) DetachNetworkInterface(ctx context.Context, req *runtimev1alpha1.DetachNetworkInterfaceRequest) (*runtimev1alpha1.DetachNetworkInterfaceResponse, error) {
	name := req.GetName()
	id := req.GetMachineId()
	m, err := b.edit(ctx, id, func(m *computev1alpha1.Machine, spec *runtimev1alpha1.MachineSpec) (bool, error) {
		n := len(spec.NetworkInterfaces)
		spec.NetworkInterfaces = slices.DeleteFunc(spec.NetworkInterfaces, func(v *runtimev1alpha1.NetworkInterface) bool { return v.GetName() == name })
		m.Spec.NetworkInterfaces = slices.DeleteFunc(m.Spec.NetworkInterfaces, func(v computev1alpha1.MachineNetworkInterface) bool { return v.Name == name })
		return len(spec.NetworkInterfaces) != n, nil
	})
	if err != nil {
		return nil, err
	}
	// The interface goes once the Machine no longer names it (also on a retried detach).
	err = b.opts.Client.NetworkingV1alpha1().NetworkInterfaces(b.opts.Namespace).Delete(ctx, NetworkInterfaceName(id, name), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, apiStatus(err)
	}
	return &runtimev1alpha1.DetachNetworkInterfaceResponse{Machine: runtimeMachine(m)}, nil
}

// edit reads the lower Machine of id from the API, lets change alter it and the stored runtime
// spec, and writes both back when change says so; on a conflict with another writer (the lower
// scheduler or poollet) it reads and tries again.
func (b *Broker) edit(ctx context.Context, id string, change func(*computev1alpha1.Machine, *runtimev1alpha1.MachineSpec) (bool, error)) (*computev1alpha1.Machine, error) {
	if _, err := b.machineFor(ctx, id); err != nil {
		return nil, err
	}
	machines := b.opts.Client.ComputeV1alpha1().Machines(b.opts.Namespace)
	var out *computev1alpha1.Machine
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		m, err := machines.Get(ctx, MachineName(id), metav1.GetOptions{})
		if err != nil {
			return err
		}
		spec := &runtimev1alpha1.MachineSpec{}
		if err := protojson.Unmarshal([]byte(m.Annotations[AnnotationSpec]), spec); err != nil {
			return status.Errorf(codes.Internal, "lower Machine %s: annotation %s: %v", m.Name, AnnotationSpec, err)
		}
		changed, err := change(m, spec)
		if err != nil || !changed {
			out = m
			return err
		}
		stored, err := storedSpec(spec)
		if err != nil {
			return status.Errorf(codes.Internal, "encoding the spec: %v", err)
		}
		m.Annotations[AnnotationSpec] = stored
		out, err = machines.Update(ctx, m, metav1.UpdateOptions{})
		return err
	})
	if _, ok := status.FromError(err); err != nil && !ok {
		return nil, apiStatus(err)
	}
	return out, err
}

// withoutKeys is v without secret key data, to compare a request with the stored spec.
func withoutKeys(v *runtimev1alpha1.Volume) *runtimev1alpha1.Volume {
	out := proto.Clone(v).(*runtimev1alpha1.Volume)
	if rbd := out.GetNetworkDisk().GetRbd(); rbd != nil {
		if rbd.Key != nil {
			rbd.Key.Data = nil
		}
		if p := rbd.GetEncryption().GetPassphrase(); p != nil {
			p.Data = nil
		}
	}
	return out
}
