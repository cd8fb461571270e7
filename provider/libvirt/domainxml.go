package libvirt

import (
	"fmt"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// Domain XML: what a machine's domain looks like. Everything here is pure, so the tests check
// it without libvirt.

// IgnitionFWCfgName is the fw_cfg entry Ignition reads its config from.
const IgnitionFWCfgName = "opt/com.coreos/config"

// domainConfig is what a machine's domain is built from.
type domainConfig struct {
	// ID is the machine's ID; the domain's name and UUID derive from it.
	ID string
	// VirtType is the domain type: "kvm" or "qemu" (TCG).
	VirtType string
	// VCPUs, MemoryBytes and HugepageSizeBytes are the machine's resources.
	VCPUs             uint32
	MemoryBytes       uint64
	HugepageSizeBytes uint64
	// Kernel, Initramfs and Cmdline boot the guest directly when Kernel is set.
	Kernel, Initramfs, Cmdline string
	// Disks are the root disk (device vda) and the volumes.
	Disks []diskConfig
	// NICs are the network interfaces, in spec order.
	NICs []nicConfig
	// IgnitionFile is passed through fw_cfg when set.
	IgnitionFile string
	// CloudInitISO is attached as a read-only disk when set.
	CloudInitISO string
	// ConsoleLog is where virtlogd writes the serial console.
	ConsoleLog string
	// Metadata is the provider's metadata element (record.marshal).
	Metadata string
}

// diskConfig is a file-backed disk.
type diskConfig struct {
	Path     string
	Format   string
	Device   string
	ReadOnly bool
}

// nicConfig is a NIC on a tap device that libvirt creates.
type nicConfig struct {
	MAC string
	Tap string
}

// cloudInitDevice is libvirt's target name of the NoCloud drive, a read-only virtio disk (the
// guest finds it by its label, not its name). Volumes never get it: it is the last vdX name.
const cloudInitDevice = "vdzz"

// domainXML builds the domain definition.
func domainXML(c domainConfig) (string, error) {
	memKiB := uint(c.MemoryBytes >> 10)
	d := &libvirtxml.Domain{
		Type:          c.VirtType,
		Name:          DomainName(c.ID),
		UUID:          DomainUUID(c.ID),
		Metadata:      &libvirtxml.DomainMetadata{XML: namespaced(c.Metadata)},
		Memory:        &libvirtxml.DomainMemory{Value: memKiB, Unit: "KiB"},
		CurrentMemory: &libvirtxml.DomainCurrentMemory{Value: memKiB, Unit: "KiB"},
		VCPU:          &libvirtxml.DomainVCPU{Placement: "static", Value: uint(c.VCPUs)},
		OS: &libvirtxml.DomainOS{
			Type:    &libvirtxml.DomainOSType{Arch: "x86_64", Type: "hvm"},
			Kernel:  c.Kernel,
			Initrd:  c.Initramfs,
			Cmdline: c.Cmdline,
		},
		// ACPI is what a graceful shutdown (the power button) and PCI hot-plug go through.
		Features:   &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}, APIC: &libvirtxml.DomainFeatureAPIC{}},
		Clock:      &libvirtxml.DomainClock{Offset: "utc"},
		OnPoweroff: "destroy",
		OnReboot:   "restart",
		OnCrash:    "destroy",
		Devices:    &libvirtxml.DomainDeviceList{},
	}
	if c.Kernel == "" {
		d.OS.BootDevices = []libvirtxml.DomainBootDevice{{Dev: "hd"}}
	}
	if c.VirtType == "kvm" {
		d.CPU = &libvirtxml.DomainCPU{Mode: "host-model"}
	}
	if c.HugepageSizeBytes != 0 {
		d.MemoryBacking = &libvirtxml.DomainMemoryBacking{MemoryHugePages: &libvirtxml.DomainMemoryHugepages{
			Hugepages: []libvirtxml.DomainMemoryHugepage{{Size: uint(c.HugepageSizeBytes >> 10), Unit: "KiB"}},
		}}
	}
	if c.IgnitionFile != "" {
		d.SysInfo = []libvirtxml.DomainSysInfo{{FWCfg: &libvirtxml.DomainSysInfoFWCfg{
			Entry: []libvirtxml.DomainSysInfoEntry{{Name: IgnitionFWCfgName, File: c.IgnitionFile}},
		}}}
	}
	for _, disk := range c.Disks {
		d.Devices.Disks = append(d.Devices.Disks, diskDevice(disk))
	}
	if c.CloudInitISO != "" {
		d.Devices.Disks = append(d.Devices.Disks, diskDevice(diskConfig{Path: c.CloudInitISO, Format: "raw", Device: cloudInitDevice, ReadOnly: true}))
	}
	for _, nic := range c.NICs {
		d.Devices.Interfaces = append(d.Devices.Interfaces, nicDevice(nic))
	}
	port := uint(0)
	d.Devices.Serials = []libvirtxml.DomainSerial{{
		Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
		Target: &libvirtxml.DomainSerialTarget{Port: &port},
		Log:    &libvirtxml.DomainChardevLog{File: c.ConsoleLog, Append: "on"},
	}}
	d.Devices.Consoles = []libvirtxml.DomainConsole{{
		Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
		Target: &libvirtxml.DomainConsoleTarget{Type: "serial", Port: &port},
	}}
	d.Devices.RNGs = []libvirtxml.DomainRNG{{
		Model:   "virtio",
		Backend: &libvirtxml.DomainRNGBackend{Random: &libvirtxml.DomainRNGBackendRandom{Device: "/dev/urandom"}},
	}}
	d.Devices.MemBalloon = &libvirtxml.DomainMemBalloon{Model: "none"}
	out, err := d.Marshal()
	if err != nil {
		return "", fmt.Errorf("building the domain XML of machine %s: %w", c.ID, err)
	}
	return out, nil
}

