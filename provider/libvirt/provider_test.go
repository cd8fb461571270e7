package libvirt

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"libvirt.org/go/libvirt"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// Tests on libvirt's test driver: the provider's own logic (idempotent create, metadata, state
// mapping, power, devices, restart, reaping) without QEMU. e2e_test.go runs the real thing.

func TestCreateIsIdempotentAndPersistent(t *testing.T) {
	env := startProvider(t, testURI, "", nil)
	ctx := ctxFor(t)
	const id = "3f1c9b5e-0d5c-4a63-9d6e-2b7c1d0a9e11" // a Kubernetes UID
	m := newMachine(id)
	m.Spec.UserData = &runtimev1alpha1.UserData{Data: []byte(`{"ignition":{"version":"3.4.0"}}`)}
	m.Spec.Volumes = []*runtimev1alpha1.Volume{{Name: "data", Source: &runtimev1alpha1.Volume_EmptyDisk{EmptyDisk: &runtimev1alpha1.EmptyDisk{SizeBytes: 64 * mib}}}}
	m.Spec.NetworkInterfaces = []*runtimev1alpha1.NetworkInterface{{Name: "eth0", Ips: []string{"10.0.0.5/24"}}}

	// Concurrent creates of one ID make one machine; every caller gets it.
	var wg sync.WaitGroup
	created := make(chan bool, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := env.client.CreateMachine(ctx, &runtimev1alpha1.CreateMachineRequest{Machine: m})
			if err != nil {
				t.Error(err)
				return
			}
			if resp.GetMachine().GetMetadata().GetId() != id {
				t.Errorf("create returned machine %q", resp.GetMachine().GetMetadata().GetId())
			}
			created <- resp.GetCreated()
		}()
	}
	wg.Wait()
	close(created)
	n := 0
	for c := range created {
		if c {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d creates said created, want 1", n)
	}
	running := env.waitState(id, runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING)

	// The domain: deterministic name and UUID, persistent, with metadata.
	dom, err := pin.LookupDomainByName(DomainName(id))
	if err != nil {
		t.Fatal(err)
	}
	defer dom.Free()
	if uuid, _ := dom.GetUUIDString(); uuid != id {
		t.Fatalf("domain UUID %s, want the machine ID", uuid)
	}
	if persistent, _ := dom.IsPersistent(); !persistent {
		t.Fatal("the domain is transient")
	}
	rec, err := readRecord(dom)
	if err != nil || rec == nil {
		t.Fatalf("metadata: %v %v", rec, err)
	}
	if rec.ID != id || !rec.Prepared || rec.Generation != 1 || rec.labels()["machinepoollet.ferrite.dev/machine-name"] != "vm-"+id {
		t.Fatalf("metadata record %+v", rec)
	}
	if strings.Contains(rec.Spec, "ignition") {
		t.Fatalf("the metadata holds the user data: %s", rec.Spec)
	}
	xml, _ := dom.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
	for _, want := range []string{"opt/com.coreos/config", "ignition.json", "volume-data.qcow2", "<target dev='vdb' bus='virtio'/>",
		DefaultTap(id, "eth0"), DefaultMAC(id, "eth0"), "console.log"} {
		if !strings.Contains(xml, want) {
			t.Fatalf("domain XML lacks %q:\n%s", want, xml)
		}
	}
	// The status reports the chosen device, MAC and tap.
	st := running.GetStatus()
	if len(st.GetVolumes()) != 1 || st.GetVolumes()[0].GetDevice() != "vdb" || st.GetVolumes()[0].GetState() != runtimev1alpha1.AttachmentState_ATTACHMENT_STATE_ATTACHED {
		t.Fatalf("volume status %v", st.GetVolumes())
	}
	if nic := st.GetNetworkInterfaces(); len(nic) != 1 || nic[0].GetMacAddress() != DefaultMAC(id, "eth0") || nic[0].GetTapName() != DefaultTap(id, "eth0") {
		t.Fatalf("NIC status %v", nic)
	}
	if st.GetBootCount() != 1 || !proto.Equal(running.GetSpec().GetUserData(), m.Spec.UserData) {
		t.Fatalf("boot count %d, user data %v", st.GetBootCount(), running.GetSpec().GetUserData())
	}

	// A create with another spec returns the existing machine unchanged.
	other := newMachine(id)
	other.Spec.Resources.Vcpus = 4
	resp := env.create(other)
	if resp.GetCreated() || resp.GetMachine().GetSpec().GetResources().GetVcpus() != 1 {
		t.Fatalf("second create: created=%v vcpus=%d", resp.GetCreated(), resp.GetMachine().GetSpec().GetResources().GetVcpus())
	}
	env.delete(id)
}

