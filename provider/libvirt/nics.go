package libvirt

import (
	"context"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/validation"
)

// Network interfaces: virtio NICs on tap devices that libvirt creates and removes
// (<interface type='ethernet'><target dev='TAP' managed='yes'/>), with a MAC address and tap name
// derived from the machine ID and NIC name when the spec leaves them empty. IPs and attributes
// are for the host's network agent and change in place.

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
