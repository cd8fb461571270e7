package nocloud

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdomanski/iso9660"
)

func TestWriteReadBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cidata.iso")
	c := Config{
		InstanceID: "m-123",
		Hostname:   "web-0",
		UserData:   []byte("#cloud-config\nruncmd: [echo hi]\n"),
		NetworkInterfaces: []Interface{
			{Name: "eth0", MACAddress: "52:54:00:AA:bb:01", IPs: []string{"10.0.0.5/24", "fd00::5"}},
			{MACAddress: "52:54:00:aa:bb:02"},
		},
	}
	if err := Write(path, c); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	got := readISO(t, path)
	if got["user-data"] != string(c.UserData) {
		t.Errorf("user-data %q", got["user-data"])
	}
	if want := "instance-id: \"m-123\"\nlocal-hostname: \"web-0\"\n"; got["meta-data"] != want {
		t.Errorf("meta-data %q, want %q", got["meta-data"], want)
	}
	want := `version: 2
ethernets:
  "eth0":
    match:
      macaddress: "52:54:00:aa:bb:01"
    set-name: "eth0"
    addresses:
      - "10.0.0.5/24"
      - "fd00::5/128"
  "nic1":
    match:
      macaddress: "52:54:00:aa:bb:02"
    dhcp4: true
`
	if got["network-config"] != want {
		t.Errorf("network-config:\n%s\nwant:\n%s", got["network-config"], want)
	}

	// genisoimage's isoinfo, when present, is a second, independent reader.
	if _, err := exec.LookPath("isoinfo"); err == nil {
		out, err := exec.Command("isoinfo", "-d", "-i", path).CombinedOutput()
		if err != nil {
			t.Fatalf("isoinfo -d: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "Volume id: cidata") {
			t.Errorf("isoinfo -d does not show the label:\n%s", out)
		}
		out, err = exec.Command("isoinfo", "-l", "-i", path).CombinedOutput()
		if err != nil {
			t.Fatalf("isoinfo -l: %v\n%s", err, out)
		}
		for _, name := range []string{"USER-DATA;1", "META-DATA;1", "NETWORK-CONFIG;1"} {
			if !strings.Contains(strings.ToUpper(string(out)), name) {
				t.Errorf("isoinfo -l does not list %s:\n%s", name, out)
			}
		}
	}

	// Writing again replaces the drive whole.
	c.UserData = []byte("second")
	if err := Write(path, c); err != nil {
		t.Fatal(err)
	}
	if got := readISO(t, path); got["user-data"] != "second" {
		t.Errorf("rewritten user-data %q", got["user-data"])
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func readISO(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := iso9660.OpenImage(f)
	if err != nil {
		t.Fatal(err)
	}
	label, err := img.Label()
	if err != nil {
		t.Fatal(err)
	}
	if label != VolumeLabel {
		t.Errorf("label %q, want %q", label, VolumeLabel)
	}
	root, err := img.RootDir()
	if err != nil {
		t.Fatal(err)
	}
	children, err := root.GetChildren()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, c := range children {
		b, err := io.ReadAll(c.Reader())
		if err != nil {
			t.Fatal(err)
		}
		files[c.Name()] = string(b)
	}
	if len(files) != 3 {
		t.Errorf("files %v, want meta-data, user-data, network-config", files)
	}
	return files
}

func TestWriteRejects(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]Config{
		"InstanceID": {},
		"MACAddress": {InstanceID: "i", NetworkInterfaces: []Interface{{MACAddress: "nope"}}},
		"IPs[0]":     {InstanceID: "i", NetworkInterfaces: []Interface{{MACAddress: "52:54:00:00:00:01", IPs: []string{"10.0.0.300"}}}},
		"Name":       {InstanceID: "i", NetworkInterfaces: []Interface{{Name: "a", MACAddress: "52:54:00:00:00:01"}, {Name: "a", MACAddress: "52:54:00:00:00:02"}}},
	} {
		err := Write(filepath.Join(dir, "x.iso"), c)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v does not name the field", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.iso")); !os.IsNotExist(err) {
		t.Errorf("a rejected config left a file: %v", err)
	}
}
