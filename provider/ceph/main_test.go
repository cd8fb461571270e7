package ceph

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"
	"github.com/google/go-containerregistry/pkg/registry"
	"k8s.io/klog/v2"

	api "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/provider/image"
)

// The tests run against a real single-node Ceph cluster that TestMain starts with
// hack/ceph-up.sh (its own directory and ports) and stops with hack/ceph-down.sh. Without root,
// or when Ceph cannot be installed or started, every test is skipped with the reason.

const (
	testCephBase = "/tmp/ferrite-ceph-provider-test"
	testPool     = "rbd"
	// testMonV1Port is outside 6800-7300, where the OSDs and mgrs of every cluster on the
	// machine bind.
	testMonV1Port = "6792"
)

var (
	testConf   string // ceph.conf of the test cluster; "" when there is none
	skipReason string
	instances  atomic.Int32
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if os.Getuid() != 0 {
		skipReason = "not root: the Ceph tests start a cluster with hack/ceph-up.sh"
		return m.Run()
	}
	_, file, _, _ := runtime.Caller(0)
	hack := filepath.Join(filepath.Dir(file), "..", "..", "hack")
	env := append(os.Environ(), "CEPH_BASE="+testCephBase, "MON_V2_PORT=3320", "MON_V1_PORT="+testMonV1Port)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	up := exec.CommandContext(ctx, filepath.Join(hack, "ceph-up.sh"))
	up.Env = env
	var out bytes.Buffer
	up.Stdout, up.Stderr = &out, &out
	if err := up.Run(); err != nil {
		skipReason = fmt.Sprintf("hack/ceph-up.sh failed (%v): %s", err, lastLines(out.String(), 5))
		return m.Run()
	}
	testConf = filepath.Join(testCephBase, "ceph.conf")
	code := m.Run()
	if os.Getenv("KEEP_CEPH") == "" {
		down := exec.Command(filepath.Join(hack, "ceph-down.sh"))
		down.Env = env
		_ = down.Run()
	}
	return code
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// needCeph skips the test when there is no cluster.
func needCeph(t *testing.T) {
	t.Helper()
	if testConf == "" {
		t.Skip(skipReason)
	}
}

// testEnv is one test's provider on the shared cluster, under an instance of its own.
type testEnv struct {
	t        *testing.T
	opts     Options
	p        *Provider
	admin    *rados.Conn
	ioctx    *rados.IOContext
	registry string // host:port of the test registry
}

// newEnv starts a provider under a fresh instance; modify adjusts the options first.
func newEnv(t *testing.T, modify ...func(*Options)) *testEnv {
	t.Helper()
	needCeph(t)
	images, err := image.NewStore(image.StoreOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t}
	e.opts = Options{
		ConfPath: testConf,
		Pool:     testPool,
		Instance: fmt.Sprintf("t%d-%d", os.Getpid()%10000, instances.Add(1)),
		Images:   images,
		TmpDir:   t.TempDir(),
		Log:      klog.Background(),
	}
	for _, m := range modify {
		m(&e.opts)
	}
	e.p = e.start(e.opts)
	e.admin, err = rados.NewConnWithUser("admin")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.admin.ReadConfigFile(testConf); err != nil {
		t.Fatal(err)
	}
	if err := e.admin.Connect(); err != nil {
		t.Fatal(err)
	}
	e.ioctx, err = e.admin.OpenIOContext(testPool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ioctx.Destroy(); e.admin.Shutdown() })
	return e
}

// start makes and starts a provider with opts, closed at the test's end.
func (e *testEnv) start(opts Options) *Provider {
	e.t.Helper()
	p, err := New(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		p.Close()
		e.t.Fatal(err)
	}
	e.t.Cleanup(p.Close)
	return p
}

// restart closes the provider and starts a new one with the same instance (options changed by
// modify).
func (e *testEnv) restart(modify ...func(*Options)) {
	e.t.Helper()
	e.p.Close()
	opts := e.opts
	for _, m := range modify {
		m(&opts)
	}
	e.p = e.start(opts)
}