// delete deletes a machine and waits until it is gone.
func (e *testEnv) delete(id string) {
	e.t.Helper()
	if _, err := e.client.DeleteMachine(ctxFor(e.t), &runtimev1alpha1.DeleteMachineRequest{MachineId: id, ShutdownTimeout: durationpb.New(0)}); err != nil {
		e.t.Fatal(err)
	}
	e.waitFor(id, "deletion", func(m *runtimev1alpha1.Machine) bool { return m == nil })
	if _, ok := domainState(e.t, pin, id); ok && strings.HasPrefix(e.provider.opts.URI, "test:") {
		e.t.Fatalf("machine %s deleted, its domain is still there", id)
	}
	if _, err := os.Stat(e.provider.machineDir(id)); !os.IsNotExist(err) {
		e.t.Fatalf("machine %s deleted, its directory is still there: %v", id, err)
	}
}

func TestCreateValidatesAndChecksCapacity(t *testing.T) {
	env := startProvider(t, testURI, "", nil)
	ctx := ctxFor(t)
	bad := newMachine("bad id")
	if _, err := env.client.CreateMachine(ctx, &runtimev1alpha1.CreateMachineRequest{Machine: bad}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad ID: %v", err)
	}
	rbd := newMachine("rbd")
	rbd.Spec.Volumes = []*runtimev1alpha1.Volume{{Name: "ceph", Source: &runtimev1alpha1.Volume_NetworkDisk{NetworkDisk: &runtimev1alpha1.NetworkDisk{
		SizeBytes: gib, Access: &runtimev1alpha1.NetworkDisk_Rbd{Rbd: &runtimev1alpha1.RBDAccess{
			Monitors: []string{"127.0.0.1:6789"}, Pool: "rbd", Image: "x", User: "u", Key: &runtimev1alpha1.SecretKey{Id: "k", Data: []byte("c2VjcmV0")},
		}},
	}}}}
	rbd.Spec.RootDisk = &runtimev1alpha1.RootDisk{Volume: "ceph"}
	rbd.Spec.Volumes[0].Device = "vdb"
	if _, err := env.client.CreateMachine(ctx, &runtimev1alpha1.CreateMachineRequest{Machine: rbd}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("boot volume on vdb: %v, want InvalidArgument", err)
	}
	rbd.Spec.Volumes[0].Device = ""
	created := env.create(rbd)
	if v := created.GetMachine().GetSpec().GetVolumes()[0]; v.GetNetworkDisk().GetRbd().GetKey().GetData() != nil || v.GetNetworkDisk().GetRbd().GetKey().GetId() != "k" {
		t.Fatalf("the provider returned the key's data, or lost its ID: %v", v)
	}
	key, err := os.ReadFile(filepath.Join(env.provider.machineDir("rbd"), keysDir, "ceph.key"))
	if fi, _ := os.Stat(filepath.Join(env.provider.machineDir("rbd"), keysDir, "ceph.key")); err != nil || !strings.Contains(string(key), "c2VjcmV0") || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stored key: %q %v", key, err)
	}
	env.delete("rbd")
	// The test driver's host has 16 threads: a 17-vCPU machine does not fit.
	huge := newMachine("huge")
	huge.Spec.Resources.Vcpus = 17
	if _, err := env.client.CreateMachine(ctx, &runtimev1alpha1.CreateMachineRequest{Machine: huge}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a machine larger than the host: %v, want ResourceExhausted", err)
	}
	st, err := env.client.Status(ctx, &runtimev1alpha1.StatusRequest{Classes: []*runtimev1alpha1.MachineClass{
		{Name: "small", Resources: &runtimev1alpha1.MachineResources{Vcpus: 1, MemoryBytes: 256 * mib}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if st.GetCapacity().GetVcpus() != 16 || st.GetClasses()[0].GetAvailable() == 0 {
		t.Fatalf("status %v", st)
	}
}

func TestPowerAndStates(t *testing.T) {
	env := startProvider(t, testURI, "", nil)
	ctx := ctxFor(t)
	off := newMachine("power-off")
	off.Spec.Power = runtimev1alpha1.Power_POWER_OFF
	env.create(off)
	stopped := env.waitState("power-off", runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED)
	if stopped.GetStatus().GetReason() != "PoweredOff" || stopped.GetStatus().GetBootCount() != 0 {
		t.Fatalf("a machine created powered off: %v", stopped.GetStatus())
	}
	if _, err := env.client.RebootMachine(ctx, &runtimev1alpha1.RebootMachineRequest{MachineId: "power-off"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("reboot of a stopped machine: %v", err)
	}
	resp, err := env.client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{MachineId: "power-off", Power: runtimev1alpha1.Power_POWER_ON})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetMachine().GetMetadata().GetGeneration() != 2 {
		t.Fatalf("generation %d after a power change", resp.GetMachine().GetMetadata().GetGeneration())
	}
	env.waitState("power-off", runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING)
	if state, _ := domainState(t, pin, "power-off"); state != libvirt.DOMAIN_RUNNING {
		t.Fatalf("domain state %v", state)
	}
	// The test driver's guests obey ACPI at once.
	if _, err := env.client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{MachineId: "power-off", Power: runtimev1alpha1.Power_POWER_OFF}); err != nil {
		t.Fatal(err)
	}
	stopped = env.waitState("power-off", runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED)
	if stopped.GetStatus().GetReason() != "PoweredOff" {
		t.Fatalf("stopped with %v", stopped.GetStatus())
	}
	// The guest powers itself off (here: a shutdown behind the provider's back).
	if _, err := env.client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{MachineId: "power-off", Power: runtimev1alpha1.Power_POWER_ON}); err != nil {
		t.Fatal(err)
	}
	env.waitState("power-off", runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING)
	dom, err := pin.LookupDomainByName(DomainName("power-off"))
	if err != nil {
		t.Fatal(err)
	}
	if err := dom.Shutdown(); err != nil {
		t.Fatal(err)
	}
	dom.Free()
	stopped = env.waitState("power-off", runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED)
	if stopped.GetStatus().GetReason() != "GuestShutdown" || stopped.GetSpec().GetPower() != runtimev1alpha1.Power_POWER_ON {
		t.Fatalf("after the guest's own shutdown: %v, power %v", stopped.GetStatus(), stopped.GetSpec().GetPower())
	}
	if !hasEvent(env.events("power-off"), "GuestShutdown") {
		t.Fatalf("no GuestShutdown event: %v", env.events("power-off"))
	}
	// POWER_ON again starts it; the boot count grew with each start.
	if _, err := env.client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{MachineId: "power-off", Power: runtimev1alpha1.Power_POWER_ON}); err != nil {
		t.Fatal(err)
	}
	running := env.waitState("power-off", runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING)
	if running.GetStatus().GetBootCount() != 3 {
		t.Fatalf("boot count %d, want 3", running.GetStatus().GetBootCount())
	}
	env.delete("power-off")
}

