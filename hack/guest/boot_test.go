// Package guest holds the boot check of Ferrite's test guest (hack/make-guest-image.sh): it boots
// the guest under plain QEMU (TCG) on a qcow2 overlay of its root disk, with an Ignition config
// in fw_cfg and a NoCloud drive from provider/nocloud, and checks every marker the guest prints.
package guest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferrite-dev/ferrite/provider/disk"
	"github.com/ferrite-dev/ferrite/provider/nocloud"
)

const (
	guestMAC = "52:54:00:12:34:56"
	dhcpMAC  = "52:54:00:12:34:57"
)

func TestGuestBoots(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM under TCG (about a minute)")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 is not installed (Debian: qemu-system-x86)")
	}
	guestDir := buildGuest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	tmp := t.TempDir()

	// The root disk through a copy-on-write overlay, as the libvirt provider uses it.
	base := filepath.Join(guestDir, "root.raw")
	baseBefore := fileSum(t, base)
	overlay := filepath.Join(tmp, "root.qcow2")
	if err := disk.CreateOverlay(ctx, overlay, base, "raw", 64<<20); err != nil {
		t.Fatal(err)
	}
	ignition := `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/motd"}]}}`
	ignPath := filepath.Join(tmp, "ignition.json")
	os.WriteFile(ignPath, []byte(ignition), 0o644)
	userData := "#cloud-config\nruncmd:\n  - echo hello from user-data\n"
	iso := filepath.Join(tmp, "cidata.iso")
	err := nocloud.Write(iso, nocloud.Config{InstanceID: "boot-check", Hostname: "guest", UserData: []byte(userData),
		NetworkInterfaces: []nocloud.Interface{
			{Name: "eth0", MACAddress: guestMAC, IPs: []string{"10.9.0.5/24"}},
			{Name: "eth1", MACAddress: dhcpMAC}, // DHCP, from QEMU's user network
		}})
	if err != nil {
		t.Fatal(err)
	}
	cmdline, err := os.ReadFile(filepath.Join(guestDir, "cmdline"))
	if err != nil {
		t.Fatal(err)
	}
	qmpPath := filepath.Join(tmp, "qmp.sock")
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-smp", "1",
		"-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
		"-qmp", "unix:"+qmpPath+",server=on,wait=off",
		"-kernel", filepath.Join(guestDir, "vmlinuz"), "-initrd", filepath.Join(guestDir, "initrd.gz"),
		"-append", strings.TrimSpace(string(cmdline)),
		// restrict=on: the guest reaches neither the host nor any other address.
		"-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-pci,netdev=n0,mac="+guestMAC,
		"-netdev", "user,id=n1,restrict=on", "-device", "virtio-net-pci,netdev=n1,mac="+dhcpMAC,
		"-drive", "file="+overlay+",format=qcow2,if=virtio",
		"-drive", "file="+iso+",format=raw,if=virtio,readonly=on",
		"-fw_cfg", "name=opt/com.coreos/config,file="+ignPath)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	console := newConsole(stdout)
	defer func() {
		if t.Failed() {
			t.Logf("console:\n%s", console.all())
		}
	}()

	console.expect(t, "GUEST-UP ")
	t.Logf("GUEST-UP after %v", time.Since(start).Round(time.Millisecond))
	console.expect(t, "IGNITION-BEGIN")
	console.expect(t, ignition)
	console.expect(t, "IGNITION-END")
	console.expect(t, "NOCLOUD /dev/vd")
	console.expect(t, "USERDATA-BEGIN")
	console.expect(t, "runcmd:")
	console.expect(t, "  - echo hello from user-data")
	console.expect(t, "USERDATA-END")
	console.expect(t, "NET eth0 10.9.0.5/24")
	console.expect(t, "ROOTDISK /dev/vda FERRITE-ROOTDISK BOOT 1")
	console.expect(t, "LINKS")
	console.expect(t, "link/ether "+guestMAC)
	console.expect(t, "DISKS")
	console.expect(t, " vda")
	console.expect(t, " vdb")
	console.expect(t, "GUEST-READY")
	t.Logf("GUEST-READY after %v", time.Since(start).Round(time.Millisecond))

	console.eventually(t, "DHCP eth1 10.0.2.15/24") // in the background: before or after GUEST-READY

	// An interactive shell on the console that comes back after EOF (^D).
	io.WriteString(stdin, "echo SHELL-$((6*7))\n")
	console.expect(t, "SHELL-42")
	io.WriteString(stdin, "\x04")
	time.Sleep(time.Second)
	io.WriteString(stdin, "echo AGAIN-$((2+3))\n")
	console.expect(t, "AGAIN-5")

	// The ACPI power button, as libvirt's graceful shutdown presses it.
	powerButton(t, qmpPath)
	console.expect(t, "GUEST-POWEROFF")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("qemu: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the guest did not power off")
	}
	t.Logf("powered off after %v", time.Since(start).Round(time.Millisecond))
	if fileSum(t, base) != baseBefore {
		t.Error("the guest's writes reached the base image, not only the overlay")
	}
}

