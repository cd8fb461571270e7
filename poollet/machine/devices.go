package machine

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ferrite-dev/ferrite/apis/compute/templates"
	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/tapdevice"
)

// DefaultEmptyDiskBytes is the size of an emptyDisk without a sizeLimit.
const DefaultEmptyDiskBytes = 1 << 30

// Attributes the poollet sets on every runtime network interface, for the host's network agent.
const (
	AttributeNetwork             = "ferrite.dev/network"
	AttributeNamespace           = "ferrite.dev/namespace"
	AttributeNetworkInterface    = "ferrite.dev/network-interface"
	AttributeNetworkInterfaceUID = "ferrite.dev/network-interface-uid"
	AttributeVNI                 = "ferrite.dev/vni"
)

// Volume access contract of storage.ferrite.dev Volumes whose status.access.driver is
// DriverCeph: the volumepoollet writes the RBD image's location in the attributes below and
// the cephx key in the Secret status.access.secretRef names, under SecretKeyCephKey.
const (
	DriverCeph        = "ceph"
	AttributeMonitors = "monitors" // comma-separated host:port
	AttributePool     = "pool"
	AttributeImage    = "image"
	AttributeUser     = "user"
	SecretKeyCephKey  = "key"
)

// devices is what a Machine asks of the runtime besides its class: the disks and NICs that are
// ready to attach, and why the others are not.
type devices struct {
	volumes []*runtimev1alpha1.Volume
	nics    []*runtimev1alpha1.NetworkInterface
	// virtualIPs holds the public address of each NIC by name, for status.
	virtualIPs map[string]string
	// waiting maps an entry not ready yet ("volume data", "network interface eth0") to the
	// reason; the entry is attached on a later pass.
	waiting map[string]string
	// keep holds the waiting entries whose object is still this machine's (claimed, only not
	// ready): what is attached for them stays attached. Other entries are detached.
	keep map[string]bool
}

// pending says why an entry cannot be attached yet.
type pending struct {
	reason string
	// claimed: the object exists and is claimed by the machine.
	claimed bool
}

func (d *devices) wait(entry string, w pending) {
	d.waiting[entry] = w.reason
	if w.claimed {
		d.keep[entry] = true
	}
}

// machineDevices reads the objects behind m's volumes and network interfaces. Volumes and
// NetworkInterfaces are read from the API server by name (the poollet keeps no cluster-wide
// cache of them) and used only when they are claimed by this very Machine (name and UID), so a
// Machine can never attach another machine's disk or interface.
func (p *Poollet) machineDevices(ctx context.Context, m *computev1alpha1.Machine) (*devices, error) {
	d := &devices{virtualIPs: map[string]string{}, waiting: map[string]string{}, keep: map[string]bool{}}
	for _, entry := range m.Spec.Volumes {
		volume, w, err := p.volume(ctx, m, entry)
		if err != nil {
			return nil, err
		}
		if w.reason != "" {
			d.wait("volume "+entry.Name, w)
			continue
		}
		d.volumes = append(d.volumes, volume)
	}
	for _, entry := range m.Spec.NetworkInterfaces {
		nic, virtualIP, w, err := p.networkInterface(ctx, m, entry)
		if err != nil {
			return nil, err
		}
		if w.reason != "" {
			d.wait("network interface "+entry.Name, w)
			continue
		}
		d.nics = append(d.nics, nic)
		if len(nic.Ips) == 0 {
			// Attached without an address so the tap exists; looked at again until IPAM assigns one.
			d.wait("network interface "+entry.Name, pending{reason: "no address assigned yet", claimed: true})
		}
		if virtualIP != "" {
			d.virtualIPs[entry.Name] = virtualIP
		}
	}
	return d, nil
}

