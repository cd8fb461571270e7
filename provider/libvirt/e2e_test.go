package libvirt

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"libvirt.org/go/libvirt"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/provider/image"
)

// End-to-end tests on the system libvirtd with QEMU (TCG), booting Ferrite's test guest
// (hack/make-guest-image.sh) pushed to an in-process registry. They run with
// FERRITE_LIBVIRT_E2E=1 after hack/libvirt-up.sh, and take a few minutes.

const systemURI = "qemu:///system"

// e2e is the shared setup of the QEMU tests: the guest image in a registry and an image cache.
type e2e struct {
	dir    string
	ref    string
	images *image.Store
	owner  *Owner
	lv     *libvirt.Connect
}

func setupE2E(t *testing.T) *e2e {
	t.Helper()
	if os.Getenv("FERRITE_LIBVIRT_E2E") != "1" {
		t.Skip("boots guests on qemu:///system: set FERRITE_LIBVIRT_E2E=1 (after hack/libvirt-up.sh)")
	}
	lv, err := libvirt.NewConnect(systemURI)
	if err != nil {
		t.Fatalf("FERRITE_LIBVIRT_E2E=1 but %s is not reachable (run hack/libvirt-up.sh): %v", systemURI, err)
	}
	t.Cleanup(func() { lv.Close() })
	guest := buildGuest(t)

	// Directories the hypervisor's user can traverse (MkdirTemp makes them 0700).
	dir, err := os.MkdirTemp("", "lve2e")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	server := httptest.NewServer(registry.New())
	t.Cleanup(server.Close)
	host := strings.TrimPrefix(server.URL, "http://")
	cmdline, err := os.ReadFile(filepath.Join(guest, "cmdline"))
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/ferrite/guest:e2e"
	ctx := ctxFor(t)
	if _, err := image.Push(ctx, ref, image.PushFiles{
		RootDisk:  filepath.Join(guest, "root.raw"),
		Kernel:    filepath.Join(guest, "vmlinuz"),
		Initramfs: filepath.Join(guest, "initrd.gz"),
		Cmdline:   strings.TrimSpace(string(cmdline)),
	}, image.WithPlainHTTP()); err != nil {
		t.Fatal(err)
	}
	store, err := image.NewStore(image.StoreOptions{Dir: filepath.Join(dir, "images"), PlainHTTPRegistries: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	owner, err := HypervisorOwnerFromConfig("auto", "/etc/libvirt/qemu.conf")
	if err != nil {
		t.Fatal(err)
	}
	return &e2e{dir: dir, ref: ref, images: store, owner: owner, lv: lv}
}

// buildGuest builds the test guest once (hack/guest-image.sh keeps it between runs).
func buildGuest(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..", "..")
	dir := os.Getenv("FERRITE_GUEST_DIR")
	if dir == "" {
		dir = filepath.Join(repo, ".ferrite", "guest")
	}
	out, err := exec.Command(filepath.Join(repo, "hack", "guest-image.sh"), "--dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("hack/guest-image.sh: %v\n%s", err, out)
	}
	return dir
}

// start serves a provider on qemu:///system with state under dir (a new directory when empty).
func (e *e2e) start(t *testing.T, dir string) *testEnv {
	t.Helper()
	if dir == "" {
		var err error
		dir, err = os.MkdirTemp(e.dir, "p")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return startProvider(t, systemURI, dir, func(o *Options) {
		o.Images = e.images
		o.HypervisorOwner = e.owner
		o.ShutdownTimeout = 30 * time.Second
	})
}

// guestMachine is a machine booting the test guest, with an Ignition config.
func (e *e2e) guestMachine(t *testing.T, ignition string) *runtimev1alpha1.Machine {
	id := uuid.NewString()
	t.Cleanup(func() { destroyDomain(e.lv, id) })
	m := newMachine(id)
	m.Spec.RootDisk = &runtimev1alpha1.RootDisk{Image: e.ref, SizeBytes: 64 * mib}
	m.Spec.UserData = &runtimev1alpha1.UserData{Data: []byte(ignition)}
	return m
}

// destroyDomain removes a domain a failed test left behind.
func destroyDomain(lv *libvirt.Connect, id string) {
	dom, err := lv.LookupDomainByName(DomainName(id))
	if err != nil {
		return
	}
	defer dom.Free()
	dom.Destroy()
	dom.Undefine()
}

// waitConsole polls ReadConsoleLog until it holds every want.
func (e *testEnv) waitConsole(id string, want ...string) string {
	e.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var data string
	for time.Now().Before(deadline) {
		resp, err := e.client.ReadConsoleLog(ctxFor(e.t), &runtimev1alpha1.ReadConsoleLogRequest{MachineId: id})
		if err != nil {
			e.t.Fatal(err)
		}
		data = string(resp.GetData())
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(data, w)
		}
		if ok {
			return data
		}
		time.Sleep(250 * time.Millisecond)
	}
	e.t.Fatalf("machine %s: the console log lacks %q:\n%s", id, want, data)
	return ""
}

// console is an attached Console stream.
type console struct {
	t      *testing.T
	stream runtimev1alpha1.MachineRuntime_ConsoleClient
	out    chan []byte
	seen   bytes.Buffer
	// close ends the stream.
	close context.CancelFunc
}

func (e *testEnv) openConsole(id string, scrollback uint64) *console {
	e.t.Helper()
	ctx, cancel := context.WithCancel(ctxFor(e.t))
	e.t.Cleanup(cancel)
	stream, err := e.client.Console(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := stream.Send(&runtimev1alpha1.ConsoleRequest{Request: &runtimev1alpha1.ConsoleRequest_Open{
		Open: &runtimev1alpha1.ConsoleOpen{MachineId: id, ScrollbackBytes: scrollback},
	}}); err != nil {
		e.t.Fatal(err)
	}
	c := &console{t: e.t, stream: stream, out: make(chan []byte, 1024), close: cancel}
	go func() {
		defer close(c.out)
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			c.out <- resp.GetOutput()
		}
	}()
	return c
}

func (c *console) send(s string) {
	c.t.Helper()
	if err := c.stream.Send(&runtimev1alpha1.ConsoleRequest{Request: &runtimev1alpha1.ConsoleRequest_Input{Input: []byte(s)}}); err != nil {
		c.t.Fatal(err)
	}
}

// run types a command until its output holds want (input typed while the guest's shell is not
// reading yet may be lost).
func (c *console) run(command, want string) {
	c.t.Helper()
	for range 10 {
		c.send(command + "\n")
		if c.wait(want, 5*time.Second) {
			return
		}
	}
	c.t.Fatalf("no %q on the console after %q:\n%s", want, command, c.seen.String())
}

// wait reads until the output holds want or the timeout passes.
func (c *console) wait(want string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for !strings.Contains(c.seen.String(), want) {
		select {
		case data, ok := <-c.out:
			if !ok {
				return false
			}
			c.seen.Write(data)
		case <-deadline:
			return false
		}
	}
	return true
}

// expect reads until the output holds want.
func (c *console) expect(want string) {
	c.t.Helper()
	timeout := time.After(time.Minute)
	for !strings.Contains(c.seen.String(), want) {
		select {
		case data, ok := <-c.out:
			if !ok {
				c.t.Fatalf("the console ended before %q:\n%s", want, c.seen.String())
			}
			c.seen.Write(data)
		case <-timeout:
			c.t.Fatalf("no %q on the console:\n%s", want, c.seen.String())
		}
	}
}

func TestE2EMachineLifecycle(t *testing.T) {
	e := setupE2E(t)
	env := e.start(t, "")
	ctx := ctxFor(t)
	m := e.guestMachine(t, `{"ignition":{"version":"3.4.0"},"e2e":"lifecycle"}`)
	id := m.GetMetadata().GetId()
	m.Spec.NetworkInterfaces = []*runtimev1alpha1.NetworkInterface{{Name: "eth0"}}
	env.create(m)
	running := env.waitState(id, runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING)
	if rd := running.GetStatus().GetRootDisk(); rd.GetDevice() != "vda" || rd.GetSizeBytes() != 64*mib {
		t.Fatalf("root disk %v", rd)
	}
	if state, ok := domainState(t, e.lv, id); !ok || state != libvirt.DOMAIN_RUNNING {
		t.Fatalf("domain state %v (exists %v)", state, ok)
	}
	log := env.waitConsole(id, "GUEST-UP", `"e2e":"lifecycle"`, "ROOTDISK /dev/vda FERRITE-ROOTDISK BOOT 1", "GUEST-READY")
	if !strings.Contains(log, DefaultMAC(id, "eth0")) {
		t.Fatalf("the guest does not show its NIC's MAC %s:\n%s", DefaultMAC(id, "eth0"), log)
	}
	// The hypervisor's files are its own and nobody else's.
	fi, err := os.Stat(filepath.Join(env.provider.machineDir(id), ignitionFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ignition file: %v %v", fi, err)
	}

	// Two consoles: both see the output; input from either reaches the guest.
	c1 := env.openConsole(id, 4096)
	c1.expect("GUEST-READY") // the scrollback
	c2 := env.openConsole(id, 0)
	c2.run("echo hello-$((40+2))", "hello-42")
	c1.expect("hello-42")
	c2.expect("hello-42")

	// Devices on the running guest.
	testVolumesAndNICs(t, env, id)
	c1.send("cat /proc/partitions\n")
	c1.expect("vdb")

	// Power off through ACPI: the guest's acpid powers it off.
	if _, err := env.client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{MachineId: id, Power: runtimev1alpha1.Power_POWER_OFF}); err != nil {
		t.Fatal(err)
	}
	stopped := env.waitState(id, runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED)
	if stopped.GetStatus().GetReason() != "PoweredOff" {
		t.Fatalf("stopped: %v", stopped.GetStatus())
	}
	env.waitConsole(id, "GUEST-POWEROFF")
	if state, _ := domainState(t, e.lv, id); state != libvirt.DOMAIN_SHUTOFF {
		t.Fatalf("domain state after POWER_OFF: %v", state)
	}
	// On again: the root disk kept what the guest wrote.
	if _, err := env.client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{MachineId: id, Power: runtimev1alpha1.Power_POWER_ON}); err != nil {
		t.Fatal(err)
	}
	env.waitState(id, runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING)
	env.waitConsole(id, "ROOTDISK /dev/vda FERRITE-ROOTDISK BOOT 2")
	c1.expect("ROOTDISK /dev/vda FERRITE-ROOTDISK BOOT 2") // the console reattached after the restart

	// Reboot once per reboot_id.
	if _, err := env.client.RebootMachine(ctx, &runtimev1alpha1.RebootMachineRequest{MachineId: id, RebootId: "r1"}); err != nil {
		t.Fatal(err)
	}
	env.waitConsole(id, "BOOT 3")
	rebooted := env.waitFor(id, "boot count 3", func(m *runtimev1alpha1.Machine) bool { return m.GetStatus().GetBootCount() == 3 })
	if rebooted.GetStatus().GetLastRebootId() != "r1" {
		t.Fatalf("last reboot id %q", rebooted.GetStatus().GetLastRebootId())
	}
	if _, err := env.client.RebootMachine(ctx, &runtimev1alpha1.RebootMachineRequest{MachineId: id, RebootId: "r1"}); err != nil {
		t.Fatal(err)
	}

	// A guest that ignores the power button is forced off after the timeout.
	env.waitConsole(id, "BOOT 3", "GUEST-READY")
	c1.run("killall acpid; echo acpid-$((1+1))-gone", "acpid-2-gone")
	if _, err := env.client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{
		MachineId: id, Power: runtimev1alpha1.Power_POWER_OFF, ShutdownTimeout: durationpb.New(3 * time.Second),
	}); err != nil {
		t.Fatal(err)
	}
	forced := env.waitState(id, runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED)
	if forced.GetStatus().GetReason() != "ForcedOff" || !hasEvent(env.events(id), "ShutdownTimeout") {
		t.Fatalf("after the timeout: %v, events %v", forced.GetStatus(), env.events(id))
	}
	if rebooted.GetStatus().GetBootCount() != 3 {
		t.Fatalf("boot count %d", rebooted.GetStatus().GetBootCount())
	}

	// Delete: no domain, no files.
	env.delete(id)
	if _, ok := domainState(t, e.lv, id); ok {
		t.Fatal("the domain survived the deletion")
	}
	if _, err := os.Stat(env.provider.machineDir(id)); !os.IsNotExist(err) {
		t.Fatalf("the machine's files survived the deletion: %v", err)
	}
	for _, reason := range []string{"Created", "Started", "Stopped", "ShutdownTimeout", "Deleting"} {
		if !hasEvent(env.events(id), reason) {
			t.Errorf("no %s event", reason)
		}
	}
}