// testVolumesAndNICs attaches, grows and detaches empty disks and NICs of a running machine. The
// test driver cannot attach devices, so it runs on QEMU (e2e_test.go).
func testVolumesAndNICs(t *testing.T, env *testEnv, id string) {
	ctx := ctxFor(t)
	disk := func(name string, size uint64) *runtimev1alpha1.Volume {
		return &runtimev1alpha1.Volume{Name: name, Source: &runtimev1alpha1.Volume_EmptyDisk{EmptyDisk: &runtimev1alpha1.EmptyDisk{SizeBytes: size}}}
	}
	for _, name := range []string{"a", "b"} {
		if _, err := env.client.AttachVolume(ctx, &runtimev1alpha1.AttachVolumeRequest{MachineId: id, Volume: disk(name, 32*mib)}); err != nil {
			t.Fatal(err)
		}
	}
	// Attaching again is a no-op; with another spec, ALREADY_EXISTS; a taken device too.
	if _, err := env.client.AttachVolume(ctx, &runtimev1alpha1.AttachVolumeRequest{MachineId: id, Volume: disk("a", 32*mib)}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.client.AttachVolume(ctx, &runtimev1alpha1.AttachVolumeRequest{MachineId: id, Volume: disk("a", 64*mib)}); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("a different volume a: %v", err)
	}
	taken := disk("c", 32*mib)
	taken.Device = "vdb"
	if _, err := env.client.AttachVolume(ctx, &runtimev1alpha1.AttachVolumeRequest{MachineId: id, Volume: taken}); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("a taken device: %v", err)
	}
	m := env.get(id)
	if vs := m.GetStatus().GetVolumes(); len(vs) != 2 || vs[0].GetDevice() != "vdb" || vs[1].GetDevice() != "vdc" {
		t.Fatalf("volumes %v", vs)
	}
	// Grow a disk (online); shrinking is refused.
	grown, err := env.client.UpdateVolume(ctx, &runtimev1alpha1.UpdateVolumeRequest{MachineId: id, Volume: disk("b", 64*mib)})
	if err != nil {
		t.Fatal(err)
	}
	if size := grown.GetMachine().GetStatus().GetVolumes()[1].GetSizeBytes(); size != 64*mib {
		t.Fatalf("b's size after growing: %d", size)
	}
	if _, err := env.client.UpdateVolume(ctx, &runtimev1alpha1.UpdateVolumeRequest{MachineId: id, Volume: disk("a", 16*mib)}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("shrink: %v", err)
	}
	// Detach a; b keeps its device, a's file goes.
	if _, err := env.client.DetachVolume(ctx, &runtimev1alpha1.DetachVolumeRequest{MachineId: id, Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.client.DetachVolume(ctx, &runtimev1alpha1.DetachVolumeRequest{MachineId: id, Name: "a"}); err != nil {
		t.Fatalf("detaching a detached volume: %v", err)
	}
	env.waitFor(id, "volume a gone", func(m *runtimev1alpha1.Machine) bool { return len(m.GetStatus().GetVolumes()) == 1 })
	if _, err := os.Stat(env.provider.volumePath(id, "a")); !os.IsNotExist(err) {
		t.Fatalf("a's file after detaching: %v", err)
	}
	// The next volume takes the free device.
	if _, err := env.client.AttachVolume(ctx, &runtimev1alpha1.AttachVolumeRequest{MachineId: id, Volume: disk("d", 32*mib)}); err != nil {
		t.Fatal(err)
	}
	m = env.get(id)
	if vs := m.GetStatus().GetVolumes(); len(vs) != 2 || vs[1].GetName() != "d" || vs[1].GetDevice() != "vdb" {
		t.Fatalf("volumes after re-attach %v", vs)
	}

	// NICs: attach, update in place, detach.
	nicsBefore := len(env.get(id).GetStatus().GetNetworkInterfaces())
	nic := &runtimev1alpha1.NetworkInterface{Name: "net1", MacAddress: "02:00:00:aa:bb:cc", TapName: "frtest0", Ips: []string{"10.1.0.2"}}
	if _, err := env.client.AttachNetworkInterface(ctx, &runtimev1alpha1.AttachNetworkInterfaceRequest{MachineId: id, NetworkInterface: nic}); err != nil {
		t.Fatal(err)
	}
	updated := proto.Clone(nic).(*runtimev1alpha1.NetworkInterface)
	updated.Ips = []string{"10.1.0.3"}
	updated.Attributes = map[string]string{"vni": "42"}
	resp, err := env.client.UpdateNetworkInterface(ctx, &runtimev1alpha1.UpdateNetworkInterfaceRequest{MachineId: id, NetworkInterface: updated})
	if err != nil {
		t.Fatal(err)
	}
	if ips := resp.GetMachine().GetStatus().GetNetworkInterfaces()[nicsBefore].GetIps(); fmt.Sprint(ips) != "[10.1.0.3]" {
		t.Fatalf("IPs after update %v", ips)
	}
	updated.MacAddress = "02:00:00:aa:bb:cd"
	if _, err := env.client.UpdateNetworkInterface(ctx, &runtimev1alpha1.UpdateNetworkInterfaceRequest{MachineId: id, NetworkInterface: updated}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("MAC change in place: %v", err)
	}
	if _, err := env.client.DetachNetworkInterface(ctx, &runtimev1alpha1.DetachNetworkInterfaceRequest{MachineId: id, Name: "net1"}); err != nil {
		t.Fatal(err)
	}
	env.waitFor(id, "NIC gone", func(m *runtimev1alpha1.Machine) bool { return len(m.GetStatus().GetNetworkInterfaces()) == nicsBefore })
	for _, reason := range []string{"VolumeAttached", "VolumeDetached", "NetworkInterfaceAttached", "NetworkInterfaceUpdated", "NetworkInterfaceDetached"} {
		if !hasEvent(env.events(id), reason) {
			t.Fatalf("no %s event", reason)
		}
	}
}
