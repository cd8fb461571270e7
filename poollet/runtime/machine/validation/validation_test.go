package validation

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

func validMachine() *runtimev1alpha1.Machine {
	return &runtimev1alpha1.Machine{
		Metadata: &runtimev1alpha1.ObjectMetadata{Id: "6f1c9a2e-5d0b-4c1f-9a55-3b8e2f7d1c00"},
		Spec: &runtimev1alpha1.MachineSpec{
			Resources: &runtimev1alpha1.MachineResources{Vcpus: 1, MemoryBytes: 1 << 30},
			RootDisk:  &runtimev1alpha1.RootDisk{Image: "file:///var/lib/images/debian.raw"},
			Volumes: []*runtimev1alpha1.Volume{{
				Name:   "data",
				Source: &runtimev1alpha1.Volume_EmptyDisk{EmptyDisk: &runtimev1alpha1.EmptyDisk{SizeBytes: 1 << 30}},
			}},
			NetworkInterfaces: []*runtimev1alpha1.NetworkInterface{{
				Name: "eth0", MacAddress: "02:00:00:00:00:01", TapName: "tap0", Ips: []string{"10.0.0.2", "fd00::2/64"},
			}},
		},
	}
}

func TestMachine(t *testing.T) {
	if err := Machine(validMachine()); err != nil {
		t.Fatalf("valid machine: %v", err)
	}
	for name, tc := range map[string]struct {
		change func(*runtimev1alpha1.Machine)
		field  string
	}{
		"no id":            {func(m *runtimev1alpha1.Machine) { m.Metadata.Id = "" }, "machine.metadata.id"},
		"long id":          {func(m *runtimev1alpha1.Machine) { m.Metadata.Id = strings.Repeat("a", 129) }, "machine.metadata.id"},
		"slash in id":      {func(m *runtimev1alpha1.Machine) { m.Metadata.Id = "a/b" }, "machine.metadata.id"},
		"no spec":          {func(m *runtimev1alpha1.Machine) { m.Spec = nil }, "machine.spec"},
		"unknown power":    {func(m *runtimev1alpha1.Machine) { m.Spec.Power = 7 }, "machine.spec.power"},
		"no vcpus":         {func(m *runtimev1alpha1.Machine) { m.Spec.Resources.Vcpus = 0 }, "machine.spec.resources.vcpus"},
		"unaligned pages":  {func(m *runtimev1alpha1.Machine) { m.Spec.Resources.HugepageSizeBytes = 3 << 29 }, "machine.spec.resources.memory_bytes"},
		"no image":         {func(m *runtimev1alpha1.Machine) { m.Spec.RootDisk.Image = "" }, "machine.spec.root_disk.image"},
		"unknown format":   {func(m *runtimev1alpha1.Machine) { m.Spec.UserData = &runtimev1alpha1.UserData{Format: 9} }, "machine.spec.user_data.format"},
		"no source":        {func(m *runtimev1alpha1.Machine) { m.Spec.Volumes[0].Source = nil }, "machine.spec.volumes[0]"},
		"volume _root":     {func(m *runtimev1alpha1.Machine) { m.Spec.Volumes[0].Name = "_root" }, "machine.spec.volumes[0].name"},
		"twice":            {func(m *runtimev1alpha1.Machine) { m.Spec.Volumes = append(m.Spec.Volumes, m.Spec.Volumes[0]) }, "machine.spec.volumes[1].name"},
		"bad mac":          {func(m *runtimev1alpha1.Machine) { m.Spec.NetworkInterfaces[0].MacAddress = "01:00:5e:00:00:01" }, "machine.spec.network_interfaces[0].mac_address"},
		"long tap":         {func(m *runtimev1alpha1.Machine) { m.Spec.NetworkInterfaces[0].TapName = "tap-0123456789ab" }, "machine.spec.network_interfaces[0].tap_name"},
		"bad ip":           {func(m *runtimev1alpha1.Machine) { m.Spec.NetworkInterfaces[0].Ips = []string{"10.0.0.300"} }, "machine.spec.network_interfaces[0].ips[0]"},
		"upper-case name":  {func(m *runtimev1alpha1.Machine) { m.Spec.NetworkInterfaces[0].Name = "Eth0" }, "machine.spec.network_interfaces[0].name"},
		"rbd without key":  {func(m *runtimev1alpha1.Machine) { m.Spec.Volumes[0].Source = rbd(nil) }, "machine.spec.volumes[0].network_disk.rbd.key.id"},
		"rbd without data": {func(m *runtimev1alpha1.Machine) { m.Spec.Volumes[0].Source = rbd(&runtimev1alpha1.SecretKey{Id: "k"}) }, "machine.spec.volumes[0].network_disk.rbd.key.data"},
		"no encryption format": {func(m *runtimev1alpha1.Machine) {
			m.Spec.Volumes[0].Source = encrypted(0, &runtimev1alpha1.SecretKey{Id: "p", Data: []byte("x")})
		}, "machine.spec.volumes[0].network_disk.rbd.encryption.format"},
		"no passphrase": {func(m *runtimev1alpha1.Machine) {
			m.Spec.Volumes[0].Source = encrypted(runtimev1alpha1.RBDEncryptionFormat_RBD_ENCRYPTION_FORMAT_LUKS2, nil)
		}, "machine.spec.volumes[0].network_disk.rbd.encryption.passphrase.id"},
		"no passphrase data": {func(m *runtimev1alpha1.Machine) {
			m.Spec.Volumes[0].Source = encrypted(runtimev1alpha1.RBDEncryptionFormat_RBD_ENCRYPTION_FORMAT_LUKS2, &runtimev1alpha1.SecretKey{Id: "p"})
		}, "machine.spec.volumes[0].network_disk.rbd.encryption.passphrase.data"},
		"boot volume missing": {func(m *runtimev1alpha1.Machine) { m.Spec.RootDisk.Volume = "nope" }, "machine.spec.root_disk.volume"},
		"boot volume local":   {func(m *runtimev1alpha1.Machine) { m.Spec.RootDisk.Volume = "data" }, "machine.spec.root_disk.volume"},
		"boot volume sized": {func(m *runtimev1alpha1.Machine) {
			m.Spec.Volumes[0].Source = rbd(&runtimev1alpha1.SecretKey{Id: "k", Data: []byte("AQB...")})
			m.Spec.RootDisk.Volume, m.Spec.RootDisk.SizeBytes = "data", 1<<30
		}, "machine.spec.root_disk.size_bytes"},
		"no image, no volume": {func(m *runtimev1alpha1.Machine) { m.Spec.RootDisk = &runtimev1alpha1.RootDisk{} }, "machine.spec.root_disk.image"},
	} {
		t.Run(name, func(t *testing.T) {
			m := validMachine()
			tc.change(m)
			err := Machine(m)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("got %v, want InvalidArgument naming %s", err, tc.field)
			}
		})
	}
	m := validMachine()
	m.Spec.Volumes[0].Source = rbd(&runtimev1alpha1.SecretKey{Id: "k", Data: []byte("AQB...")})
	if err := Machine(m); err != nil {
		t.Fatalf("machine with an RBD volume: %v", err)
	}
	// Booting from it, with or without an image for the kernel; encrypted.
	m.Spec.RootDisk = &runtimev1alpha1.RootDisk{Volume: "data"}
	if err := Machine(m); err != nil {
		t.Fatalf("machine booting from an RBD volume: %v", err)
	}
	m.Spec.RootDisk.Image = "file:///var/lib/images/debian.raw"
	m.Spec.Volumes[0].Source = encrypted(runtimev1alpha1.RBDEncryptionFormat_RBD_ENCRYPTION_FORMAT_LUKS2, &runtimev1alpha1.SecretKey{Id: "p", Data: []byte("x")})
	if err := Machine(m); err != nil {
		t.Fatalf("machine booting from an encrypted RBD volume with a kernel: %v", err)
	}
}

func encrypted(format runtimev1alpha1.RBDEncryptionFormat, passphrase *runtimev1alpha1.SecretKey) *runtimev1alpha1.Volume_NetworkDisk {
	v := rbd(&runtimev1alpha1.SecretKey{Id: "k", Data: []byte("AQB...")})
	v.NetworkDisk.GetRbd().Encryption = &runtimev1alpha1.RBDEncryption{Format: format, Passphrase: passphrase}
	return v
}

func rbd(key *runtimev1alpha1.SecretKey) *runtimev1alpha1.Volume_NetworkDisk {
	return &runtimev1alpha1.Volume_NetworkDisk{NetworkDisk: &runtimev1alpha1.NetworkDisk{
		Access: &runtimev1alpha1.NetworkDisk_Rbd{Rbd: &runtimev1alpha1.RBDAccess{
			Monitors: []string{"[::1]:3300"}, Pool: "rbd", Image: "img", User: "u", Key: key,
		}},
	}}
}
