package disk

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const mib = 1 << 20

func needQemuImg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(QemuImg); err != nil {
		t.Skip("qemu-img is not installed (Debian: qemu-utils)")
	}
}

func TestCreateOverlay(t *testing.T) {
	needQemuImg(t)
	ctx := context.Background()
	dir := t.TempDir()
	base := filepath.Join(dir, "base.raw")
	if err := os.WriteFile(base, []byte("base data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(base, 16*mib); err != nil {
		t.Fatal(err)
	}

	// 0 and a smaller size keep the base's size.
	small := filepath.Join(dir, "small.qcow2")
	if err := CreateOverlay(ctx, small, base, "raw", 1*mib); err != nil {
		t.Fatal(err)
	}
	if got := mustSize(t, small); got != 16*mib {
		t.Errorf("overlay size %d, want the base's %d", got, 16*mib)
	}

	overlay := filepath.Join(dir, "root.qcow2")
	if err := CreateOverlay(ctx, overlay, base, "raw", 64*mib); err != nil {
		t.Fatal(err)
	}
	if got := mustSize(t, overlay); got != 64*mib {
		t.Errorf("overlay size %d, want %d", got, 64*mib)
	}
	// The overlay reads the base's data through qemu-img's own view of it.
	head := filepath.Join(dir, "head")
	out, err := exec.Command(QemuImg, "dd", "-f", "qcow2", "-O", "raw", "if="+overlay, "of="+head, "bs=9", "count=1").CombinedOutput()
	if err == nil {
		out, err = os.ReadFile(head)
	}
	if err != nil || !strings.HasPrefix(string(out), "base data") {
		t.Errorf("overlay reads %q (%v), want the base's data", out, err)
	}

	// Again: kept (same file), and grown when asked for more.
	before, _ := os.Stat(overlay)
	if err := CreateOverlay(ctx, overlay, base, "raw", 64*mib); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(overlay)
	if !os.SameFile(before, after) {
		t.Error("a second CreateOverlay replaced the overlay")
	}
	if err := CreateOverlay(ctx, overlay, base, "raw", 128*mib); err != nil {
		t.Fatal(err)
	}
	if got := mustSize(t, overlay); got != 128*mib {
		t.Errorf("regrown overlay size %d, want %d", got, 128*mib)
	}

	// Another backing: an error, the overlay untouched.
	other := filepath.Join(dir, "other.raw")
	os.WriteFile(other, nil, 0o644)
	os.Truncate(other, mib)
	if err := CreateOverlay(ctx, overlay, other, "raw", 0); err == nil || !strings.Contains(err.Error(), other) {
		t.Errorf("CreateOverlay on another backing: %v", err)
	}
	// A qcow2 base.
	chained := filepath.Join(dir, "chained.qcow2")
	if err := CreateOverlay(ctx, chained, overlay, "qcow2", 0); err != nil {
		t.Fatal(err)
	}
	if got := mustSize(t, chained); got != 128*mib {
		t.Errorf("overlay of a qcow2 base: size %d", got)
	}
	if err := CreateOverlay(ctx, filepath.Join(dir, "x"), base, "vmdk", 0); err == nil {
		t.Error("CreateOverlay accepted backing format vmdk")
	}
	noTemps(t, dir)
}

func TestCreateEmptyAndResize(t *testing.T) {
	needQemuImg(t)
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "data.qcow2")
	if err := CreateEmpty(ctx, path, 10*mib); err != nil {
		t.Fatal(err)
	}
	if err := CreateEmpty(ctx, path, 10*mib); err != nil {
		t.Fatal(err)
	}
	if got := mustSize(t, path); got != 10*mib {
		t.Errorf("size %d", got)
	}
	if err := Resize(ctx, path, 20*mib); err != nil {
		t.Fatal(err)
	}
	if err := Resize(ctx, path, 20*mib); err != nil {
		t.Fatalf("same size: %v", err)
	}
	if got := mustSize(t, path); got != 20*mib {
		t.Errorf("resized size %d", got)
	}
	err := Resize(ctx, path, 5*mib)
	if err == nil || !strings.Contains(err.Error(), "20971520") || !strings.Contains(err.Error(), "5242880") {
		t.Errorf("shrink error %v does not name both sizes", err)
	}
	// A file that is not qcow2 is never taken for one nor replaced.
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("not a disk"), 0o644)
	if err := CreateEmpty(ctx, junk, mib); err == nil {
		t.Error("CreateEmpty accepted a file that is not qcow2")
	}
	if b, _ := os.ReadFile(junk); string(b) != "not a disk" {
		t.Error("CreateEmpty changed a foreign file")
	}
	if _, err := VirtualSize(ctx, filepath.Join(dir, "missing")); !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("VirtualSize of a missing file: %v", err)
	}
	noTemps(t, dir)
}

func TestCreateFailsCleanly(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	// A backing file that does not exist: qemu-img fails and nothing is left behind.
	err := CreateOverlay(context.Background(), filepath.Join(dir, "o.qcow2"), filepath.Join(dir, "nope.raw"), "raw", 0)
	if err == nil {
		t.Fatal("no error for a missing backing file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("files left after a failed create: %v", entries)
	}
}

func mustSize(t *testing.T, path string) uint64 {
	t.Helper()
	n, err := VirtualSize(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func noTemps(t *testing.T, dir string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}
