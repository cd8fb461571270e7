package volume_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	fakeclient "sigs.k8s.io/controller-runtime/pkg/client/fake"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/poollet/runtime/volume/fake"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/volume"
)

const timeout = 20 * time.Second

var server *testserver.Server

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferrite-volumepoollet-test-")
	if err != nil {
		panic(err)
	}
	if server, err = testserver.StartInDir(dir); err != nil {
		panic(err)
	}
	ctrllog.SetLogger(klog.Background())
	code := m.Run()
	server.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one test's pool: a fake runtime on a unix socket, the poollet's options and the
// Secrets it writes (the standalone apiserver serves no core/v1 Secrets, so they are kept by an
// in-memory client; the poollet writes them through the same client interface).
type env struct {
	t        *testing.T
	options  volume.Options
	runtime  *fake.Server
	client   runtimev1alpha1.VolumeRuntimeClient
	stopRT   func()
	events   *recorder
	secrets  client.Client
	endpoint string
}

func newEnv(t *testing.T, pool string, opts fake.Options) *env {
	t.Helper()
	dir, err := os.MkdirTemp("", "vpl") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	socket := filepath.Join(dir, "runtime.sock")
	rt := fake.New(opts)
	stop, err := rt.Serve(socket)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	e := &env{t: t, runtime: rt, stopRT: func() { once.Do(stop) }, events: &recorder{}, endpoint: "unix://" + socket,
		secrets: fakeclient.NewClientBuilder().WithScheme(volume.NewScheme()).Build(),
		options: volume.Options{PoolName: pool, ProviderID: "fake://" + pool, KeyNamespace: "ferrite-system",
			HeartbeatInterval: 200 * time.Millisecond, RuntimeTimeout: 2 * time.Second, Recheck: 300 * time.Millisecond, OrphanSweepInterval: 300 * time.Millisecond}}
	t.Cleanup(e.stopRT)
	conn, err := grpc.NewClient(e.endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	e.client = runtimev1alpha1.NewVolumeRuntimeClient(conn)
	return e
}

// start runs a poollet (its own manager and runtime connection) and returns the function that
// stops it, as killing the process would: nothing is cleaned up.
func (e *env) start() (stop func()) {
	t := e.t
	t.Helper()
	conn, err := grpc.NewClient(e.endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	skipNameValidation := true // several managers in one process
	mgr, err := volume.NewManager(server.Config, e.options.PoolName, manager.Options{
		Logger:                 klog.Background(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             ctrlconfig.Controller{SkipNameValidation: &skipNameValidation},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &volume.Poollet{Runtime: runtimev1alpha1.NewVolumeRuntimeClient(conn), Recorder: e.events, Secrets: e.secrets, Options: e.options}
	if err := p.Setup(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done; conn.Close() }) }
	t.Cleanup(stop)
	return stop
}

func (e *env) runtimeVolumes() []*runtimev1alpha1.Volume {
	e.t.Helper()
	list, err := e.client.ListVolumes(context.Background(), &runtimev1alpha1.ListVolumesRequest{})
	if err != nil {
		e.t.Fatal(err)
	}
	return list.GetVolumes()
}

func (e *env) runtimeSnapshots() []*runtimev1alpha1.Snapshot {
	e.t.Helper()
	list, err := e.client.ListSnapshots(context.Background(), &runtimev1alpha1.ListSnapshotsRequest{})
	if err != nil {
		e.t.Fatal(err)
	}
	return list.GetSnapshots()
}

// secret returns the Secret namespace/name the poollet wrote, nil when there is none.
func (e *env) secret(namespace, name string) *corev1.Secret {
	e.t.Helper()
	s := &corev1.Secret{}
	err := e.secrets.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, s)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// recorder keeps the events the poollet records.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) Eventf(regarding runtime.Object, _ runtime.Object, eventtype, reason, _, note string, args ...interface{}) {
	name := ""
	if a, err := meta.Accessor(regarding); err == nil {
		name = a.GetNamespace() + "/" + a.GetName()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("%s %s %s: %s", name, eventtype, reason, fmt.Sprintf(note, args...)))
}

// count returns how many recorded events start with prefix.
func (r *recorder) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if strings.HasPrefix(e, prefix) {
			n++
		}
	}
	return n
}

var runs atomic.Int32

// unique returns base with a suffix unique in the process, so that -count=N reruns use new
// pools and namespaces on the shared server.
func unique(base string) string {
	return fmt.Sprintf("%s-%d", base, runs.Add(1))
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// createClass creates a VolumeClass with 1000 IOPS and 10 MB/s, resize policy and encryption.
func createClass(t *testing.T, name string, policy storagev1alpha1.ResizePolicy, encrypted bool) {
	t.Helper()
	class := &storagev1alpha1.VolumeClass{
		ObjectMeta:   metav1.ObjectMeta{Name: name},
		Capabilities: corev1.ResourceList{"iops": resource.MustParse("1000"), "tps": resource.MustParse("10M")},
		ResizePolicy: policy,
	}
	if encrypted {
		class.Encryption = &storagev1alpha1.VolumeEncryption{Format: storagev1alpha1.EncryptionFormatLUKS2}
	}
	_, err := server.Client.StorageV1alpha1().VolumeClasses().Create(context.Background(), class, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func getPool(t *testing.T, name string) *storagev1alpha1.VolumePool {
	t.Helper()
	pool, err := server.Client.StorageV1alpha1().VolumePools().Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

// createVolume creates a Volume of class and size, changed by mutate, and binds it to pool by
// hand (the binding subresource, as the scheduler does).
func createVolume(t *testing.T, namespace, name, class, size, pool string, mutate func(*storagev1alpha1.Volume)) *storagev1alpha1.Volume {
	t.Helper()
	ctx := context.Background()
	v := &storagev1alpha1.Volume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: storagev1alpha1.VolumeSpec{VolumeClassRef: corev1.LocalObjectReference{Name: class},
			Resources: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
	}
	if mutate != nil {
		mutate(v)
	}
	volumes := server.Client.StorageV1alpha1().Volumes(namespace)
	if _, err := volumes.Create(ctx, v, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bound, err := volumes.Bind(ctx, name, &storagev1alpha1.VolumeBinding{Target: corev1.LocalObjectReference{Name: pool}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return bound
}

func getVolume(t *testing.T, namespace, name string) *storagev1alpha1.Volume {
	t.Helper()
	v, err := server.Client.StorageV1alpha1().Volumes(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func available(t *testing.T, namespace, name string) func() bool {
	return func() bool {
		v := getVolume(t, namespace, name)
		return v != nil && v.Status.State == storagev1alpha1.VolumeStateAvailable && v.Status.Access != nil &&
			meta.IsStatusConditionTrue(v.Status.Conditions, volume.ConditionReady)
	}
}

func hasFinalizer(obj metav1.Object) bool {
	return slices.Contains(obj.GetFinalizers(), volume.Finalizer)
}
