package machine_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/broker/brokertest"
	broker "github.com/ferrite-dev/ferrite/broker/machine"
	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
	poollet "github.com/ferrite-dev/ferrite/poollet/machine"
	"github.com/ferrite-dev/ferrite/poollet/poollettest"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/capacity"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/fake"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// lowerServer is the lower cluster every test shares.
var lowerServer *testserver.Server

func TestMain(m *testing.M) { poollettest.Main(m, "ferrite-machinebroker-test-", &lowerServer) }

var (
	waitFor = poollettest.WaitFor
	unique  = poollettest.Unique
)

// class is the machine class the tests use, in both clusters.
const class = "mb-small"

// createClass creates the test class (1 vCPU, 1 GiB) in a cluster.
func createClass(t *testing.T, server *testserver.Server) {
	t.Helper()
	_, err := server.Client.ComputeV1alpha1().MachineClasses().Create(context.Background(), &computev1alpha1.MachineClass{
		ObjectMeta:   metav1.ObjectMeta{Name: class},
		Capabilities: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// secretReader serves Secrets from a kube clientset (the standalone apiserver has no core/v1
// Secrets) and everything else from the API.
type secretReader struct {
	client.Reader
	secrets *kubefake.Clientset
}

func (r secretReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if secret, ok := obj.(*corev1.Secret); ok {
		s, err := r.secrets.CoreV1().Secrets(key.Namespace).Get(ctx, key.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		s.DeepCopyInto(secret)
		return nil
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

// newSecrets is the lower cluster's kube clientset, for Secrets and Events (the standalone
// apiserver serves neither); like an apiserver, it sets a Secret's creation time.
func newSecrets() *kubefake.Clientset {
	secrets := kubefake.NewSimpleClientset()
	secrets.PrependReactor("create", "secrets", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if s, ok := action.(k8stesting.CreateAction).GetObject().(*corev1.Secret); ok && s.CreationTimestamp.IsZero() {
			s.CreationTimestamp = metav1.Now()
		}
		return false, nil, nil
	})
	return secrets
}

// eventRecorder records Events into clientset as a poollet does into its cluster: through a
// real events.k8s.io/v1 broadcaster, series and all.
func eventRecorder(t *testing.T, clientset *kubefake.Clientset, scheme *runtime.Scheme) events.EventRecorder {
	t.Helper()
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: clientset.EventsV1()})
	ctx, cancel := context.WithCancel(context.Background())
	if err := broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); broadcaster.Shutdown() })
	return broadcaster.NewRecorder(scheme, "machinepoollet")
}

// startPoollet runs an unchanged machinepoollet for pool in server over a new fake runtime with
// vcpus vCPUs (a GiB of memory each), and returns the runtime. With secrets (a lower pool), the
// poollet records its Events into secrets, where the broker reads them.
func startPoollet(t *testing.T, server *testserver.Server, pool string, labels map[string]string, vcpus uint64, secrets *kubefake.Clientset, endpoint string) *fake.Server {
	t.Helper()
	return startPoolletRecording(t, server, pool, labels, vcpus, secrets, endpoint, nil)
}

// startPoolletRecording is startPoollet with the poollet's event recorder (nil: the default).
func startPoolletRecording(t *testing.T, server *testserver.Server, pool string, labels map[string]string, vcpus uint64, secrets *kubefake.Clientset, endpoint string, recorder events.EventRecorder) *fake.Server {
	t.Helper()
	var rt *fake.Server
	if endpoint == "" {
		rt = fake.New(fake.Options{Capacity: capacity.Resources{VCPUs: vcpus, MemoryBytes: vcpus << 30}, StartDelay: 50 * time.Millisecond})
		endpoint, _ = poollettest.ServeRuntime(t, "mbl", rt.Serve)
	}
	conn := poollettest.Dial(t, endpoint)
	mgr, err := poollet.NewManager(server.Config, pool, poollettest.ManagerOptions())
	if err != nil {
		t.Fatal(err)
	}
	if recorder == nil {
		recorder = &poollettest.Recorder{}
		if secrets != nil {
			recorder = eventRecorder(t, secrets, mgr.GetScheme())
		}
	}
	p := &poollet.Poollet{
		Runtime:  runtimev1alpha1.NewMachineRuntimeClient(conn),
		Recorder: recorder,
		Options: poollet.Options{PoolName: pool, ProviderID: "fake://" + pool, PoolLabels: labels, RuntimeEndpoint: "",
			HeartbeatInterval: 200 * time.Millisecond, RuntimeTimeout: 5 * time.Second, DeviceRecheck: 300 * time.Millisecond,
			OrphanSweepInterval: time.Second, StatusInterval: time.Second},
	}
	if secrets != nil {
		p.APIReader = secretReader{Reader: mgr.GetAPIReader(), secrets: secrets}
	}
	if err := p.Setup(mgr); err != nil {
		t.Fatal(err)
	}
	poollettest.Start(t, mgr, conn)
	return rt
}

