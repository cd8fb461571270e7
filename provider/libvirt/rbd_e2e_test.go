package libvirt

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"libvirt.org/go/libvirt"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// End-to-end tests of RBD volumes: a throw-away Ceph cluster (hack/ceph-up.sh, its own ports and
// directory), images and per-image cephx users made with the rbd and ceph CLIs, and guests on
// qemu:///system that boot from and attach them. They run with FERRITE_LIBVIRT_E2E=1, as root.

// cephCluster is the test cluster: its ceph.conf and the v1 address of its monitor.
type cephCluster struct {
	t       *testing.T
	conf    string
	monitor string
}

func setupCeph(t *testing.T) *cephCluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("hack/ceph-up.sh runs Ceph daemons as root")
	}
	_, file, _, _ := runtime.Caller(0)
	up := filepath.Join(filepath.Dir(file), "..", "..", "hack", "ceph-up.sh")
	base := "/tmp/ferrite-ceph-libvirt-test"
	cmd := exec.Command(up)
	cmd.Env = append(os.Environ(), "CEPH_BASE="+base, "MON_V2_PORT=3330", "MON_V1_PORT=6830")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/ceph-up.sh: %v\n%s", err, out)
	}
	t.Logf("Ceph up in %s", time.Since(start).Round(time.Millisecond))
	return &cephCluster{t: t, conf: filepath.Join(base, "ceph.conf"), monitor: "127.0.0.1:6830"}
}

