// Package validation checks machine runtime requests the way every provider must: each function
// returns nil or an INVALID_ARGUMENT status naming the first bad field. Providers (the fake,
// libvirt-provider, the broker) call it before they act, so they reject the same requests.
package validation

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/objectmeta"
)

const (
	// MaxIDLength is the longest machine ID.
	MaxIDLength = objectmeta.MaxIDLength
	// MinMemoryBytes is the least memory a machine or a disk may have.
	MinMemoryBytes = 1 << 20
	// MinDiskBytes is the smallest empty disk.
	MinDiskBytes = 1 << 20
	// RootDiskName is the name of the root disk in MachineStatus.root_disk. It is not a DNS
	// label, so no volume can have it ("root" is a common volume name).
	RootDiskName = "_root"
	// MaxTapNameLength is the longest Linux interface name.
	MaxTapNameLength = 15
)

var dnsLabelPattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

var invalid = objectmeta.Invalid

// ID checks a machine ID (objectmeta.ID): 1 to MaxIDLength characters of [A-Za-z0-9._-].
func ID(field, id string) error { return objectmeta.ID(field, id) }

// Machine checks the machine of a CreateMachineRequest: its ID and its spec.
func Machine(m *runtimev1alpha1.Machine) error {
	if m == nil {
		return invalid("machine", "required")
	}
	if err := ID("machine.metadata.id", m.GetMetadata().GetId()); err != nil {
		return err
	}
	return Spec("machine.spec", m.GetSpec())
}

// Spec checks a machine spec.
func Spec(field string, spec *runtimev1alpha1.MachineSpec) error {
	if spec == nil {
		return invalid(field, "required")
	}
	if _, ok := runtimev1alpha1.Power_name[int32(spec.GetPower())]; !ok {
		return invalid(field+".power", "unknown value %d", spec.GetPower())
	}
	if err := Resources(field+".resources", spec.GetResources()); err != nil {
		return err
	}
	if err := rootDisk(field+".root_disk", spec); err != nil {
		return err
	}
	if ud := spec.GetUserData(); ud != nil {
		if _, ok := runtimev1alpha1.UserDataFormat_name[int32(ud.GetFormat())]; !ok {
			return invalid(field+".user_data.format", "unknown value %d", ud.GetFormat())
		}
	}
	names := map[string]bool{}
	devices := map[string]bool{}
	for i, v := range spec.GetVolumes() {
		f := fmt.Sprintf("%s.volumes[%d]", field, i)
		if err := Volume(f, v); err != nil {
			return err
		}
		if names[v.GetName()] {
			return invalid(f+".name", "%q is used twice", v.GetName())
		}
		names[v.GetName()] = true
		if d := v.GetDevice(); d != "" {
			if devices[d] {
				return invalid(f+".device", "%q is used twice", d)
			}
			devices[d] = true
		}
	}
	nics := map[string]bool{}
	for i, n := range spec.GetNetworkInterfaces() {
		f := fmt.Sprintf("%s.network_interfaces[%d]", field, i)
		if err := NetworkInterface(f, n); err != nil {
			return err
		}
		if nics[n.GetName()] {
			return invalid(f+".name", "%q is used twice", n.GetName())
		}
		nics[n.GetName()] = true
	}
	return nil
}

// rootDisk checks the root disk: an image to copy, or a volume to boot from (a network disk of
// spec.volumes; the image, when given, then only lends its kernel, initramfs and command line).
func rootDisk(field string, spec *runtimev1alpha1.MachineSpec) error {
	rd := spec.GetRootDisk()
	switch {
	case rd == nil:
		return nil
	case rd.GetVolume() == "" && rd.GetImage() == "":
		return invalid(field+".image", "required (or volume, to boot from a volume)")
	case rd.GetVolume() == "":
		return nil
	case rd.GetSizeBytes() != 0:
		return invalid(field+".size_bytes", "must be 0 when booting from volume %q (the volume has its own size)", rd.GetVolume())
	}
	for _, v := range spec.GetVolumes() {
		if v.GetName() != rd.GetVolume() {
			continue
		}
		if v.GetNetworkDisk() == nil {
			return invalid(field+".volume", "volume %q is not a network disk", rd.GetVolume())
		}
		if v.GetReadOnly() {
			return invalid(field+".volume", "volume %q is read-only", rd.GetVolume())
		}
		return nil
	}
	return invalid(field+".volume", "no volume named %q in volumes", rd.GetVolume())
}

