package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// testRegistry is an in-process registry that counts blob downloads and can corrupt one blob.
type testRegistry struct {
	*httptest.Server
	host    string
	gets    sync.Map // blob digest -> *atomic.Int32
	corrupt atomic.Value
}

func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	reg := registry.New(registry.Logger(nopLogger()))
	tr := &testRegistry{}
	tr.corrupt.Store("")
	tr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if i := strings.Index(r.URL.Path, "/blobs/sha256:"); i >= 0 && r.Method == http.MethodGet {
			digest := r.URL.Path[i+len("/blobs/"):]
			n, _ := tr.gets.LoadOrStore(digest, new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
			if tr.corrupt.Load().(string) == digest {
				rec := httptest.NewRecorder()
				reg.ServeHTTP(rec, r)
				b := rec.Body.Bytes()
				b[len(b)/2] ^= 0xff
				w.Header().Set("Content-Length", rec.Header().Get("Content-Length"))
				w.WriteHeader(rec.Code)
				w.Write(b)
				return
			}
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(tr.Close)
	tr.host = strings.TrimPrefix(tr.URL, "http://")
	return tr
}

func (tr *testRegistry) blobGets(digest string) int32 {
	n, ok := tr.gets.Load(digest)
	if !ok {
		return 0
	}
	return n.(*atomic.Int32).Load()
}

func newTestStore(t *testing.T, dir string, plain ...string) *Store {
	t.Helper()
	s, err := NewStore(StoreOptions{Dir: dir, PlainHTTPRegistries: plain})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// guestFiles writes a fake root disk (mostly zeros), kernel and initramfs.
func guestFiles(t *testing.T, seed string) PushFiles {
	t.Helper()
	dir := t.TempDir()
	disk := make([]byte, 4<<20)
	copy(disk, "root disk "+seed)
	copy(disk[3<<20:], "late data")
	files := PushFiles{RootDisk: filepath.Join(dir, "root.raw"), Kernel: filepath.Join(dir, "vmlinuz"), Initramfs: filepath.Join(dir, "initrd"), Cmdline: "console=ttyS0 " + seed}
	for path, b := range map[string][]byte{files.RootDisk: disk, files.Kernel: []byte("kernel " + seed), files.Initramfs: []byte("initrd " + seed)} {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

func fileDigest(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func sameContent(t *testing.T, a, b string) {
	t.Helper()
	if fileDigest(t, a) != fileDigest(t, b) {
		t.Errorf("%s and %s differ", a, b)
	}
}

func TestPushPullAndCache(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	files := guestFiles(t, "one")
	ref := reg.host + "/guests/linux:v1"
	digest, err := Push(ctx, ref, files, WithPlainHTTP())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := newTestStore(t, dir, reg.host)
	img, err := s.Pull(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if img.Ref != ref || img.Digest != digest || img.RootDiskFormat != "raw" || img.RootDiskSize != 4<<20 || img.Cmdline != files.Cmdline {
		t.Errorf("image %+v", img)
	}
	sameContent(t, img.RootDisk, files.RootDisk)
	sameContent(t, img.Kernel, files.Kernel)
	sameContent(t, img.Initramfs, files.Initramfs)
	for _, p := range []string{img.RootDisk, img.Kernel, img.Initramfs} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o644 || !filepath.IsAbs(p) {
			t.Errorf("%s: %v, mode %v", p, err, st.Mode())
		}
	}
	// The mostly zero disk is stored sparse.
	st, _ := os.Stat(img.RootDisk)
	if blocks := st.Sys().(*syscall.Stat_t).Blocks * 512; blocks > 1<<20 {
		t.Errorf("root disk takes %d bytes on disk, want it sparse", blocks)
	}

	// A second pull by tag asks for the manifest but downloads nothing.
	rootDigest := fileDigest(t, files.RootDisk)
	if _, err := s.Pull(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if n := reg.blobGets(rootDigest); n != 1 {
		t.Errorf("root disk downloaded %d times, want 1", n)
	}

	// Without the registry: by digest, and from a new Store on the same directory (a restart).
	reg.Close()
	byDigest := reg.host + "/guests/linux@" + digest
	img2, err := s.Pull(ctx, byDigest)
	if err != nil {
		t.Fatalf("pull by digest without the registry: %v", err)
	}
	if img2.Ref != byDigest || img2.RootDisk != img.RootDisk {
		t.Errorf("image %+v", img2)
	}
	s2 := newTestStore(t, dir, reg.host)
	cached, ok := s2.Cached(digest)
	if !ok || cached.Kernel != img.Kernel || cached.Cmdline != files.Cmdline || cached.RootDiskSize != img.RootDiskSize {
		t.Errorf("Cached after a restart: %+v, %v", cached, ok)
	}
	if _, err := s2.Pull(ctx, byDigest); err != nil {
		t.Errorf("pull by digest after a restart: %v", err)
	}
	if _, ok := s2.Cached("sha256:" + strings.Repeat("0", 64)); ok {
		t.Error("Cached found an unknown digest")
	}
	if _, ok := s2.Cached("../../etc/passwd"); ok {
		t.Error("Cached accepted a path")
	}
	// By tag, the registry is needed, and its absence is transient, not "not found".
	if _, err := s2.Pull(ctx, ref); err == nil || IsNotFound(err) {
		t.Errorf("pull by tag without the registry: %v", err)
	}
}

func TestConcurrentPullsDownloadOnce(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	files := guestFiles(t, "many")
	ref := reg.host + "/guests/linux:v1"
	if _, err := Push(ctx, ref, files, WithPlainHTTP()); err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t, t.TempDir(), reg.host)
	var wg sync.WaitGroup
	imgs := make([]*Image, 8)
	errs := make([]error, 8)
	for i := range imgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			imgs[i], errs[i] = s.Pull(ctx, ref)
		}()
	}
	wg.Wait()
	for i := range imgs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if imgs[i].RootDisk != imgs[0].RootDisk {
			t.Errorf("pull %d: %s", i, imgs[i].RootDisk)
		}
	}
	for _, p := range []string{files.RootDisk, files.Kernel, files.Initramfs} {
		if n := reg.blobGets(fileDigest(t, p)); n != 1 {
			t.Errorf("%s downloaded %d times, want 1", filepath.Base(p), n)
		}
	}
}

func TestPullErrors(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	files := guestFiles(t, "x")
	if _, err := Push(ctx, reg.host+"/guests/linux:v1", files, WithPlainHTTP()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := newTestStore(t, dir, reg.host)

	for _, ref := range []string{reg.host + "/guests/linux:nope", reg.host + "/nobody/here:v1", reg.host + "/guests/linux@sha256:" + strings.Repeat("1", 64)} {
		if _, err := s.Pull(ctx, ref); !IsNotFound(err) {
			t.Errorf("%s: %v, want not found", ref, err)
		}
	}

	// A container image is not a Ferrite image, and that is not "not found".
	ctr, _ := random.Image(100, 1)
	ctrRef, _ := name.ParseReference(reg.host+"/containers/app:v1", name.Insecure)
	if err := remote.Write(ctrRef, ctr); err != nil {
		t.Fatal(err)
	}
	_, err := s.Pull(ctx, ctrRef.String())
	if !errors.Is(err, ErrNotAnImage) || IsNotFound(err) || !strings.Contains(err.Error(), "media type") {
		t.Errorf("container image: %v", err)
	}

	// A registry spoken to over plain HTTP without being listed is refused.
	strict := newTestStore(t, t.TempDir())
	if _, err := strict.Pull(ctx, reg.host+"/guests/linux:v1"); err == nil || !strings.Contains(err.Error(), "plain HTTP") {
		t.Errorf("unlisted plain HTTP registry: %v", err)
	}

	// A corrupted blob is rejected and leaves nothing under a final name.
	files2 := guestFiles(t, "corrupt")
	if _, err := Push(ctx, reg.host+"/guests/linux:v2", files2, WithPlainHTTP()); err != nil {
		t.Fatal(err)
	}
	rootDigest := fileDigest(t, files2.RootDisk)
	reg.corrupt.Store(rootDigest)
	if _, err := s.Pull(ctx, reg.host+"/guests/linux:v2"); err == nil || IsNotFound(err) {
		t.Errorf("corrupted blob: %v", err)
	} else {
		t.Logf("corrupted blob: %v", err)
	}
	if _, err := os.Stat(s.blobPath(rootDigest)); !os.IsNotExist(err) {
		t.Errorf("corrupted root disk cached: %v", err)
	}
	if tmps, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmps) != 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
	// Served right again, the same pull succeeds.
	reg.corrupt.Store("")
	img, err := s.Pull(ctx, reg.host+"/guests/linux:v2")
	if err != nil {
		t.Fatal(err)
	}
	sameContent(t, img.RootDisk, files2.RootDisk)
}

func TestGC(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	a, b := guestFiles(t, "a"), guestFiles(t, "b")
	b.Kernel = a.Kernel // a shared blob
	digestA, err := Push(ctx, reg.host+"/g/a:v1", a, WithPlainHTTP())
	if err != nil {
		t.Fatal(err)
	}
	digestB, err := Push(ctx, reg.host+"/g/b:v1", b, WithPlainHTTP())
	if err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t, t.TempDir(), reg.host)
	imgA, err := s.Pull(ctx, reg.host+"/g/a:v1")
	if err != nil {
		t.Fatal(err)
	}
	imgB, err := s.Pull(ctx, reg.host+"/g/b:v1")
	if err != nil {
		t.Fatal(err)
	}
	inUse := func(d string) bool { return d == digestA }
	removed, err := s.GC(inUse, time.Hour)
	if err != nil || len(removed) != 0 {
		t.Fatalf("GC of fresh pulls removed %v, %v", removed, err)
	}
	removed, err = s.GC(inUse, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != digestB {
		t.Errorf("removed %v, want [%s]", removed, digestB)
	}
	for _, p := range []string{imgA.RootDisk, imgA.Kernel, imgA.Initramfs} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("in-use blob removed: %v", err)
		}
	}
	for _, p := range []string{imgB.RootDisk, imgB.Initramfs} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("unused blob %s kept: %v", p, err)
		}
	}
	if _, ok := s.Cached(digestB); ok {
		t.Error("removed image still cached")
	}
	if _, ok := s.Cached(digestA); !ok {
		t.Error("in-use image no longer cached")
	}
}