// run runs a Ceph CLI (ceph, rbd, rados) with the cluster's admin credentials.
func (c *cephCluster) run(tool string, args ...string) string {
	c.t.Helper()
	out, err := exec.Command(tool, append([]string{"-c", c.conf}, args...)...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		c.t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

// rbdImage is an image with its own cephx user, as the ceph-provider makes them.
type rbdImage struct {
	name, user, key string
}

// image makes an image (empty of size, or imported from file) and its user, whose caps reach
// that image only; both are removed when the test ends.
func (c *cephCluster) image(name, size, file string) rbdImage {
	c.t.Helper()
	if file != "" {
		c.run("rbd", "import", file, "rbd/"+name)
	} else {
		c.run("rbd", "create", "--size", size, "rbd/"+name)
	}
	var info struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(c.run("rbd", "info", "--format", "json", "rbd/"+name)), &info); err != nil || info.ID == "" {
		c.t.Fatalf("rbd info %s: %q %v", name, info.ID, err)
	}
	user := "client." + name
	caps := fmt.Sprintf("allow rwx pool=rbd object_prefix rbd_data.%[1]s, allow rwx pool=rbd object_prefix rbd_header.%[1]s, "+
		"allow rwx pool=rbd object_prefix rbd_object_map.%[1]s, allow rx pool=rbd object_prefix rbd_id.%[2]s, allow rx pool=rbd object_prefix rbd_info", info.ID, name)
	key := strings.TrimSpace(c.run("ceph", "auth", "get-or-create-key", user, "mon", "profile rbd", "osd", caps))
	c.t.Cleanup(func() {
		exec.Command("ceph", "-c", c.conf, "auth", "del", user).Run()
		exec.Command("rbd", "-c", c.conf, "rm", "--no-progress", "rbd/"+name).Run()
	})
	return rbdImage{name: name, user: name, key: key}
}

// volume is the runtime volume of an image.
func (c *cephCluster) volume(name string, img rbdImage, size uint64) *runtimev1alpha1.Volume {
	return &runtimev1alpha1.Volume{Name: name, Source: &runtimev1alpha1.Volume_NetworkDisk{NetworkDisk: &runtimev1alpha1.NetworkDisk{
		SizeBytes: size,
		Access: &runtimev1alpha1.NetworkDisk_Rbd{Rbd: &runtimev1alpha1.RBDAccess{
			Monitors: []string{c.monitor}, Pool: "rbd", Image: img.name, User: img.user,
			Key: &runtimev1alpha1.SecretKey{Id: img.name + "/1", Data: []byte(img.key)},
		}},
	}}}
}

// machineSecrets lists the usage names of the libvirt secrets of machine id.
func machineSecrets(t *testing.T, lv *libvirt.Connect, id string) []string {
	t.Helper()
	var out []string
	secrets, err := lv.ListAllSecrets(0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range secrets {
		if usage, err := secrets[i].GetUsageID(); err == nil && strings.HasPrefix(usage, secretUsagePrefix(id)) {
			out = append(out, usage)
		}
		secrets[i].Free()
	}
	return out
}

// A guest boots from an RBD image holding the test guest's root disk (kernel and initramfs from
// the image), with a LUKS2-encrypted RBD volume that it writes and reads; a plain volume is
// hot-plugged, grows online and is detached with its secret; an encrypted volume attached to the
// running guest waits for its next start; libvirtd restarts (its ephemeral
// secrets go) and a power cycle works because the provider made them again, the root volume
// keeping the guest's boot count and the encrypted one its data.
func TestE2ERBDVolumes(t *testing.T) {
	e := setupE2E(t)
	ceph := setupCeph(t)
	guest := buildGuest(t)
	prefix := "lvtest-" + uuid.NewString()[:8]
	bootImg := ceph.image(prefix+"-boot", "", filepath.Join(guest, "root.raw"))
	dataImg := ceph.image(prefix+"-data", "64M", "")
	secretImg := ceph.image(prefix+"-secret", "64M", "")
	secret2Img := ceph.image(prefix+"-secret2", "64M", "")
	passfile := filepath.Join(e.dir, "passphrase")
	passphrase := []byte("correct horse battery staple")
	if err := os.WriteFile(passfile, passphrase, 0o600); err != nil {
		t.Fatal(err)
	}
	ceph.run("rbd", "encryption", "format", "rbd/"+secretImg.name, "luks2", passfile)
	ceph.run("rbd", "encryption", "format", "rbd/"+secret2Img.name, "luks2", passfile)

	env := e.start(t, "")
	ctx := ctxFor(t)
	m := e.guestMachine(t, `{"ignition":{"version":"3.4.0"}}`)
	id := m.GetMetadata().GetId()
	encrypted := func(name string, img rbdImage) *runtimev1alpha1.Volume {
		v := ceph.volume(name, img, 48*mib)
		v.GetNetworkDisk().GetRbd().Encryption = &runtimev1alpha1.RBDEncryption{
			Format:     runtimev1alpha1.RBDEncryptionFormat_RBD_ENCRYPTION_FORMAT_LUKS2,
			Passphrase: &runtimev1alpha1.SecretKey{Id: img.name + "/p", Data: passphrase},
		}
		return v
	}
	enc := encrypted("secret", secretImg)
	m.Spec.RootDisk = &runtimev1alpha1.RootDisk{Image: e.ref, Volume: "boot"}
	m.Spec.Volumes = []*runtimev1alpha1.Volume{ceph.volume("boot", bootImg, 16*mib), enc}
	start := time.Now()
	env.create(m)
	running := env.waitState(id, runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING)
	log := env.waitConsole(id, "ROOTDISK /dev/vda FERRITE-ROOTDISK BOOT 1", "GUEST-READY")
	t.Logf("booted from RBD in %s", time.Since(start).Round(time.Millisecond))
	if running.GetStatus().GetRootDisk() != nil {
		t.Errorf("a machine booting from a volume reports a local root disk: %v", running.GetStatus().GetRootDisk())
	}
	for _, vs := range running.GetStatus().GetVolumes() {
		if vs.GetState() != runtimev1alpha1.AttachmentState_ATTACHMENT_STATE_ATTACHED || !strings.HasPrefix(vs.GetHandle(), "rbd:rbd/"+prefix) || vs.GetKeyId() == "" {
			t.Errorf("volume status %v", vs)
		}
	}
	// The encrypted volume: 48 MiB for the guest (the LUKS2 header is not its), written and read
	// through LUKS2, while the image holds only ciphertext.
	if !strings.Contains(log, "49152 vdb") {
		t.Errorf("the guest does not list the 48 MiB encrypted disk vdb:\n%s", log)
	}
	c := env.openConsole(id, 0)
	c.run("echo FERRITE-SECRET-$((6*7)) >/dev/vdb && sync && echo written-$((1+1))", "written-2")
	c.run("head -c 17 /dev/vdb; echo", "FERRITE-SECRET-42")
	if raw := ceph.run("rbd", "export", "--no-progress", "rbd/"+secretImg.name, "-"); strings.Contains(raw, "FERRITE-SECRET-42") {
		t.Error("the encrypted image holds the guest's data in plain text")
	}
	domXML := liveXML(t, e.lv, id)
	for _, want := range []string{"protocol='rbd' name='rbd/" + secretImg.name + "'", "<secret type='ceph' uuid=", "<encryption format='luks2' engine='librbd'>", "<boot order='1'/>"} {
		if !strings.Contains(domXML, want) {
			t.Errorf("domain XML lacks %s:\n%s", want, domXML)
		}
	}
	if got := machineSecrets(t, e.lv, id); len(got) != 3 {
		t.Errorf("libvirt secrets %v, want the boot and encrypted volumes' keys and the passphrase", got)
	}

	// Hot-plug a plain volume; the guest sees it.
	if _, err := env.client.AttachVolume(ctx, &runtimev1alpha1.AttachVolumeRequest{MachineId: id, Volume: ceph.volume("data", dataImg, 64*mib)}); err != nil {
		t.Fatal(err)
	}
	c.run("cat /sys/block/vdc/size", "131072")
	if !strings.Contains(liveXML(t, e.lv, id), "name='rbd/"+dataImg.name+"'") {
		t.Error("the hot-plugged volume is not in the domain")
	}

	// An encrypted volume attached to the running guest waits for its next start (libvirt 9.0
	// cannot hot-plug it).
	if _, err := env.client.AttachVolume(ctx, &runtimev1alpha1.AttachVolumeRequest{MachineId: id, Volume: encrypted("secret2", secret2Img)}); err != nil {
		t.Fatal(err)
	}
	if !hasEvent(env.events(id), "VolumeAttachPending") {
		t.Errorf("no VolumeAttachPending event: %v", env.events(id))
	}

	// Grow it online: the storage resizes the image, UpdateVolume tells QEMU (and the guest).
	ceph.run("rbd", "resize", "--no-progress", "--size", "128M", "rbd/"+dataImg.name)
	if _, err := env.client.UpdateVolume(ctx, &runtimev1alpha1.UpdateVolumeRequest{MachineId: id, Volume: ceph.volume("data", dataImg, 128*mib)}); err != nil {
		t.Fatal(err)
	}
	c.run("cat /sys/block/vdc/size", "262144")
	if info := ceph.run("rbd", "info", "rbd/"+dataImg.name); !strings.Contains(info, "128 MiB") {
		t.Errorf("the data image after the online grow:\n%s", info)
	}

	// Detach it: the guest releases it, its secret goes.
	if _, err := env.client.DetachVolume(ctx, &runtimev1alpha1.DetachVolumeRequest{MachineId: id, Name: "data"}); err != nil {
		t.Fatal(err)
	}
	env.waitFor(id, "the data volume detached", func(m *runtimev1alpha1.Machine) bool { return len(m.GetStatus().GetVolumes()) == 3 })
	waitUntil(t, "the data volume's secret removed", func() bool { return len(machineSecrets(t, e.lv, id)) == 5 })
	if strings.Contains(liveXML(t, e.lv, id), dataImg.name) {
		t.Error("the detached volume is still in the domain")
	}

	// libvirtd restarts: its ephemeral secrets are gone; the provider's sync makes them again, so
	// the next start of the guest opens its volumes. (The console is closed first: a console
	// stream does not outlive libvirtd.)
	c.close()
	restartLibvirtd(t, e)
	waitUntil(t, "the secrets re-created after libvirtd's restart", func() bool { return len(machineSecrets(t, e.lv, id)) == 5 })
	if _, err := env.client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{MachineId: id, Power: runtimev1alpha1.Power_POWER_OFF}); err != nil {
		t.Fatal(err)
	}
	env.waitState(id, runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED)
	if _, err := env.client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{MachineId: id, Power: runtimev1alpha1.Power_POWER_ON}); err != nil {
		t.Fatal(err)
	}
	env.waitState(id, runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING)
	env.waitConsole(id, "ROOTDISK /dev/vda FERRITE-ROOTDISK BOOT 2", "GUEST-READY")
	c = env.openConsole(id, 0)
	c.run("head -c 17 /dev/vdb; echo", "FERRITE-SECRET-42")
	// The second encrypted volume, attached at this start (the guest names disks in PCI order).
	c.run("cat /sys/block/vdc/size", "98304")
	env.waitFor(id, "every volume attached", func(m *runtimev1alpha1.Machine) bool {
		for _, vs := range m.GetStatus().GetVolumes() {
			if vs.GetState() != runtimev1alpha1.AttachmentState_ATTACHMENT_STATE_ATTACHED {
				return false
			}
		}
		return true
	})

	// Delete: no domain, no secrets.
	env.delete(id)
	if got := machineSecrets(t, e.lv, id); len(got) != 0 {
		t.Errorf("secrets left after the deletion: %v", got)
	}
}