// env is one test's lower namespace, lower pool and broker.
type env struct {
	t       *testing.T
	ns      string
	labels  map[string]string
	secrets *kubefake.Clientset
	lowerRT *fake.Server
	broker  *broker.Broker
	// stopBroker stops the running broker as a killed process would.
	stopBroker func()
	endpoint   string
	client     runtimev1alpha1.MachineRuntimeClient
}

// newEnv starts a lower pool of 4 vCPUs labelled for this test, and a broker over it.
func newEnv(t *testing.T) *env {
	t.Helper()
	ns := unique("mb")
	e := &env{t: t, ns: ns, labels: map[string]string{"broker-test": ns}, secrets: newSecrets()}
	createClass(t, lowerServer)
	brokertest.StartScheduler(t, lowerServer, controllermanager.AddMachineScheduler)
	e.lowerRT = startPoollet(t, lowerServer, ns+"-a", e.labels, 4, e.secrets, "")
	e.startBroker()
	// The lower pool reports its allocatable before machines are created.
	waitFor(t, "the lower pool's allocatable", func() bool { return e.available() > 0 })
	return e
}

// startBroker starts a broker over the env's namespace and points e.client at it; the
// returned function stops it as a killed process would (informers and socket gone).
func (e *env) startBroker() (stop func()) {
	t := e.t
	t.Helper()
	b, err := broker.New(broker.Options{
		Client: lowerServer.Client, Secrets: e.secrets, Events: e.secrets, Namespace: e.ns,
		MachinePoolSelector: e.labels, Classes: []string{class},
		SweepInterval: 200 * time.Millisecond, SweepGrace: time.Second, Resync: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e.broker = b
	var stopServing func()
	e.endpoint, stopServing = poollettest.ServeRuntime(t, "mb", func(path string) (func(), error) { return b.Serve(ctx, path) })
	conn := poollettest.Dial(t, e.endpoint)
	t.Cleanup(func() { conn.Close() })
	e.client = runtimev1alpha1.NewMachineRuntimeClient(conn)
	e.stopBroker = func() { stopServing(); cancel(); conn.Close() }
	return e.stopBroker
}

// available is the broker's Status room for the test class.
func (e *env) available() uint64 {
	resp, err := e.client.Status(context.Background(), &runtimev1alpha1.StatusRequest{Classes: []*runtimev1alpha1.MachineClass{
		{Name: class, Resources: &runtimev1alpha1.MachineResources{Vcpus: 1, MemoryBytes: 1 << 30}}}})
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.GetClasses()[0].GetAvailable()
}

// runtimeMachine returns the broker's machine with id, nil when it has none.
func (e *env) runtimeMachine(id string) *runtimev1alpha1.Machine {
	e.t.Helper()
	list, err := e.client.ListMachines(context.Background(), &runtimev1alpha1.ListMachinesRequest{Filter: &runtimev1alpha1.MachineFilter{Id: id}})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(list.GetMachines()) == 0 {
		return nil
	}
	return list.GetMachines()[0]
}

func (e *env) state(id string) runtimev1alpha1.MachineState {
	return e.runtimeMachine(id).GetStatus().GetState()
}

// lowerCount counts the lower objects of a kind labelled with id.
func (e *env) lowerMachines(id string) []computev1alpha1.Machine {
	e.t.Helper()
	list, err := lowerServer.Client.ComputeV1alpha1().Machines(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: broker.LabelID + "=" + broker.Ref(id)})
	if err != nil {
		e.t.Fatal(err)
	}
	return list.Items
}

// spec is a runtime machine spec of the test class booting image.
func spec() *runtimev1alpha1.MachineSpec {
	return &runtimev1alpha1.MachineSpec{
		Class:     class,
		Resources: &runtimev1alpha1.MachineResources{Vcpus: 1, MemoryBytes: 1 << 30},
		RootDisk:  &runtimev1alpha1.RootDisk{Image: "ghcr.io/ferrite-dev/os:1"},
	}
}
