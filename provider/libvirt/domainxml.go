package libvirt

import (
	"fmt"
	"net"
	"slices"
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

// diskConfig is a disk: a file (Path, Format) or an RBD image (RBD).
type diskConfig struct {
	Path     string
	Format   string
	RBD      *rbdConfig
	Device   string
	ReadOnly bool
	// Boot is the disk's boot order; 0 for none (only a volume the machine boots from has one).
	Boot uint
}

// rbdConfig is an RBD image reached through librbd in QEMU, with the UUIDs of the libvirt
// secrets holding its cephx key and (encrypted images) its LUKS2 passphrase.
type rbdConfig struct {
	Pool, Image, User string
	// Monitors are "host:port" addresses.
	Monitors []string
	// KeySecret is the UUID of the libvirt secret (usage ceph) with the user's key.
	KeySecret string
	// PassphraseSecret is the UUID of the libvirt secret (usage volume) with the LUKS2
	// passphrase; empty for a plain image.
	PassphraseSecret string
	// Volume is the spec's volume name, kept in the disk's user alias (ua-NAME) so that a disk
	// still being detached can be reported under its name.
	Volume string
}

// source is what a disk holds: its file, or "rbd:POOL/IMAGE".
func (c diskConfig) source() string {
	if c.RBD != nil {
		return "rbd:" + c.RBD.Pool + "/" + c.RBD.Image
	}
	return c.Path
}

// definition is everything of a disk that its XML defines, for telling whether a persistent
// definition is up to date (credentials and monitors included).
func (c diskConfig) definition() string {
	s := fmt.Sprintf("%s dev=%s ro=%v boot=%d", c.source(), c.Device, c.ReadOnly, c.Boot)
	if r := c.RBD; r != nil {
		s += fmt.Sprintf(" user=%s mons=%s key=%s pass=%s", r.User, strings.Join(r.Monitors, ","), r.KeySecret, r.PassphraseSecret)
	}
	return s
}

// secrets are the UUIDs of the libvirt secrets the disk uses.
func (c diskConfig) secrets() []string {
	if c.RBD == nil {
		return nil
	}
	out := []string{c.RBD.KeySecret}
	if c.RBD.PassphraseSecret != "" {
		out = append(out, c.RBD.PassphraseSecret)
	}
	return out
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
	// libvirt takes either per-device boot orders or <os><boot>; a volume to boot from has one.
	if c.Kernel == "" && !slices.ContainsFunc(c.Disks, func(d diskConfig) bool { return d.Boot > 0 }) {
		d.OS.BootDevices = []libvirtxml.DomainBootDevice{{Dev: "hd"}}
	}
	d.CPU = guestCPU(c.VirtType)
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
	if r := c.RBD; r != nil {
		// No host page cache: the data lives in Ceph, and live migration needs cache=none.
		disk.Driver = &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw", Cache: "none", Discard: "unmap"}
		network := &libvirtxml.DomainDiskSourceNetwork{
			Protocol: "rbd",
			Name:     r.Pool + "/" + r.Image,
			Auth:     &libvirtxml.DomainDiskAuth{Username: r.User, Secret: &libvirtxml.DomainDiskSecret{Type: "ceph", UUID: r.KeySecret}},
		}
		for _, monitor := range r.Monitors {
			host, port, err := net.SplitHostPort(monitor)
			if err != nil {
				host, port = monitor, "" // validation refuses these; keep the XML well-formed anyway
			}
			network.Hosts = append(network.Hosts, libvirtxml.DomainDiskSourceHost{Name: host, Port: port})
		}
		disk.Source = &libvirtxml.DomainDiskSource{Network: network}
		if r.PassphraseSecret != "" {
			// librbd opens the LUKS2 format itself: the guest sees the plain data.
			disk.Source.Encryption = &libvirtxml.DomainDiskEncryption{
				Format: "luks2", Engine: "librbd",
				Secrets: []libvirtxml.DomainDiskSecret{{Type: "passphrase", UUID: r.PassphraseSecret}},
			}
		}
		if r.Volume != "" {
			disk.Alias = &libvirtxml.DomainAlias{Name: userAliasPrefix + r.Volume}
		}
	}
	if c.ReadOnly {
		disk.ReadOnly = &libvirtxml.DomainDiskReadOnly{}
	}
	if c.Boot > 0 {
		disk.Boot = &libvirtxml.DomainDeviceBoot{Order: c.Boot}
	}
	return disk
}

// userAliasPrefix starts every device alias a user (not libvirt) chooses.
const userAliasPrefix = "ua-"

// parseDisk reads back what diskDevice wrote (libvirt may move <auth> and <encryption> between
// the disk and its source, so both places are read).
func parseDisk(disk libvirtxml.DomainDisk) diskConfig {
	c := diskConfig{ReadOnly: disk.ReadOnly != nil}
	if disk.Target != nil {
		c.Device = disk.Target.Dev
	}
	if disk.Boot != nil {
		c.Boot = disk.Boot.Order
	}
	if disk.Driver != nil {
		c.Format = disk.Driver.Type
	}
	src := disk.Source
	if src == nil {
		return c
	}
	if src.File != nil {
		c.Path = src.File.File
	}
	if n := src.Network; n != nil && n.Protocol == "rbd" {
		r := &rbdConfig{}
		r.Pool, r.Image, _ = strings.Cut(n.Name, "/")
		for _, h := range n.Hosts {
			r.Monitors = append(r.Monitors, net.JoinHostPort(h.Name, h.Port))
		}
		auth := n.Auth
		if auth == nil {
			auth = disk.Auth
		}
		if auth != nil {
			r.User = auth.Username
			if auth.Secret != nil {
				r.KeySecret = auth.Secret.UUID
			}
		}
		enc := src.Encryption
		if enc == nil {
			enc = disk.Encryption
		}
		if enc != nil && len(enc.Secrets) > 0 {
			r.PassphraseSecret = enc.Secrets[0].UUID
		}
		if disk.Alias != nil {
			r.Volume, _ = strings.CutPrefix(disk.Alias.Name, userAliasPrefix)
		}
		c.RBD = r
	}
	return c
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
	// Source is a disk's file ("rbd:POOL/IMAGE" for an RBD image) or a NIC's tap device.
	Source string
	// Alias is libvirt's name of the device in a running domain (for detaching it).
	Alias string
	// Disk is the disk as the domain defines it (disks only).
	Disk diskConfig
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
		info := deviceInfo{Disk: parseDisk(disk)}
		info.Source = info.Disk.source()
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