// liveXML is the XML of machine id's running domain.
func liveXML(t *testing.T, lv *libvirt.Connect, id string) string {
	t.Helper()
	var out string
	if err := withDomain(lv, id, func(dom *libvirt.Domain) error {
		var err error
		out, err = dom.GetXMLDesc(0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen", what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// restartLibvirtd stops the libvirtd of hack/libvirt-up.sh and starts it again; e.lv reconnects.
func restartLibvirtd(t *testing.T, e *e2e) {
	t.Helper()
	pidData, err := os.ReadFile(filepath.Join(envOr("LV_STATE", "/tmp/ferrite-libvirt"), "libvirtd.pid"))
	if err != nil {
		t.Skipf("libvirtd was not started by hack/libvirt-up.sh (%v): not restarting it", err)
	}
	if out, err := exec.Command("kill", strings.TrimSpace(string(pidData))).CombinedOutput(); err != nil {
		t.Fatalf("kill libvirtd: %v %s", err, out)
	}
	_, file, _, _ := runtime.Caller(0)
	up := filepath.Join(filepath.Dir(file), "..", "..", "hack", "libvirt-up.sh")
	// libvirt-up.sh keeps a libvirtd that still answers: wait for the old one to go first.
	waitUntil(t, "libvirtd stopped", func() bool {
		return exec.Command("kill", "-0", strings.TrimSpace(string(pidData))).Run() != nil
	})
	if out, err := exec.Command(up).CombinedOutput(); err != nil {
		t.Fatalf("hack/libvirt-up.sh: %v\n%s", err, out)
	}
	e.lv.Close()
	if e.lv, err = libvirt.NewConnect(systemURI); err != nil {
		t.Fatal(err)
	}
}
