package machine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	// AttributeNetworkUID is the Network's UID: a machinebroker names the lower Network after it.
	AttributeNetworkUID = "ferrite.dev/network-uid"
)

// Volume access contract of storage.ferrite.dev Volumes whose status.access.driver is
// DriverCeph: the volumepoollet writes the RBD image's location in the attributes below and
// the cephx key in the Secret status.access.secretRef names, under SecretKeyCephKey. An
// encrypted volume has AttributeEncryption = EncryptionLUKS2 and its passphrase under
// SecretKeyPassphrase in the Secret AttributeEncryptionSecret names, in the poollet's
// VolumeKeyNamespace (which tenants cannot read).
const (
	DriverCeph                = "ceph"
	AttributeMonitors         = "monitors" // comma-separated host:port
	AttributePool             = "pool"
	AttributeImage            = "image"
	AttributeUser             = "user"
	AttributeEncryption       = "encryption"
	AttributeEncryptionSecret = "encryptionSecret"
	EncryptionLUKS2           = "luks2"
	SecretKeyCephKey          = "key"
	SecretKeyPassphrase       = "passphrase"
)

// BootDevice is the guest device of the volume a machine boots from.
const BootDevice = "vda"

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
	// rootDisk is the boot from a volume (the first entry of spec.volumes, a Volume with an
	// image); nil when the machine boots from spec.image.
	rootDisk *runtimev1alpha1.RootDisk
	// bootPending says why the volume the machine boots from is not ready; the machine is not
	// created until it is.
	bootPending string
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
	for i, entry := range m.Spec.Volumes {
		volume, image, w, err := p.volume(ctx, m, entry)
		if err != nil {
			return nil, err
		}
		// The first volume boots the machine when it holds an image. One whose image is not
		// known yet (its Volume does not exist) may be it: without spec.image, wait for it too.
		boot := i == 0 && image != ""
		if boot {
			d.rootDisk = &runtimev1alpha1.RootDisk{Image: image, Volume: entry.Name}
		}
		if w.reason != "" {
			d.wait("volume "+entry.Name, w)
			if boot || (i == 0 && m.Spec.Image == "") {
				d.bootPending = "volume " + entry.Name + ": " + w.reason
			}
			continue
		}
		if boot && volume.Device == "" {
			volume.Device = BootDevice
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

// assignDevices gives every volume of d that names no device one, so that the runtime never
// picks a device that another entry of spec.volumes asks for by name (an entry attached later,
// when its Volume becomes available, would find it taken). A volume keeps the device the
// runtime machine rm (nil before the create) already gives it unless an entry asks for that
// device; otherwise it gets the first free of vdb, vdc, ... vda is the root disk's.
func assignDevices(m *computev1alpha1.Machine, d *devices, rm *runtimev1alpha1.Machine) {
	taken := map[string]bool{BootDevice: true}
	for _, entry := range m.Spec.Volumes {
		if entry.Device != "" {
			taken[entry.Device] = true
		}
	}
	for _, v := range d.volumes {
		if v.Device != "" {
			taken[v.Device] = true
		}
	}
	current := attachedDevices(rm)
	for _, v := range d.volumes {
		if dev := current[v.Name]; v.Device == "" && dev != "" && !taken[dev] {
			v.Device, taken[dev] = dev, true
		}
	}
	for _, v := range d.volumes {
		for i := 1; v.Device == ""; i++ {
			if dev := "vd" + diskLetters(i); !taken[dev] {
				v.Device, taken[dev] = dev, true
			}
		}
	}
}

// attachedDevices maps each volume of the runtime machine rm to the guest device it has: the one
// its spec asks for, or the one the runtime chose (status).
func attachedDevices(rm *runtimev1alpha1.Machine) map[string]string {
	devices := map[string]string{}
	for _, v := range rm.GetStatus().GetVolumes() {
		devices[v.GetName()] = v.GetDevice()
	}
	for _, v := range rm.GetSpec().GetVolumes() {
		if v.GetDevice() != "" {
			devices[v.GetName()] = v.GetDevice()
		}
	}
	return devices
}

// diskLetters names the i-th disk after vda: b, c, ..., z, aa, ab, ...
func diskLetters(i int) string {
	letters := ""
	for i++; i > 0; i = (i - 1) / 26 {
		letters = string(rune('a'+(i-1)%26)) + letters
	}
	return letters
}

// volume is the runtime volume of one entry of spec.volumes, or the reason it cannot be
// attached yet, and the OS image the volume was made from (empty: none, or not known yet).
func (p *Poollet) volume(ctx context.Context, m *computev1alpha1.Machine, entry computev1alpha1.MachineVolume) (*runtimev1alpha1.Volume, string, pending, error) {
	out := &runtimev1alpha1.Volume{Name: entry.Name, Device: entry.Device}
	if disk := entry.EmptyDisk; disk != nil {
		size := uint64(DefaultEmptyDiskBytes)
		if disk.SizeLimit != nil && disk.SizeLimit.Value() > 0 {
			size = uint64(disk.SizeLimit.Value())
		}
		out.Source = &runtimev1alpha1.Volume_EmptyDisk{EmptyDisk: &runtimev1alpha1.EmptyDisk{SizeBytes: size}}
		return out, "", pending{}, nil
	}
	name, image := "", ""
	switch {
	case entry.VolumeRef != nil:
		name = entry.VolumeRef.Name
	case entry.Ephemeral != nil:
		name, image = templates.VolumeName(m.Name, entry.Name), entry.Ephemeral.Image
	default:
		return nil, "", pending{reason: "has no source"}, nil
	}
	v := &storagev1alpha1.Volume{}
	if err := p.APIReader.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: name}, v); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, image, pending{reason: fmt.Sprintf("Volume %s does not exist", name)}, nil
		}
		return nil, image, pending{}, fmt.Errorf("reading Volume %s: %w", name, err)
	}
	image = v.Spec.Image
	if c := v.Spec.ClaimRef; c == nil || c.Name != m.Name || (c.UID != "" && c.UID != m.UID) {
		return nil, image, pending{reason: fmt.Sprintf("Volume %s is not claimed by this machine", name)}, nil
	}
	access := v.Status.Access
	if access == nil {
		return nil, image, pending{reason: fmt.Sprintf("Volume %s is not available yet", name), claimed: true}, nil
	}
	if access.Driver != DriverCeph {
		return nil, image, pending{claimed: true, reason: fmt.Sprintf("Volume %s: access driver %q is not supported by this pool", name, access.Driver)}, nil
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
		secret, w, err := p.secret(ctx, v.Namespace, access.SecretRef.Name, "Volume "+name+": access secret")
		if err != nil || w.reason != "" {
			return nil, image, w, err
		}
		rbd.Key = &runtimev1alpha1.SecretKey{Id: string(secret.UID) + "/" + secret.ResourceVersion, Data: secret.Data[SecretKeyCephKey]}
	}
	switch enc := access.Attributes[AttributeEncryption]; enc {
	case "":
	case EncryptionLUKS2:
		secretName := access.Attributes[AttributeEncryptionSecret]
		if secretName == "" {
			return nil, image, pending{claimed: true, reason: fmt.Sprintf("Volume %s: encrypted, but no %s attribute", name, AttributeEncryptionSecret)}, nil
		}
		secret, w, err := p.secret(ctx, p.VolumeKeyNamespace, secretName, "Volume "+name+": passphrase secret")
		if err != nil || w.reason != "" {
			return nil, image, w, err
		}
		data := secret.Data[SecretKeyPassphrase]
		if len(data) == 0 {
			return nil, image, pending{claimed: true, reason: fmt.Sprintf("Volume %s: passphrase secret %s/%s has no key %q", name, p.VolumeKeyNamespace, secretName, SecretKeyPassphrase)}, nil
		}
		// The ID changes with the passphrase only, never with the Secret's metadata: an
		// encryption cannot change in place, so a new ID means detaching the disk.
		sum := sha256.Sum256(data)
		rbd.Encryption = &runtimev1alpha1.RBDEncryption{
			Format:     runtimev1alpha1.RBDEncryptionFormat_RBD_ENCRYPTION_FORMAT_LUKS2,
			Passphrase: &runtimev1alpha1.SecretKey{Id: string(secret.UID) + "/" + hex.EncodeToString(sum[:6]), Data: data},
		}
	default:
		return nil, image, pending{claimed: true, reason: fmt.Sprintf("Volume %s: encryption %q is not supported by this pool", name, enc)}, nil
	}
	// The size the guest is told about: the Volume's requested size once the storage has acted
	// on it (a grown request is an online resize); until then 0, which keeps the attached size.
	size := uint64(0)
	if q, ok := v.Spec.Resources[corev1.ResourceStorage]; ok && q.Value() > 0 && v.Status.ObservedGeneration >= v.Generation {
		size = uint64(q.Value())
	}
	out.Source = &runtimev1alpha1.Volume_NetworkDisk{NetworkDisk: &runtimev1alpha1.NetworkDisk{
		SizeBytes: size, Access: &runtimev1alpha1.NetworkDisk_Rbd{Rbd: rbd},
	}}
	return out, image, pending{}, nil
}