func TestPullFile(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, t.TempDir())
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	content := bytes.Repeat([]byte{0}, 1<<20)
	copy(content, "raw disk")
	if err := os.WriteFile(raw, content, 0o600); err != nil {
		t.Fatal(err)
	}
	img, err := s.Pull(ctx, "file://"+raw)
	if err != nil {
		t.Fatal(err)
	}
	if img.Digest != fileDigest(t, raw) || img.RootDiskFormat != "raw" || img.RootDiskSize != 1<<20 || img.Kernel != "" {
		t.Errorf("raw image %+v", img)
	}
	sameContent(t, img.RootDisk, raw)
	if _, err := s.Pull(ctx, "file://"+filepath.Join(dir, "missing")); !IsNotFound(err) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := s.Pull(ctx, "file://relative/path"); !errors.Is(err, ErrNotAnImage) {
		t.Errorf("relative file URL: %v", err)
	}

	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img is not installed (Debian: qemu-utils)")
	}
	qcow2 := filepath.Join(dir, "disk.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", qcow2, "64M").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	img, err = s.Pull(ctx, "file://"+qcow2)
	if err != nil {
		t.Fatal(err)
	}
	if img.RootDiskFormat != "qcow2" || img.RootDiskSize != 64<<20 || img.Digest != fileDigest(t, qcow2) {
		t.Errorf("qcow2 image %+v", img)
	}
	// A qcow2 disk naming a backing file would let its author read host files: refused.
	overlay := filepath.Join(dir, "overlay.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", raw, overlay).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if _, err := s.Pull(ctx, "file://"+overlay); !errors.Is(err, ErrNotAnImage) || !strings.Contains(err.Error(), "backing file") {
		t.Errorf("qcow2 with a backing file: %v", err)
	}
	if _, err := Push(ctx, "127.0.0.1:1/x:y", PushFiles{RootDisk: overlay}, WithPlainHTTP()); err == nil || !strings.Contains(err.Error(), "backing file") {
		t.Errorf("push of a qcow2 with a backing file: %v", err)
	}
}

func nopLogger() *log.Logger { return log.New(io.Discard, "", 0) }
