package volume_test

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	fakeclient "sigs.k8s.io/controller-runtime/pkg/client/fake"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/poollet/poollettest"
	"github.com/ferrite-dev/ferrite/poollet/runtime/volume/fake"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/volume"
)

var server *testserver.Server

func TestMain(m *testing.M) { poollettest.Main(m, "ferrite-volumepoollet-test-", &server) }

var (
	waitFor = poollettest.WaitFor
	unique  = poollettest.Unique
)

// env is one test's pool: a fake runtime on a unix socket, the poollet's options and the
// Secrets it writes (the standalone apiserver serves no core/v1 Secrets, so they are kept by an
// in-memory client; the poollet writes them through the same client interface).
type env struct {
	t        *testing.T
	options  volume.Options
	runtime  *fake.Server
	client   runtimev1alpha1.VolumeRuntimeClient
	stopRT   func()
	events   *poollettest.Recorder
	secrets  client.Client
	endpoint string
}

func newEnv(t *testing.T, pool string, opts fake.Options) *env {
	t.Helper()
	rt := fake.New(opts)
	endpoint, stop := poollettest.ServeRuntime(t, "vpl", rt.Serve)
	e := &env{t: t, runtime: rt, stopRT: stop, events: &poollettest.Recorder{}, endpoint: endpoint,
		secrets: fakeclient.NewClientBuilder().WithScheme(volume.NewScheme()).Build(),
		options: volume.Options{PoolName: pool, ProviderID: "fake://" + pool, KeyNamespace: "ferrite-system",
			HeartbeatInterval: 200 * time.Millisecond, RuntimeTimeout: 2 * time.Second, Recheck: 300 * time.Millisecond, OrphanSweepInterval: 300 * time.Millisecond}}
	conn := poollettest.Dial(t, endpoint)
	t.Cleanup(func() { conn.Close() })
	e.client = runtimev1alpha1.NewVolumeRuntimeClient(conn)
	return e
}

// start runs a poollet (its own manager and runtime connection) and returns the function that
// stops it, as killing the process would: nothing is cleaned up.
func (e *env) start() (stop func()) {
	t := e.t
	t.Helper()
	conn := poollettest.Dial(t, e.endpoint)
	mgr, err := volume.NewManager(server.Config, e.options.PoolName, poollettest.ManagerOptions())
	if err != nil {
		t.Fatal(err)
	}
	p := &volume.Poollet{Runtime: runtimev1alpha1.NewVolumeRuntimeClient(conn), Recorder: e.events, Secrets: e.secrets, Options: e.options}
	if err := p.Setup(mgr); err != nil {
		t.Fatal(err)
	}
	return poollettest.Start(t, mgr, conn)
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