// secret reads a Secret the poollet needs for a volume, or says why the volume waits for it.
func (p *Poollet) secret(ctx context.Context, namespace, name, what string) (*corev1.Secret, pending, error) {
	secret := &corev1.Secret{}
	if err := p.APIReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, pending{claimed: true, reason: fmt.Sprintf("%s %s/%s does not exist", what, namespace, name)}, nil
		}
		return nil, pending{}, fmt.Errorf("reading %s %s/%s: %w", what, namespace, name, err)
	}
	return secret, pending{}, nil
}

// networkInterface is the runtime NIC of one entry of spec.networkInterfaces with its public
// address, or the reason it cannot be attached yet. The tap name and MAC address derive from
// the NetworkInterface's UID (package tapdevice), so the host's network agent finds the tap.
func (p *Poollet) networkInterface(ctx context.Context, m *computev1alpha1.Machine, entry computev1alpha1.MachineNetworkInterface) (*runtimev1alpha1.NetworkInterface, string, pending, error) {
	name := networkInterfaceName(m, entry)
	if name == "" {
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
	if err := p.placeNetworkInterface(ctx, nic); err != nil {
		return nil, "", pending{}, err
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
			AttributeNetworkUID:          string(network.UID),
			AttributeNetworkInterface:    nic.Name,
			AttributeNetworkInterfaceUID: uid,
			AttributeVNI:                 strconv.Itoa(int(network.Status.VNI)),
		},
	}, nic.Status.VirtualIP, pending{}, nil
}

// networkInterfaceName is the NetworkInterface an entry of spec.networkInterfaces names or makes
// (ephemeral), "" when it has no source.
func networkInterfaceName(m *computev1alpha1.Machine, entry computev1alpha1.MachineNetworkInterface) string {
	switch {
	case entry.NetworkInterfaceRef != nil:
		return entry.NetworkInterfaceRef.Name
	case entry.Ephemeral != nil:
		return templates.NetworkInterfaceName(m.Name, entry.Name)
	}
	return ""
}