// buildGuest builds the guest with hack/guest-image.sh (kept between runs) and returns its dir.
func buildGuest(t *testing.T) string {
	t.Helper()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("FERRITE_GUEST_DIR")
	if dir == "" {
		dir = filepath.Join(repo, ".ferrite", "guest")
	}
	start := time.Now()
	out, err := exec.Command(filepath.Join(repo, "hack", "guest-image.sh"), "--dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("hack/guest-image.sh: %v\n%s", err, out)
	}
	t.Logf("guest image ready in %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(out)))
	return dir
}

// console is the guest's serial console, read line by line.
type console struct {
	lines chan string
	seen  []string
	next  int // seen[next:] are not yet matched by expect
}

func newConsole(r io.Reader) *console {
	c := &console{lines: make(chan string, 1024)}
	go func() {
		s := bufio.NewScanner(r)
		for s.Scan() {
			c.lines <- strings.TrimRight(s.Text(), "\r")
		}
		close(c.lines)
	}()
	return c
}

// expect waits for a line containing want after the line the last expect matched.
func (c *console) expect(t *testing.T, want string) {
	t.Helper()
	for ; ; c.next++ {
		if c.next == len(c.seen) && !c.read(t, want) {
			return
		}
		if strings.Contains(c.seen[c.next], want) {
			c.next++
			return
		}
	}
}

// eventually waits for a line containing want anywhere in the output, without moving expect on.
func (c *console) eventually(t *testing.T, want string) {
	t.Helper()
	for i := 0; ; i++ {
		if i == len(c.seen) && !c.read(t, want) {
			return
		}
		if strings.Contains(c.seen[i], want) {
			return
		}
	}
}

// read appends the next line to seen; it fails the test at the end of output or after 5 minutes.
func (c *console) read(t *testing.T, want string) bool {
	t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			t.Fatalf("console closed before %q", want)
			return false
		}
		c.seen = append(c.seen, line)
		return true
	case <-time.After(5 * time.Minute):
		t.Fatalf("no %q on the console", want)
		return false
	}
}

func (c *console) all() string { return strings.Join(c.seen, "\n") }

// powerButton presses the ACPI power button through QEMU's QMP socket.
func powerButton(t *testing.T, path string) {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dec := json.NewDecoder(conn)
	var greeting map[string]any
	if err := dec.Decode(&greeting); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"qmp_capabilities", "system_powerdown"} {
		if err := json.NewEncoder(conn).Encode(map[string]string{"execute": c}); err != nil {
			t.Fatal(err)
		}
		for {
			var reply map[string]any
			if err := dec.Decode(&reply); err != nil {
				t.Fatal(err)
			}
			if _, ok := reply["return"]; ok {
				break
			}
			if e, ok := reply["error"]; ok {
				t.Fatalf("QMP %s: %v", c, e)
			}
		}
	}
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("sha256sum", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))[0]
}