// namespaced puts the metadata element into the provider's namespace, as libvirt requires of
// every element in <metadata>.
func namespaced(element string) string {
	return strings.Replace(element, "<machine>", `<machine xmlns="`+MetadataNamespace+`">`, 1)
}

func diskDevice(c diskConfig) libvirtxml.DomainDisk {
	disk := libvirtxml.DomainDisk{
		Device: "disk",
		Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: c.Format, Discard: "unmap"},
		Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: c.Path}},
		Target: &libvirtxml.DomainDiskTarget{Dev: c.Device, Bus: "virtio"},
	}
	if c.ReadOnly {
		disk.ReadOnly = &libvirtxml.DomainDiskReadOnly{}
	}
	return disk
}

func nicDevice(c nicConfig) libvirtxml.DomainInterface {
	return libvirtxml.DomainInterface{
		Source: &libvirtxml.DomainInterfaceSource{Ethernet: &libvirtxml.DomainInterfaceSourceEthernet{}},
		Target: &libvirtxml.DomainInterfaceTarget{Dev: c.Tap, Managed: "yes"},
		MAC:    &libvirtxml.DomainInterfaceMAC{Address: c.MAC},
		Model:  &libvirtxml.DomainInterfaceModel{Type: "virtio"},
	}
}

// diskDeviceXML is the XML of one disk, for hot-plug.
func diskDeviceXML(c diskConfig) (string, error) {
	disk := diskDevice(c)
	return disk.Marshal()
}

// nicDeviceXML is the XML of one NIC, for hot-plug.
func nicDeviceXML(c nicConfig) (string, error) {
	nic := nicDevice(c)
	return nic.Marshal()
}

// domainDevices is what a domain definition (live or persistent) holds: disks by target device,
// NICs by MAC address.
type domainDevices struct {
	disks map[string]deviceInfo
	nics  map[string]deviceInfo
}

// deviceInfo describes one disk or NIC of a domain.
type deviceInfo struct {
	// Source is a disk's file or a NIC's tap device.
	Source string
	// Alias is libvirt's name of the device in a running domain (for detaching it).
	Alias string
}

// parseDevices reads the disks and NICs of a domain XML.
func parseDevices(domXML string) (domainDevices, error) {
	d := &libvirtxml.Domain{}
	if err := d.Unmarshal(domXML); err != nil {
		return domainDevices{}, fmt.Errorf("parsing domain XML: %w", err)
	}
	out := domainDevices{disks: map[string]deviceInfo{}, nics: map[string]deviceInfo{}}
	if d.Devices == nil {
		return out, nil
	}
	for _, disk := range d.Devices.Disks {
		if disk.Target == nil {
			continue
		}
		var info deviceInfo
		if disk.Source != nil && disk.Source.File != nil {
			info.Source = disk.Source.File.File
		}
		if disk.Alias != nil {
			info.Alias = disk.Alias.Name
		}
		out.disks[disk.Target.Dev] = info
	}
	for _, nic := range d.Devices.Interfaces {
		if nic.MAC == nil {
			continue
		}
		var info deviceInfo
		if nic.Target != nil {
			info.Source = nic.Target.Dev
		}
		if nic.Alias != nil {
			info.Alias = nic.Alias.Name
		}
		out.nics[strings.ToLower(nic.MAC.Address)] = info
	}
	return out, nil
}
