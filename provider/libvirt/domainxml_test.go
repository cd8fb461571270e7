package libvirt

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

func TestNames(t *testing.T) {
	const uid = "3f1c9b5e-0d5c-4a63-9d6e-2b7c1d0a9e11"
	if DomainUUID(uid) != uid {
		t.Fatalf("a UUID ID gets UUID %s", DomainUUID(uid))
	}
	if a, b := DomainUUID("m-1"), DomainUUID("m-1"); a != b || a == DomainUUID("m-2") || len(a) != 36 {
		t.Fatalf("derived UUIDs %s %s", a, b)
	}
	if machineIDOf(DomainName("m-1")) != "m-1" || machineIDOf("other") != "" {
		t.Fatal("machineIDOf")
	}
	long := strings.Repeat("x", 128)
	tap, mac := DefaultTap(long, "eth0"), DefaultMAC(long, "eth0")
	if len(tap) > 15 || !strings.HasPrefix(tap, "fr") || tap == DefaultTap(long, "eth1") {
		t.Fatalf("tap %q", tap)
	}
	if !strings.HasPrefix(mac, "02:") || len(mac) != 17 || mac == DefaultMAC(long, "eth1") {
		t.Fatalf("MAC %q", mac)
	}
	for i, want := range map[int]string{0: "a", 1: "b", 25: "z", 26: "aa", 27: "ab", 701: "zz", 702: "aaa"} {
		if got := diskLetters(i); got != want {
			t.Errorf("diskLetters(%d) = %s, want %s", i, got, want)
		}
	}
}