func TestE2ERestarts(t *testing.T) {
	e := setupE2E(t)
	env := e.start(t, "")
	m := e.guestMachine(t, `{"ignition":{"version":"3.4.0"}}`)
	id := m.GetMetadata().GetId()
	env.create(m)
	env.waitState(id, runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING)
	env.waitConsole(id, "GUEST-READY")
	list, err := env.client.ListMachines(ctxFor(t), &runtimev1alpha1.ListMachinesRequest{})
	if err != nil {
		t.Fatal(err)
	}

	// The provider restarts: the machine is there, still running, at a higher revision.
	env.close()
	env = e.start(t, env.dir)
	again := env.get(id)
	if again.GetStatus().GetState() != runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING || again.GetMetadata().GetRevision() <= list.GetRevision() {
		t.Fatalf("after the provider's restart: %v (revision before %d)", again, list.GetRevision())
	}
	stream, err := env.client.Watch(ctxFor(t), &runtimev1alpha1.WatchRequest{FromRevision: list.GetRevision()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err == nil {
		t.Fatal("a watch from before the restart did not fail")
	} else if _, ok := runtimev1alpha1.AsRevisionTooOld(err); !ok {
		t.Fatalf("watch from before the restart: %v", err)
	}

	// libvirtd restarts: calls during the outage answer UNAVAILABLE, the provider reconnects, the
	// guest keeps running, and events flow again.
	pidFile := filepath.Join(envOr("LV_STATE", "/tmp/ferrite-libvirt"), "libvirtd.pid")
	pidData, err := os.ReadFile(pidFile)
	if err != nil {
		t.Skipf("libvirtd was not started by hack/libvirt-up.sh (%v): not restarting it", err)
	}
	_, file, _, _ := runtime.Caller(0)
	up := filepath.Join(filepath.Dir(file), "..", "..", "hack", "libvirt-up.sh")
	if out, err := exec.Command("kill", strings.TrimSpace(string(pidData))).CombinedOutput(); err != nil {
		t.Fatalf("kill libvirtd: %v %s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	var outage error
	for time.Now().Before(deadline) {
		_, outage = env.client.SetMachinePower(ctxFor(t), &runtimev1alpha1.SetMachinePowerRequest{MachineId: id, Power: runtimev1alpha1.Power_POWER_ON})
		if status.Code(outage) == codes.Unavailable {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status.Code(outage) != codes.Unavailable {
		t.Fatalf("a call while libvirtd is down: %v, want Unavailable", outage)
	}
	if out, err := exec.Command(up).CombinedOutput(); err != nil {
		t.Fatalf("hack/libvirt-up.sh: %v\n%s", err, out)
	}
	e.lv.Close()
	if e.lv, err = libvirt.NewConnect(systemURI); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(time.Minute)
	for {
		_, err := env.client.SetMachinePower(ctxFor(t), &runtimev1alpha1.SetMachinePowerRequest{MachineId: id, Power: runtimev1alpha1.Power_POWER_OFF})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the provider did not recover from libvirtd's restart: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	env.waitState(id, runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED)
	env.delete(id)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func TestE2EProbeBoot(t *testing.T) {
	if os.Getenv("FERRITE_LIBVIRT_E2E") != "1" {
		t.Skip("boots a guest on qemu:///system: set FERRITE_LIBVIRT_E2E=1")
	}
	dir, err := os.MkdirTemp("", "lvprobe")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o711)
	start := time.Now()
	if err := ProbeBoot(ctxFor(t), systemURI, "qemu", dir, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("the probe guest booted under TCG in %s", time.Since(start))
	got, why, err := ProbeVirtType(ctxFor(t), systemURI, "auto", dir, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("auto chose %s: %s", got, why)
	if _, statErr := os.Stat("/dev/kvm"); statErr != nil && got != "qemu" {
		t.Fatalf("auto without /dev/kvm: %s (%s)", got, why)
	}
	// What auto chose boots the probe again, with the CPU the guests get.
	if err := ProbeBoot(ctxFor(t), systemURI, got, dir, 10*time.Second); err != nil {
		t.Fatalf("the chosen %s does not boot the probe: %v", got, err)
	}
}

func TestE2ECloudInit(t *testing.T) {
	e := setupE2E(t)
	env := e.start(t, "")
	m := e.guestMachine(t, "#cloud-config\nhostname: e2e\n")
	id := m.GetMetadata().GetId()
	m.Spec.UserData.Format = runtimev1alpha1.UserDataFormat_USER_DATA_FORMAT_CLOUD_INIT
	m.Spec.NetworkInterfaces = []*runtimev1alpha1.NetworkInterface{{Name: "eth0", Ips: []string{"10.9.0.5/24"}}}
	env.create(m)
	env.waitState(id, runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING)
	env.waitConsole(id, "NOCLOUD /dev/vd", "USERDATA-BEGIN", "hostname: e2e", "NET eth0 10.9.0.5/24", "GUEST-READY")
	fi, err := os.Stat(filepath.Join(env.provider.machineDir(id), cloudInitFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("NoCloud drive: %v %v", fi, err)
	}
	env.delete(id)
}
