package machine

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// syncDevices brings the runtime machine's disks and NICs in line with d: it attaches what is
// missing, changes in place what can change (a grown disk, rotated credentials, new addresses
// or attributes of a NIC), replaces what cannot (detach, then attach), and detaches entries that
// left the spec or lost their claim. Entries that are only waiting (their Volume is not available
// yet, say) keep whatever is attached. It returns the runtime machine after the last call.
func (p *Poollet) syncDevices(ctx context.Context, rm *runtimev1alpha1.Machine, d *devices) (*runtimev1alpha1.Machine, error) {
	id := rm.GetMetadata().GetId()
	current := map[string]*runtimev1alpha1.Volume{}
	for _, v := range rm.GetSpec().GetVolumes() {
		current[v.GetName()] = v
	}
	// A volume that moves to another device is detached first, so that another volume can take
	// the device it frees in this pass.
	attached := attachedDevices(rm)
	for _, want := range d.volumes {
		if _, ok := current[want.GetName()]; ok && attached[want.GetName()] != "" && want.GetDevice() != "" && attached[want.GetName()] != want.GetDevice() {
			if err := p.detachVolume(ctx, id, want.GetName()); err != nil {
				return rm, err
			}
			delete(current, want.GetName())
		}
	}
	for _, want := range d.volumes {
		have, ok := current[want.GetName()]
		if ok && have.GetDevice() == "" && want.GetDevice() == attached[want.GetName()] {
			// Attached where the runtime chose: ask for it as it was asked for before.
			want = withDevice(want, "")
		}
		if ok && want.GetNetworkDisk() != nil && want.GetNetworkDisk().GetSizeBytes() == 0 {
			// The storage has not acted on the Volume's size yet: keep the attached one.
			want = proto.Clone(want).(*runtimev1alpha1.Volume)
			want.GetNetworkDisk().SizeBytes = have.GetNetworkDisk().GetSizeBytes()
		}
		delete(current, want.GetName())
		switch {
		case ok && sameVolume(have, want):
			continue
		case ok && volumeUpdatable(have, want):
			resp, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.UpdateVolumeResponse, error) {
				return p.Runtime.UpdateVolume(ctx, &runtimev1alpha1.UpdateVolumeRequest{MachineId: id, Volume: want})
			})
			if err != nil {
				return rm, fmt.Errorf("updating volume %q: %w", want.GetName(), err)
			}
			rm = resp.GetMachine()
			continue
		case ok:
			if err := p.detachVolume(ctx, id, want.GetName()); err != nil {
				return rm, err
			}
		}
		resp, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.AttachVolumeResponse, error) {
			return p.Runtime.AttachVolume(ctx, &runtimev1alpha1.AttachVolumeRequest{MachineId: id, Volume: want})
		})
		if err != nil {
			return rm, fmt.Errorf("attaching volume %q: %w", want.GetName(), err)
		}
		rm = resp.GetMachine()
	}
	for name := range current {
		if d.keep["volume "+name] {
			continue
		}
		if err := p.detachVolume(ctx, id, name); err != nil {
			return rm, err
		}
	}

	currentNICs := map[string]*runtimev1alpha1.NetworkInterface{}
	for _, n := range rm.GetSpec().GetNetworkInterfaces() {
		currentNICs[n.GetName()] = n
	}
	for _, want := range d.nics {
		have, ok := currentNICs[want.GetName()]
		delete(currentNICs, want.GetName())
		switch {
		case ok && have.GetMacAddress() == want.GetMacAddress() && have.GetTapName() == want.GetTapName():
			if slices.Equal(have.GetIps(), want.GetIps()) && maps.Equal(have.GetAttributes(), want.GetAttributes()) {
				continue
			}
			// Addresses and attributes change in place: the guest keeps its device.
			resp, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.UpdateNetworkInterfaceResponse, error) {
				return p.Runtime.UpdateNetworkInterface(ctx, &runtimev1alpha1.UpdateNetworkInterfaceRequest{MachineId: id, NetworkInterface: want})
			})
			if err != nil {
				return rm, fmt.Errorf("updating network interface %q: %w", want.GetName(), err)
			}
			rm = resp.GetMachine()
			continue
		case ok:
			// Another NetworkInterface object under the same entry name: a new device.
			if err := p.detachNIC(ctx, id, want.GetName()); err != nil {
				return rm, err
			}
		}
		resp, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.AttachNetworkInterfaceResponse, error) {
			return p.Runtime.AttachNetworkInterface(ctx, &runtimev1alpha1.AttachNetworkInterfaceRequest{MachineId: id, NetworkInterface: want})
		})
		if err != nil {
			return rm, fmt.Errorf("attaching network interface %q: %w", want.GetName(), err)
		}
		rm = resp.GetMachine()
	}
	for name := range currentNICs {
		if d.keep["network interface "+name] {
			continue
		}
		if err := p.detachNIC(ctx, id, name); err != nil {
			return rm, err
		}
	}
	if len(current) > 0 || len(currentNICs) > 0 {
		// Detach responses are not kept above; read the machine once for an exact status.
		resp, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.ListMachinesResponse, error) {
			return p.Runtime.ListMachines(ctx, &runtimev1alpha1.ListMachinesRequest{Filter: &runtimev1alpha1.MachineFilter{Id: id}})
		})
		if err != nil {
			return rm, err
		}
		if len(resp.GetMachines()) == 1 {
			rm = resp.GetMachines()[0]
		}
	}
	return rm, nil
}