func TestDomainXML(t *testing.T) {
	rec, err := newRecord("m-1", map[string]string{"a": "b"}, &runtimev1alpha1.MachineSpec{Resources: &runtimev1alpha1.MachineResources{Vcpus: 2, MemoryBytes: 2 << 30}}, testNow())
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := rec.marshal()
	x, err := domainXML(domainConfig{
		ID: "m-1", VirtType: "kvm", VCPUs: 2, MemoryBytes: 2 << 30, HugepageSizeBytes: 2 << 20,
		Kernel: "/img/vmlinuz", Initramfs: "/img/initrd", Cmdline: "console=ttyS0",
		Disks:        []diskConfig{{Path: "/s/root.qcow2", Format: "qcow2", Device: "vda"}, {Path: "/s/volume-d.qcow2", Format: "qcow2", Device: "vdb", ReadOnly: true}},
		NICs:         []nicConfig{{MAC: "02:00:00:00:00:01", Tap: "frabc"}},
		IgnitionFile: "/s/ignition.json", CloudInitISO: "/s/cidata.iso", ConsoleLog: "/s/console.log", Metadata: meta,
	})
	if err != nil {
		t.Fatal(err)
	}
	d := &libvirtxml.Domain{}
	if err := d.Unmarshal(x); err != nil {
		t.Fatal(err)
	}
	switch {
	case d.Type != "kvm" || d.Name != "ferrite-m-1" || d.UUID != DomainUUID("m-1"):
		t.Fatalf("identity: %s %s %s", d.Type, d.Name, d.UUID)
	case d.Memory.Value != 2<<20 || d.VCPU.Value != 2 || d.CPU == nil || d.CPU.Mode != "host-model":
		t.Fatalf("resources: %+v %+v %+v", d.Memory, d.VCPU, d.CPU)
	case d.MemoryBacking == nil || d.MemoryBacking.MemoryHugePages.Hugepages[0].Size != 2048:
		t.Fatalf("huge pages: %+v", d.MemoryBacking)
	case d.OS.Kernel != "/img/vmlinuz" || d.OS.Initrd != "/img/initrd" || d.OS.Cmdline != "console=ttyS0":
		t.Fatalf("direct boot: %+v", d.OS)
	case d.Features == nil || d.Features.ACPI == nil:
		t.Fatal("no ACPI: the power button would not work")
	case len(d.SysInfo) != 1 || d.SysInfo[0].FWCfg.Entry[0].Name != IgnitionFWCfgName || d.SysInfo[0].FWCfg.Entry[0].File != "/s/ignition.json":
		t.Fatalf("fw_cfg: %+v", d.SysInfo)
	case len(d.Devices.Disks) != 3 || d.Devices.Disks[1].ReadOnly == nil || d.Devices.Disks[2].Target.Dev != cloudInitDevice || d.Devices.Disks[2].ReadOnly == nil:
		t.Fatalf("disks: %+v", d.Devices.Disks)
	case len(d.Devices.Interfaces) != 1 || d.Devices.Interfaces[0].Source.Ethernet == nil || d.Devices.Interfaces[0].Target.Dev != "frabc" ||
		d.Devices.Interfaces[0].Target.Managed != "yes" || d.Devices.Interfaces[0].Model.Type != "virtio":
		t.Fatalf("NICs: %+v", d.Devices.Interfaces)
	case len(d.Devices.Serials) != 1 || d.Devices.Serials[0].Log.File != "/s/console.log" || d.Devices.Serials[0].Log.Append != "on" || len(d.Devices.Consoles) != 1:
		t.Fatalf("console: %+v", d.Devices.Serials)
	case !strings.Contains(d.Metadata.XML, MetadataNamespace):
		t.Fatalf("metadata: %s", d.Metadata.XML)
	}
	devs, err := parseDevices(x)
	if err != nil || devs.disks["vdb"].Source != "/s/volume-d.qcow2" || devs.nics["02:00:00:00:00:01"].Source != "frabc" {
		t.Fatalf("parsed devices %+v %v", devs, err)
	}
	// TCG: no host CPU model, boot from disk without a kernel.
	x, _ = domainXML(domainConfig{ID: "m-2", VirtType: "qemu", VCPUs: 1, MemoryBytes: 1 << 30, ConsoleLog: "/c", Metadata: meta})
	if strings.Contains(x, "host-model") || !strings.Contains(x, "<boot dev=\"hd\">") {
		t.Fatalf("TCG domain:\n%s", x)
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	spec := &runtimev1alpha1.MachineSpec{
		Power:     runtimev1alpha1.Power_POWER_OFF,
		Class:     "c",
		Resources: &runtimev1alpha1.MachineResources{Vcpus: 1, MemoryBytes: 64 << 20},
		UserData:  &runtimev1alpha1.UserData{Data: []byte("secret config"), Format: runtimev1alpha1.UserDataFormat_USER_DATA_FORMAT_CLOUD_INIT},
		Volumes:   []*runtimev1alpha1.Volume{{Name: "d", Source: &runtimev1alpha1.Volume_EmptyDisk{EmptyDisk: &runtimev1alpha1.EmptyDisk{SizeBytes: 1 << 20}}}},
	}
	rec, err := newRecord("meta-rt", map[string]string{"k1": "v1", "k0": "<&>"}, spec, testNow())
	if err != nil {
		t.Fatal(err)
	}
	rec.setDevice("d", "vdb")
	rec.BootCount, rec.LastRebootID, rec.Running = 3, "r7", true
	xml, err := (&Provider{opts: Options{VirtType: "test"}}).placeholderXML(rec)
	if err != nil {
		t.Fatal(err)
	}
	dom, err := pin.DomainDefineXML(xml)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { dom.Undefine(); dom.Free() }()
	got, err := readRecord(dom)
	if err != nil {
		t.Fatal(err)
	}
	back, err := got.spec()
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "meta-rt" || got.labels()["k0"] != "<&>" || got.device("d") != "vdb" || got.BootCount != 3 || got.LastRebootID != "r7" ||
		!got.Running || got.CreateTime != rec.CreateTime || back.GetPower() != runtimev1alpha1.Power_POWER_OFF || len(back.GetVolumes()) != 1 {
		t.Fatalf("read back %+v", got)
	}
	if back.GetUserData().GetData() != nil || back.GetUserData().GetFormat() != runtimev1alpha1.UserDataFormat_USER_DATA_FORMAT_CLOUD_INIT {
		t.Fatalf("user data in the metadata: %v", back.GetUserData())
	}
	// SetMetadata replaces the element; a domain without it is not the provider's.
	got.Generation = 9
	data, _ := got.marshal()
	if err := dom.SetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, data, metadataPrefix, MetadataNamespace, libvirt.DOMAIN_AFFECT_CONFIG); err != nil {
		t.Fatal(err)
	}
	if again, _ := readRecord(dom); again.Generation != 9 {
		t.Fatalf("generation after SetMetadata %d", again.Generation)
	}
	plain, err := pin.LookupDomainByName("test") // the test driver's own domain
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Free()
	if r, err := readRecord(plain); r != nil || err != nil {
		t.Fatalf("a domain without Ferrite metadata: %v %v", r, err)
	}
	if _, err := parseRecord("<machine><spec>{}</spec></machine>"); err == nil {
		t.Fatal("a record without an ID parsed")
	}
}

