package volume_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	fakeclient "sigs.k8s.io/controller-runtime/pkg/client/fake"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/broker/brokertest"
	brokervolume "github.com/ferrite-dev/ferrite/broker/volume"
	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
	"github.com/ferrite-dev/ferrite/poollet/poollettest"
	"github.com/ferrite-dev/ferrite/poollet/runtime/volume/fake"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/volume"
)

// lower is the lower cluster every test shares.
var lower *testserver.Server

func TestMain(m *testing.M) { poollettest.Main(m, "ferrite-volumebroker-test-", &lower) }

var (
	waitFor = poollettest.WaitFor
	unique  = poollettest.Unique
)

// keyNamespace is the lower volumepoollets' key namespace.
const keyNamespace = "ferrite-system"

// lowerPool is a lower VolumePool served by a volumepoollet over the fake runtime.
type lowerPool struct {
	name    string
	runtime *fake.Server
}

// startLowerPool runs a lower volumepoollet for pool (labels poolLabels) over a new fake
// runtime of totalBytes; its Secrets go to secrets (the standalone apiserver serves none).
func startLowerPool(t *testing.T, pool string, poolLabels map[string]string, totalBytes uint64, secrets client.Client) *lowerPool {
	t.Helper()
	rt := fake.New(fake.Options{TotalBytes: totalBytes, AvailableDelay: 100 * time.Millisecond})
	endpoint, _ := poollettest.ServeRuntime(t, "vbl", rt.Serve)
	startVolumepoollet(t, lower, endpoint, volume.Options{PoolName: pool, PoolLabels: poolLabels, ProviderID: "fake://" + pool}, secrets)
	return &lowerPool{name: pool, runtime: rt}
}

// startVolumepoollet runs an unchanged volumepoollet against server over the runtime at
// endpoint.
func startVolumepoollet(t *testing.T, server *testserver.Server, endpoint string, opts volume.Options, secrets client.Client) {
	t.Helper()
	opts.KeyNamespace = keyNamespace
	opts.HeartbeatInterval, opts.RuntimeTimeout = 300*time.Millisecond, 10*time.Second
	opts.Recheck, opts.OrphanSweepInterval = 300*time.Millisecond, time.Second
	conn := poollettest.Dial(t, endpoint)
	mgr, err := volume.NewManager(server.Config, opts.PoolName, poollettest.ManagerOptions())
	if err != nil {
		t.Fatal(err)
	}
	p := &volume.Poollet{Runtime: runtimev1alpha1.NewVolumeRuntimeClient(conn), Recorder: &poollettest.Recorder{}, Secrets: secrets, Options: opts}
	if err := p.Setup(mgr); err != nil {
		t.Fatal(err)
	}
	poollettest.Start(t, mgr, conn)
}

// startScheduler runs the volume scheduler of server until the test ends.
func startScheduler(t *testing.T, server *testserver.Server) {
	t.Helper()
	brokertest.StartScheduler(t, server, controllermanager.AddVolumeScheduler)
}

// startBroker serves a broker over the lower cluster on a unix socket and returns a client.
func startBroker(t *testing.T, opts brokervolume.Options, secrets client.Reader) (runtimev1alpha1.VolumeRuntimeClient, string) {
	t.Helper()
	b, err := brokervolume.New(lower.Client, secrets, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	endpoint, _ := poollettest.ServeRuntime(t, "vbk", func(path string) (func(), error) { return b.Serve(ctx, path) })
	conn := poollettest.Dial(t, endpoint)
	t.Cleanup(func() { conn.Close() })
	return runtimev1alpha1.NewVolumeRuntimeClient(conn), endpoint
}

// createClass creates a VolumeClass on server.
func createClass(t *testing.T, server *testserver.Server, name string, policy storagev1alpha1.ResizePolicy, encrypted bool) {
	t.Helper()
	class := &storagev1alpha1.VolumeClass{
		ObjectMeta:   metav1.ObjectMeta{Name: name},
		Capabilities: corev1.ResourceList{"iops": resource.MustParse("1000"), "tps": resource.MustParse("10M")},
		ResizePolicy: policy,
	}
	if encrypted {
		class.Encryption = &storagev1alpha1.VolumeEncryption{Format: storagev1alpha1.EncryptionFormatLUKS2}
	}
	if _, err := server.Client.StorageV1alpha1().VolumeClasses().Create(context.Background(), class, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func newSecrets() client.Client {
	return fakeclient.NewClientBuilder().WithScheme(volume.NewScheme()).Build()
}

func secretData(t *testing.T, secrets client.Client, namespace, name string) map[string][]byte {
	t.Helper()
	s := &corev1.Secret{}
	if err := secrets.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
		t.Fatalf("secret %s/%s: %v", namespace, name, err)
	}
	return s.Data
}