// pushImage serves a registry (once per env) and pushes a raw root disk of the given content.
func (e *testEnv) pushImage(name string, rootDisk []byte) string {
	e.t.Helper()
	if e.registry == "" {
		srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
		e.t.Cleanup(srv.Close)
		e.registry = strings.TrimPrefix(srv.URL, "http://")
		store, err := image.NewStore(image.StoreOptions{Dir: e.t.TempDir(), PlainHTTPRegistries: []string{e.registry}})
		if err != nil {
			e.t.Fatal(err)
		}
		e.opts.Images = store
		e.restart()
	}
	path := filepath.Join(e.t.TempDir(), "root.raw")
	if err := os.WriteFile(path, rootDisk, 0o644); err != nil {
		e.t.Fatal(err)
	}
	ref := e.registry + "/test/" + name + ":latest"
	if _, err := image.Push(context.Background(), ref, image.PushFiles{RootDisk: path}, image.WithPlainHTTP()); err != nil {
		e.t.Fatal(err)
	}
	return ref
}

// create creates a volume and fails the test on error.
func (e *testEnv) create(id string, spec *api.VolumeSpec) *api.Volume {
	e.t.Helper()
	resp, err := e.p.CreateVolume(context.Background(), &api.CreateVolumeRequest{Volume: &api.Volume{
		Metadata: &api.ObjectMetadata{Id: id, Labels: map[string]string{"test": e.t.Name()}},
		Spec:     spec,
	}})
	if err != nil {
		e.t.Fatalf("CreateVolume %s: %v", id, err)
	}
	return resp.GetVolume()
}

// snapshot snapshots a volume.
func (e *testEnv) snapshot(id, volumeID string) *api.Snapshot {
	e.t.Helper()
	resp, err := e.p.CreateSnapshot(context.Background(), &api.CreateSnapshotRequest{Snapshot: &api.Snapshot{
		Metadata: &api.ObjectMetadata{Id: id},
		Spec:     &api.SnapshotSpec{VolumeId: volumeID},
	}})
	if err != nil {
		e.t.Fatalf("CreateSnapshot %s: %v", id, err)
	}
	return resp.GetSnapshot()
}

// openAs opens an image as the cephx user (without "client.") with key.
func (e *testEnv) openAs(user, key, imageName string) (*rbd.Image, func(), error) {
	e.t.Helper()
	c, err := rados.NewConnWithUser(user)
	if err != nil {
		return nil, nil, err
	}
	if err := c.ReadConfigFile(testConf); err != nil {
		return nil, nil, err
	}
	if err := c.SetConfigOption("key", key); err != nil {
		return nil, nil, err
	}
	// Quiet: the EPERMs a test expects would be logged.
	if err := c.SetConfigOption("err_to_stderr", "false"); err != nil {
		return nil, nil, err
	}
	if err := c.Connect(); err != nil {
		return nil, nil, err
	}
	ioctx, err := c.OpenIOContext(testPool)
	if err != nil {
		c.Shutdown()
		return nil, nil, err
	}
	img, err := rbd.OpenImage(ioctx, imageName, rbd.NoSnapshot)
	if err != nil {
		ioctx.Destroy()
		c.Shutdown()
		return nil, nil, err
	}
	return img, func() { img.Close(); ioctx.Destroy(); c.Shutdown() }, nil
}

// openAdmin opens an image as admin; closed at the test's end.
func (e *testEnv) openAdmin(name string) *rbd.Image {
	e.t.Helper()
	img, err := rbd.OpenImage(e.ioctx, name, rbd.NoSnapshot)
	if err != nil {
		e.t.Fatalf("open %s: %v", name, err)
	}
	e.t.Cleanup(func() { img.Close() })
	return img
}

// readAt reads n bytes at off of img.
func readAt(t *testing.T, img *rbd.Image, off int64, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := img.ReadAt(b, off); err != nil {
		t.Fatalf("read %s at %d: %v", img.GetName(), off, err)
	}
	return b
}

// writeAt writes b at off of img.
func writeAt(t *testing.T, img *rbd.Image, off int64, b []byte) {
	t.Helper()
	if _, err := img.WriteAt(b, off); err != nil {
		t.Fatalf("write %s at %d: %v", img.GetName(), off, err)
	}
	if err := img.Flush(); err != nil {
		t.Fatal(err)
	}
}

// imageNames lists this env's images.
func (e *testEnv) imageNames() []string {
	e.t.Helper()
	all, err := rbd.GetImageNames(e.ioctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var mine []string
	for _, n := range all {
		if strings.HasPrefix(n, e.p.names.prefix) {
			mine = append(mine, n)
		}
	}
	return mine
}

// eventually retries cond until it holds or 20 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