func TestConsoleLogRotation(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, consoleLogFile)
	write := func(path, data string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tail := func(n uint64) (string, uint64, uint64) {
		t.Helper()
		data, offset, total, err := readConsoleTail(log, n)
		if err != nil {
			t.Fatal(err)
		}
		return string(data), offset, total
	}
	if data, offset, total := tail(10); data != "" || offset != 0 || total != 0 {
		t.Fatalf("no log: %q %d %d", data, offset, total)
	}
	write(log, "0123456789")
	if data, offset, total := tail(4); data != "6789" || offset != 6 || total != 10 {
		t.Fatalf("one file: %q %d %d", data, offset, total)
	}
	// virtlogd rotates: console.log -> .0, a new console.log.
	if err := os.Rename(log, log+".0"); err != nil {
		t.Fatal(err)
	}
	write(log, "abc")
	if data, offset, total := tail(6); data != "789abc" || offset != 7 || total != 13 {
		t.Fatalf("across the rotation: %q %d %d", data, offset, total)
	}
	// Another rotation drops nothing (.0 -> .1), a third drops the oldest.
	os.Rename(log+".0", log+".1")
	os.Rename(log, log+".0")
	write(log, "XY")
	if _, _, total := tail(1); total != 15 {
		t.Fatalf("total after a second rotation %d", total)
	}
	os.Remove(log + ".1")
	if data, offset, total := tail(100); data != "abcXY" || offset != 10 || total != 15 {
		t.Fatalf("after virtlogd dropped a file: %q %d %d (offsets must keep growing)", data, offset, total)
	}
}

// An RBD volume becomes a network disk with the key and passphrase secrets named by UUID, reads
// back as the same disk, and a volume the machine boots from takes boot order 1 instead of
// <os><boot>.
func TestRBDDiskXML(t *testing.T) {
	v := &runtimev1alpha1.Volume{Name: "data", Source: &runtimev1alpha1.Volume_NetworkDisk{NetworkDisk: &runtimev1alpha1.NetworkDisk{
		Access: &runtimev1alpha1.NetworkDisk_Rbd{Rbd: &runtimev1alpha1.RBDAccess{
			Monitors: []string{"10.0.0.1:6789", "[fd00::1]:6789"}, Pool: "rbd", Image: "ferrite-volume-1", User: "ferrite-volume-1",
			Key:        &runtimev1alpha1.SecretKey{Id: "uid/1"},
			Encryption: &runtimev1alpha1.RBDEncryption{Format: runtimev1alpha1.RBDEncryptionFormat_RBD_ENCRYPTION_FORMAT_LUKS2, Passphrase: &runtimev1alpha1.SecretKey{Id: "uid/p"}},
		}},
	}}}
	spec := &runtimev1alpha1.MachineSpec{RootDisk: &runtimev1alpha1.RootDisk{Volume: "data"}, Volumes: []*runtimev1alpha1.Volume{v}}
	rec := &record{Devices: []device{{Name: "data", Device: "vda"}}}
	p := &Provider{opts: Options{StateDir: "/s"}}
	disk := p.volumeDisk("m-1", spec, rec, v)
	x, err := diskDeviceXML(disk)
	if err != nil {
		t.Fatal(err)
	}
	compact := regexp.MustCompile(`>\s+<`).ReplaceAllString(x, "><")
	for _, want := range []string{
		`<disk type="network" device="disk">`, `<driver name="qemu" type="raw" cache="none" discard="unmap">`,
		`<source protocol="rbd" name="rbd/ferrite-volume-1">`, `<host name="10.0.0.1" port="6789">`, `<host name="fd00::1" port="6789">`,
		`<auth username="ferrite-volume-1"><secret type="ceph" uuid="` + secretUUID(secretUsage("m-1", "data", kindKey, "uid/1")) + `">`,
		`<encryption format="luks2" engine="librbd"><secret type="passphrase" uuid="` + secretUUID(secretUsage("m-1", "data", kindPassphrase, "uid/p")) + `">`,
		`<target dev="vda" bus="virtio">`, `<boot order="1">`, `<alias name="ua-data">`,
	} {
		if !strings.Contains(compact, want) {
			t.Errorf("disk XML lacks %s:\n%s", want, x)
		}
	}
	parsed := libvirtxml.DomainDisk{}
	if err := parsed.Unmarshal(x); err != nil {
		t.Fatal(err)
	}
	if back := parseDisk(parsed); back.definition() != disk.definition() || back.source() != "rbd:rbd/ferrite-volume-1" || back.RBD.Volume != "data" {
		t.Fatalf("read back %s, wrote %s", back.definition(), disk.definition())
	}
	// A rotated key is another secret; so is another machine's.
	if secretUUID(secretUsage("m-1", "data", kindKey, "uid/2")) == disk.RBD.KeySecret || secretUUID(secretUsage("m-2", "data", kindKey, "uid/1")) == disk.RBD.KeySecret {
		t.Fatal("secret UUIDs collide")
	}
	dom, err := domainXML(domainConfig{ID: "m-1", VirtType: "qemu", VCPUs: 1, MemoryBytes: 1 << 30, Disks: []diskConfig{disk}, ConsoleLog: "/s/console.log", Metadata: "<machine></machine>"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dom, `<boot dev=`) {
		t.Fatalf("boot from a volume with <os><boot>:\n%s", dom)
	}
}