func (p *Poollet) detachVolume(ctx context.Context, id, name string) error {
	_, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.DetachVolumeResponse, error) {
		return p.Runtime.DetachVolume(ctx, &runtimev1alpha1.DetachVolumeRequest{MachineId: id, Name: name})
	})
	if err != nil {
		return fmt.Errorf("detaching volume %q: %w", name, err)
	}
	return nil
}

func (p *Poollet) detachNIC(ctx context.Context, id, name string) error {
	_, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.DetachNetworkInterfaceResponse, error) {
		return p.Runtime.DetachNetworkInterface(ctx, &runtimev1alpha1.DetachNetworkInterfaceRequest{MachineId: id, Name: name})
	})
	if err != nil {
		return fmt.Errorf("detaching network interface %q: %w", name, err)
	}
	return nil
}

// call makes one unary runtime call with the poollet's timeout.
func call[R any](ctx context.Context, p *Poollet, f func(context.Context) (R, error)) (R, error) {
	ctx, cancel := p.call(ctx)
	defer cancel()
	return f(ctx)
}

// sameVolume reports whether the attached volume have already is want. The runtime never
// returns secret data, so keys compare by their ID.
func sameVolume(have, want *runtimev1alpha1.Volume) bool {
	return proto.Equal(withoutKeyData(have), withoutKeyData(want)) ||
		// An empty device in the spec lets the runtime choose; the chosen one is no difference.
		(want.GetDevice() == "" && proto.Equal(withoutKeyData(withDevice(have, "")), withoutKeyData(want)))
}

// volumeUpdatable reports whether have can become want in place: the same kind of source on
// the same device, an empty disk that only grows, a network disk of the same image and user
// (its size, monitors and key may change).
func volumeUpdatable(have, want *runtimev1alpha1.Volume) bool {
	if have.GetReadOnly() != want.GetReadOnly() || (want.GetDevice() != "" && want.GetDevice() != have.GetDevice()) {
		return false
	}
	switch {
	case have.GetEmptyDisk() != nil && want.GetEmptyDisk() != nil:
		return want.GetEmptyDisk().GetSizeBytes() > have.GetEmptyDisk().GetSizeBytes()
	case have.GetNetworkDisk().GetRbd() != nil && want.GetNetworkDisk().GetRbd() != nil:
		h, w := have.GetNetworkDisk().GetRbd(), want.GetNetworkDisk().GetRbd()
		return h.GetPool() == w.GetPool() && h.GetImage() == w.GetImage() && h.GetUser() == w.GetUser() &&
			h.GetEncryption().GetFormat() == w.GetEncryption().GetFormat() &&
			h.GetEncryption().GetPassphrase().GetId() == w.GetEncryption().GetPassphrase().GetId() &&
			want.GetNetworkDisk().GetSizeBytes() >= have.GetNetworkDisk().GetSizeBytes()
	}
	return false
}

func withDevice(v *runtimev1alpha1.Volume, device string) *runtimev1alpha1.Volume {
	out := proto.Clone(v).(*runtimev1alpha1.Volume)
	out.Device = device
	return out
}

// withoutKeyData is v without the bytes of its key and passphrase (their IDs stay).
func withoutKeyData(v *runtimev1alpha1.Volume) *runtimev1alpha1.Volume {
	rbd := v.GetNetworkDisk().GetRbd()
	if len(rbd.GetKey().GetData()) == 0 && len(rbd.GetEncryption().GetPassphrase().GetData()) == 0 {
		return v
	}
	out := proto.Clone(v).(*runtimev1alpha1.Volume)
	rbd = out.GetNetworkDisk().GetRbd()
	if rbd.GetKey() != nil {
		rbd.Key.Data = nil
	}
	if rbd.GetEncryption().GetPassphrase() != nil {
		rbd.Encryption.Passphrase.Data = nil
	}
	return out
}