// Resources checks a machine's resources (also a class's, in a StatusRequest).
func Resources(field string, r *runtimev1alpha1.MachineResources) error {
	switch {
	case r == nil:
		return invalid(field, "required")
	case r.GetVcpus() < 1:
		return invalid(field+".vcpus", "at least 1")
	case r.GetMemoryBytes() < MinMemoryBytes:
		return invalid(field+".memory_bytes", "at least %d", MinMemoryBytes)
	case r.GetHugepageSizeBytes() != 0 && r.GetMemoryBytes()%r.GetHugepageSizeBytes() != 0:
		return invalid(field+".memory_bytes", "%d is not a multiple of the huge page size %d", r.GetMemoryBytes(), r.GetHugepageSizeBytes())
	}
	return nil
}

// Volume checks a volume to create or attach.
func Volume(field string, v *runtimev1alpha1.Volume) error {
	if v == nil {
		return invalid(field, "required")
	}
	if !dnsLabelPattern.MatchString(v.GetName()) {
		return invalid(field+".name", "%q is not a DNS label", v.GetName())
	}
	switch src := v.GetSource().(type) {
	case *runtimev1alpha1.Volume_EmptyDisk:
		if src.EmptyDisk.GetSizeBytes() < MinDiskBytes {
			return invalid(field+".empty_disk.size_bytes", "at least %d", MinDiskBytes)
		}
	case *runtimev1alpha1.Volume_NetworkDisk:
		return networkDisk(field+".network_disk", src.NetworkDisk)
	default:
		return invalid(field, "exactly one of empty_disk and network_disk is required")
	}
	return nil
}

func networkDisk(field string, d *runtimev1alpha1.NetworkDisk) error {
	rbd := d.GetRbd()
	if rbd == nil {
		return invalid(field, "exactly one access (rbd) is required")
	}
	field += ".rbd"
	if len(rbd.GetMonitors()) == 0 {
		return invalid(field+".monitors", "at least one required")
	}
	for i, m := range rbd.GetMonitors() {
		if _, _, err := net.SplitHostPort(m); err != nil {
			return invalid(fmt.Sprintf("%s.monitors[%d]", field, i), "%q is not host:port", m)
		}
	}
	switch {
	case rbd.GetPool() == "":
		return invalid(field+".pool", "required")
	case rbd.GetImage() == "":
		return invalid(field+".image", "required")
	case rbd.GetUser() == "":
		return invalid(field+".user", "required")
	case rbd.GetKey().GetId() == "":
		return invalid(field+".key.id", "required")
	case len(rbd.GetKey().GetData()) == 0:
		return invalid(field+".key.data", "required")
	}
	if enc := rbd.GetEncryption(); enc != nil {
		field += ".encryption"
		switch {
		case enc.GetFormat() == runtimev1alpha1.RBDEncryptionFormat_RBD_ENCRYPTION_FORMAT_NONE:
			return invalid(field+".format", "required (leave encryption unset for a plain volume)")
		case enc.GetFormat() != runtimev1alpha1.RBDEncryptionFormat_RBD_ENCRYPTION_FORMAT_LUKS2:
			return invalid(field+".format", "unknown value %d", enc.GetFormat())
		case enc.GetPassphrase().GetId() == "":
			return invalid(field+".passphrase.id", "required")
		case len(enc.GetPassphrase().GetData()) == 0:
			return invalid(field+".passphrase.data", "required")
		}
	}
	return nil
}

// NetworkInterface checks a network interface to create or attach.
func NetworkInterface(field string, n *runtimev1alpha1.NetworkInterface) error {
	if n == nil {
		return invalid(field, "required")
	}
	if !dnsLabelPattern.MatchString(n.GetName()) {
		return invalid(field+".name", "%q is not a DNS label", n.GetName())
	}
	if mac := n.GetMacAddress(); mac != "" {
		hw, err := net.ParseMAC(mac)
		if err != nil || len(hw) != 6 {
			return invalid(field+".mac_address", "%q is not a 48-bit MAC address", mac)
		}
		if hw[0]&1 == 1 {
			return invalid(field+".mac_address", "%q is a multicast address", mac)
		}
	}
	if len(n.GetTapName()) > MaxTapNameLength {
		return invalid(field+".tap_name", "longer than %d characters", MaxTapNameLength)
	}
	for i, ip := range n.GetIps() {
		if _, err := netip.ParseAddr(ip); err == nil {
			continue
		}
		if _, err := netip.ParsePrefix(ip); err != nil {
			return invalid(fmt.Sprintf("%s.ips[%d]", field, i), "%q is not an IP address or prefix", ip)
		}
	}
	return nil
}