// volume is the runtime volume of one entry of spec.volumes, or the reason it cannot be
// attached yet.
func (p *Poollet) volume(ctx context.Context, m *computev1alpha1.Machine, entry computev1alpha1.MachineVolume) (*runtimev1alpha1.Volume, pending, error) {
	out := &runtimev1alpha1.Volume{Name: entry.Name, Device: entry.Device}
	if disk := entry.EmptyDisk; disk != nil {
		size := uint64(DefaultEmptyDiskBytes)
		if disk.SizeLimit != nil && disk.SizeLimit.Value() > 0 {
			size = uint64(disk.SizeLimit.Value())
		}
		out.Source = &runtimev1alpha1.Volume_EmptyDisk{EmptyDisk: &runtimev1alpha1.EmptyDisk{SizeBytes: size}}
		return out, pending{}, nil
	}
	name := ""
	switch {
	case entry.VolumeRef != nil:
		name = entry.VolumeRef.Name
	case entry.Ephemeral != nil:
		name = templates.VolumeName(m.Name, entry.Name)
	default:
		return nil, pending{reason: "has no source"}, nil
	}
	v := &storagev1alpha1.Volume{}
	if err := p.APIReader.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: name}, v); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, pending{reason: fmt.Sprintf("Volume %s does not exist", name)}, nil
		}
		return nil, pending{}, fmt.Errorf("reading Volume %s: %w", name, err)
	}
	if c := v.Spec.ClaimRef; c == nil || c.Name != m.Name || (c.UID != "" && c.UID != m.UID) {
		return nil, pending{reason: fmt.Sprintf("Volume %s is not claimed by this machine", name)}, nil
	}
	access := v.Status.Access
	if access == nil {
		return nil, pending{reason: fmt.Sprintf("Volume %s is not available yet", name), claimed: true}, nil
	}
	if access.Driver != DriverCeph {
		return nil, pending{claimed: true, reason: fmt.Sprintf("Volume %s: access driver %q is not supported by this pool", name, access.Driver)}, nil
	}
	rbd := &runtimev1alpha1.RBDAccess{
		Pool:  access.Attributes[AttributePool],
		Image: access.Attributes[AttributeImage],
		User:  access.Attributes[AttributeUser],
	}
	for _, monitor := range strings.Split(access.Attributes[AttributeMonitors], ",") {
		if monitor = strings.TrimSpace(monitor); monitor != "" {
			rbd.Monitors = append(rbd.Monitors, monitor)
		}
	}
	if access.SecretRef != nil {
		secret := &corev1.Secret{}
		if err := p.APIReader.Get(ctx, types.NamespacedName{Namespace: v.Namespace, Name: access.SecretRef.Name}, secret); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, pending{claimed: true, reason: fmt.Sprintf("Volume %s: access secret %s does not exist", name, access.SecretRef.Name)}, nil
			}
			return nil, pending{}, fmt.Errorf("reading the access secret of Volume %s: %w", name, err)
		}
		rbd.Key = &runtimev1alpha1.SecretKey{Id: string(secret.UID) + "/" + secret.ResourceVersion, Data: secret.Data[SecretKeyCephKey]}
	}
	size := uint64(0)
	if q, ok := v.Spec.Resources[corev1.ResourceStorage]; ok && q.Value() > 0 {
		size = uint64(q.Value())
	}
	out.Source = &runtimev1alpha1.Volume_NetworkDisk{NetworkDisk: &runtimev1alpha1.NetworkDisk{
		SizeBytes: size, Access: &runtimev1alpha1.NetworkDisk_Rbd{Rbd: rbd},
	}}
	return out, pending{}, nil
}

// networkInterface is the runtime NIC of one entry of spec.networkInterfaces with its public
// address, or the reason it cannot be attached yet. The tap name and MAC address derive from
// the NetworkInterface's UID (package tapdevice), so the host's network agent finds the tap.
func (p *Poollet) networkInterface(ctx context.Context, m *computev1alpha1.Machine, entry computev1alpha1.MachineNetworkInterface) (*runtimev1alpha1.NetworkInterface, string, pending, error) {
	name := ""
	switch {
	case entry.NetworkInterfaceRef != nil:
		name = entry.NetworkInterfaceRef.Name
	case entry.Ephemeral != nil:
		name = templates.NetworkInterfaceName(m.Name, entry.Name)
	default:
		return nil, "", pending{reason: "has no source"}, nil
	}
	nic := &networkingv1alpha1.NetworkInterface{}
	if err := p.APIReader.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: name}, nic); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, "", pending{reason: fmt.Sprintf("NetworkInterface %s does not exist", name)}, nil
		}
		return nil, "", pending{}, fmt.Errorf("reading NetworkInterface %s: %w", name, err)
	}
	if c := nic.Spec.MachineRef; c == nil || c.Name != m.Name || (c.UID != "" && c.UID != m.UID) {
		return nil, "", pending{reason: fmt.Sprintf("NetworkInterface %s is not claimed by this machine", name)}, nil
	}
	network := &networkingv1alpha1.Network{}
	if err := p.APIReader.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: nic.Spec.NetworkRef.Name}, network); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, "", pending{claimed: true, reason: fmt.Sprintf("Network %s of NetworkInterface %s does not exist", nic.Spec.NetworkRef.Name, name)}, nil
		}
		return nil, "", pending{}, fmt.Errorf("reading Network %s: %w", nic.Spec.NetworkRef.Name, err)
	}
	if network.Status.VNI == 0 {
		return nil, "", pending{claimed: true, reason: fmt.Sprintf("Network %s has no VNI yet", network.Name)}, nil
	}
	uid := string(nic.UID)
	return &runtimev1alpha1.NetworkInterface{
		Name:       entry.Name,
		MacAddress: tapdevice.MACAddress(uid),
		TapName:    tapdevice.Name(uid),
		Ips:        append([]string(nil), nic.Status.IPs...),
		Attributes: map[string]string{
			AttributeNamespace:           m.Namespace,
			AttributeNetwork:             network.Name,
			AttributeNetworkInterface:    nic.Name,
			AttributeNetworkInterfaceUID: uid,
			AttributeVNI:                 strconv.Itoa(int(network.Status.VNI)),
		},
	}, nic.Status.VirtualIP, pending{}, nil
}
