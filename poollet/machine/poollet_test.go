package machine_test

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
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/poollet/machine"
	"github.com/ferrite-dev/ferrite/poollet/poollettest"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/capacity"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/fake"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

var server *testserver.Server

func TestMain(m *testing.M) { poollettest.Main(m, "ferrite-machinepoollet-test-", &server) }

var (
	waitFor = poollettest.WaitFor
	unique  = poollettest.Unique
)

// env is one test's pool: a fake runtime on a unix socket and the poollet's options.
type env struct {
	t       *testing.T
	options machine.Options
	runtime *fake.Server
	client  runtimev1alpha1.MachineRuntimeClient
	stopRT  func()
	events  *poollettest.Recorder
	// secrets, when set, serve Secret reads (the standalone apiserver has no core/v1 Secrets).
	secrets map[types.NamespacedName]*corev1.Secret
}

// secretReader serves Secrets from a map and everything else from the API.
type secretReader struct {
	client.Reader
	secrets map[types.NamespacedName]*corev1.Secret
}

func (r secretReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if secret, ok := obj.(*corev1.Secret); ok {
		s, ok := r.secrets[key]
		if !ok {
			return apierrors.NewNotFound(corev1.Resource("secrets"), key.Name)
		}
		s.DeepCopyInto(secret)
		return nil
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

func newEnv(t *testing.T, pool string, opts fake.Options) *env {
	t.Helper()
	rt := fake.New(opts)
	endpoint, stop := poollettest.ServeRuntime(t, "mpl", rt.Serve)
	e := &env{t: t, runtime: rt, stopRT: stop, events: &poollettest.Recorder{},
		options: machine.Options{PoolName: pool, ProviderID: "fake://" + pool, RuntimeEndpoint: endpoint,
			HeartbeatInterval: 200 * time.Millisecond, RuntimeTimeout: 2 * time.Second, DeviceRecheck: 300 * time.Millisecond, OrphanSweepInterval: 300 * time.Millisecond}}
	conn := poollettest.Dial(t, endpoint)
	t.Cleanup(func() { conn.Close() })
	e.client = runtimev1alpha1.NewMachineRuntimeClient(conn)
	return e
}

// start runs a poollet (its own manager and runtime connection) and returns the function that
// stops it, as killing the process would: nothing is cleaned up.
func (e *env) start() (stop func()) {
	t := e.t
	t.Helper()
	conn := poollettest.Dial(t, e.options.RuntimeEndpoint)
	mgr, err := machine.NewManager(server.Config, e.options.PoolName, poollettest.ManagerOptions())
	if err != nil {
		t.Fatal(err)
	}
	p := &machine.Poollet{Runtime: runtimev1alpha1.NewMachineRuntimeClient(conn), Recorder: e.events, Options: e.options}
	if e.secrets != nil {
		p.APIReader = secretReader{Reader: mgr.GetAPIReader(), secrets: e.secrets}
	}
	if err := p.Setup(mgr); err != nil {
		t.Fatal(err)
	}
	return poollettest.Start(t, mgr, conn)
}

// runtimeMachines lists the fake runtime's machines.
func (e *env) runtimeMachines() []*runtimev1alpha1.Machine {
	e.t.Helper()
	list, err := e.client.ListMachines(context.Background(), &runtimev1alpha1.ListMachinesRequest{})
	if err != nil {
		e.t.Fatal(err)
	}
	return list.GetMachines()
}

func createClass(t *testing.T, name, cpu, memory string) {
	t.Helper()
	_, err := server.Client.ComputeV1alpha1().MachineClasses().Create(context.Background(), &computev1alpha1.MachineClass{
		ObjectMeta:   metav1.ObjectMeta{Name: name},
		Capabilities: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func getPool(t *testing.T, name string) *computev1alpha1.MachinePool {
	t.Helper()
	pool, err := server.Client.ComputeV1alpha1().MachinePools().Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

func count(list corev1.ResourceList, name string) int64 {
	q, ok := list[corev1.ResourceName(name)]
	if !ok {
		return -1
	}
	return q.Value()
}

// createMachine creates a Machine of class and binds it to pool by hand (the binding
// subresource, as the scheduler does).
func createMachine(t *testing.T, namespace, name, class, pool string) *computev1alpha1.Machine {
	t.Helper()
	ctx := context.Background()
	machines := server.Client.ComputeV1alpha1().Machines(namespace)
	if _, err := machines.Create(ctx, &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: computev1alpha1.MachineSpec{MachineClassRef: corev1.LocalObjectReference{Name: class},
			Power: computev1alpha1.PowerOn, Image: "ghcr.io/ferrite-dev/os:1"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := machines.Bind(ctx, name, &computev1alpha1.MachineBinding{Target: corev1.LocalObjectReference{Name: pool}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func getMachine(t *testing.T, namespace, name string) *computev1alpha1.Machine {
	t.Helper()
	m, err := server.Client.ComputeV1alpha1().Machines(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The poollet creates its pool with the configured labels, reports per-class capacity and
// allocatable from the runtime's Status (and again when a class appears), heartbeats Ready=True
// without touching the scheduler's ledger, and reports Ready=False when the runtime is gone.
func TestPoolRegistrationAndHeartbeat(t *testing.T) {
	ns := unique("reg")
	createClass(t, "reg-small", "1", "1Gi")
	e := newEnv(t, ns, fake.Options{
		Capacity: capacity.Resources{VCPUs: 8, MemoryBytes: 16 << 30},
		Reserved: capacity.Resources{VCPUs: 2},
	})
	e.options.PoolLabels = map[string]string{computev1alpha1.TopologyZoneLabel: "a"}
	e.start()

	var pool *computev1alpha1.MachinePool
	waitFor(t, "the pool with capacity, allocatable and Ready=True", func() bool {
		pool = getPool(t, ns)
		return pool != nil && count(pool.Status.Capacity, "reg-small") == 8 && count(pool.Status.Allocatable, "reg-small") == 6 &&
			meta.IsStatusConditionTrue(pool.Status.Conditions, computev1alpha1.MachinePoolConditionReady) && pool.Status.LastHeartbeatTime != nil
	})
	if pool.Labels[computev1alpha1.TopologyZoneLabel] != "a" || pool.Spec.ProviderID != "fake://"+ns {
		t.Errorf("pool labels %v, providerID %q", pool.Labels, pool.Spec.ProviderID)
	}

	// The scheduler's ledger fields survive heartbeats.
	ledger := `{"status":{"allocated":{"reg-small":"1"},"allocatedRevision":"7","reservations":[{"machineUID":"11111111-1111-1111-1111-111111111111","machineClass":"reg-small"}]}}`
	if _, err := server.Client.ComputeV1alpha1().MachinePools().Patch(context.Background(), ns, types.MergePatchType, []byte(ledger), metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	first := pool.Status.LastHeartbeatTime
	waitFor(t, "two later heartbeats", func() bool {
		pool = getPool(t, ns)
		return pool.Status.LastHeartbeatTime.Time.After(first.Add(time.Second))
	})
	if count(pool.Status.Allocated, "reg-small") != 1 || pool.Status.AllocatedRevision != "7" || len(pool.Status.Reservations) != 1 {
		t.Errorf("heartbeat touched the ledger: allocated %v, revision %q, reservations %v", pool.Status.Allocated, pool.Status.AllocatedRevision, pool.Status.Reservations)
	}

	// A new class shows up without a poll.
	createClass(t, "reg-large", "4", "8Gi")
	waitFor(t, "the new class in allocatable", func() bool {
		pool = getPool(t, ns)
		return count(pool.Status.Allocatable, "reg-large") == 1 && count(pool.Status.Capacity, "reg-large") == 2
	})

	e.stopRT()
	waitFor(t, "Ready=False", func() bool {
		c := meta.FindStatusCondition(getPool(t, ns).Status.Conditions, computev1alpha1.MachinePoolConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == "RuntimeUnavailable"
	})
}

// A Machine bound to the pool gets the finalizer, exactly one runtime machine under its UID and
// status.state Running; power Off stops it (Shutdown); deleting it deletes the runtime machine
// and then the Machine. A Machine of another pool is never touched.
func TestMachineLifecycle(t *testing.T) {
	ns, otherPool := unique("life"), unique("other")
	createClass(t, "life-small", "1", "1Gi")
	e := newEnv(t, ns, fake.Options{StartDelay: 100 * time.Millisecond})
	e.start()
	waitFor(t, "the pool", func() bool { return getPool(t, ns) != nil })
	ctx := context.Background()

	if _, err := server.Client.ComputeV1alpha1().MachinePools().Create(ctx, &computev1alpha1.MachinePool{ObjectMeta: metav1.ObjectMeta{Name: otherPool}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	other := createMachine(t, ns, "elsewhere", "life-small", otherPool)
	m := createMachine(t, ns, "vm", "life-small", ns)
	uid := string(m.UID)
	waitFor(t, "finalizer and state Running", func() bool {
		m = getMachine(t, ns, "vm")
		return slices.Contains(m.Finalizers, machine.Finalizer) && m.Status.State == computev1alpha1.MachineStateRunning
	})
	if m.Status.MachineID != uid {
		t.Errorf("status.machineID %q, want %q", m.Status.MachineID, uid)
	}
	rms := e.runtimeMachines()
	if len(rms) != 1 || rms[0].GetMetadata().GetId() != uid {
		t.Fatalf("runtime machines %v, want one with ID %s", rms, uid)
	}
	labels := rms[0].GetMetadata().GetLabels()
	if labels[machine.LabelMachineUID] != uid || labels[machine.LabelMachineNamespace] != ns || labels[machine.LabelMachineName] != "vm" {
		t.Errorf("runtime labels %v", labels)
	}
	spec := rms[0].GetSpec()
	if spec.GetClass() != "life-small" || spec.GetResources().GetVcpus() != 1 || spec.GetResources().GetMemoryBytes() != 1<<30 || spec.GetRootDisk().GetImage() != "ghcr.io/ferrite-dev/os:1" {
		t.Errorf("runtime spec %v", spec)
	}
	if !e.events.Has(ns + "/vm Normal Created") {
		t.Errorf("no Created event: %v", e.events.Events())
	}

	// Reboot once per request: the annotation's time is the reboot ID.
	requested := time.Now().UTC().Add(time.Second).Format(time.RFC3339)
	time.Sleep(1100 * time.Millisecond) // the boot must predate the request
	patchMachine(t, ns, "vm", func(m *computev1alpha1.Machine) {
		m.Annotations = map[string]string{machine.AnnotationRebootRequest: requested}
	})
	waitFor(t, "one reboot", func() bool {
		rms := e.runtimeMachines()
		return len(rms) == 1 && rms[0].GetStatus().GetLastRebootId() == requested && rms[0].GetStatus().GetBootCount() == 2 &&
			rms[0].GetStatus().GetState() == runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING
	})
	time.Sleep(500 * time.Millisecond)
	if rms := e.runtimeMachines(); rms[0].GetStatus().GetBootCount() != 2 {
		t.Errorf("rebooted %d times for one request", rms[0].GetStatus().GetBootCount()-1)
	}

	// Power off.
	patchMachine(t, ns, "vm", func(m *computev1alpha1.Machine) { m.Spec.Power = computev1alpha1.PowerOff })
	waitFor(t, "runtime STOPPED and state Shutdown", func() bool {
		rms := e.runtimeMachines()
		return len(rms) == 1 && rms[0].GetStatus().GetState() == runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED &&
			getMachine(t, ns, "vm").Status.State == computev1alpha1.MachineStateShutdown
	})

	// The other pool's Machine was never seen.
	if o := getMachine(t, ns, "elsewhere"); len(o.Finalizers) != 0 || o.Status.State != "" || o.ResourceVersion != other.ResourceVersion {
		t.Errorf("the poollet touched another pool's machine: %+v", o)
	}
	for _, rm := range e.runtimeMachines() {
		if rm.GetMetadata().GetId() == string(other.UID) {
			t.Errorf("runtime machine for another pool's Machine")
		}
	}

	// Delete.
	if err := server.Client.ComputeV1alpha1().Machines(ns).Delete(ctx, "vm", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "runtime machine gone and Machine gone", func() bool {
		return len(e.runtimeMachines()) == 0 && getMachine(t, ns, "vm") == nil
	})
}

// Stopping the poollet right after it added the finalizer (around CreateMachine) and starting a
// new one, several times, leaves exactly one runtime machine.
func TestRestartCreatesNoSecondMachine(t *testing.T) {
	ns := unique("restart")
	createClass(t, "restart-small", "1", "1Gi")
	e := newEnv(t, ns, fake.Options{StartDelay: 200 * time.Millisecond})
	stop := e.start()
	waitFor(t, "the pool", func() bool { return getPool(t, ns) != nil })
	m := createMachine(t, ns, "vm", "restart-small", ns)
	waitFor(t, "the finalizer", func() bool {
		return slices.Contains(getMachine(t, ns, "vm").Finalizers, machine.Finalizer)
	})
	stop()
	for i := 0; i < 3; i++ {
		stop = e.start()
		time.Sleep(time.Duration(50*i) * time.Millisecond)
		stop()
		if n := len(e.runtimeMachines()); n > 1 {
			t.Fatalf("%d runtime machines after restart %d", n, i)
		}
	}
	e.start()
	waitFor(t, "state Running", func() bool {
		return getMachine(t, ns, "vm").Status.State == computev1alpha1.MachineStateRunning
	})
	rms := e.runtimeMachines()
	if len(rms) != 1 || rms[0].GetMetadata().GetId() != string(m.UID) {
		t.Fatalf("runtime machines %v, want exactly one with ID %s", rms, m.UID)
	}
}

// A runtime machine whose Machine was deleted (finalizer removed by hand) while the poollet was
// stopped is deleted when the poollet starts.
func TestOrphanDeletedAtStart(t *testing.T) {
	ns := unique("orphan")
	createClass(t, "orphan-small", "1", "1Gi")
	e := newEnv(t, ns, fake.Options{})
	stop := e.start()
	waitFor(t, "the pool", func() bool { return getPool(t, ns) != nil })
	createMachine(t, ns, "vm", "orphan-small", ns)
	waitFor(t, "state Running", func() bool {
		return getMachine(t, ns, "vm").Status.State == computev1alpha1.MachineStateRunning
	})
	stop()

	ctx := context.Background()
	machines := server.Client.ComputeV1alpha1().Machines(ns)
	if err := machines.Delete(ctx, "vm", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	m := getMachine(t, ns, "vm")
	m.Finalizers = nil
	if _, err := machines.UpdateStatus(ctx, m, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the Machine gone", func() bool { return getMachine(t, ns, "vm") == nil })
	if n := len(e.runtimeMachines()); n != 1 {
		t.Fatalf("%d runtime machines before the start, want 1", n)
	}

	e.start()
	waitFor(t, "the orphaned runtime machine deleted", func() bool { return len(e.runtimeMachines()) == 0 })
}

// A runtime machine that appears with the labels of a Machine that does not exist (left by
// hand, or by a crashed agent) is deleted by the periodic sweep while the poollet runs; one
// without the poollet's labels is left alone.
func TestOrphanSweptWhileRunning(t *testing.T) {
	ns := unique("sweep")
	e := newEnv(t, ns, fake.Options{})
	e.start()
	waitFor(t, "the pool", func() bool { return getPool(t, ns) != nil })
	ctx := context.Background()
	create := func(id string, labels map[string]string) {
		if _, err := e.client.CreateMachine(ctx, &runtimev1alpha1.CreateMachineRequest{Machine: &runtimev1alpha1.Machine{
			Metadata: &runtimev1alpha1.ObjectMetadata{Id: id, Labels: labels},
			Spec:     &runtimev1alpha1.MachineSpec{Class: "x", Resources: &runtimev1alpha1.MachineResources{Vcpus: 1, MemoryBytes: 1 << 20}},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	create("11111111-2222-3333-4444-555555555555", map[string]string{
		machine.LabelMachineUID: "11111111-2222-3333-4444-555555555555", machine.LabelMachineNamespace: ns, machine.LabelMachineName: "gone",
	})
	create("not-the-poollets", map[string]string{"owner": "someone-else"})
	waitFor(t, "the orphan deleted, the foreign machine kept", func() bool {
		rms := e.runtimeMachines()
		return len(rms) == 1 && rms[0].GetMetadata().GetId() == "not-the-poollets"
	})
}

// The ignition Secret named by spec.ignitionRef (default key ignition.json) becomes the runtime
// machine's IGNITION user data.
func TestIgnition(t *testing.T) {
	ns := unique("ign")
	createClass(t, "ign-small", "1", "1Gi")
	e := newEnv(t, ns, fake.Options{})
	e.secrets = map[types.NamespacedName]*corev1.Secret{
		{Namespace: ns, Name: "boot"}: {Data: map[string][]byte{machine.DefaultIgnitionKey: []byte(`{"ignition":{"version":"3.4.0"}}`)}},
	}
	e.start()
	waitFor(t, "the pool", func() bool { return getPool(t, ns) != nil })
	ctx := context.Background()
	machines := server.Client.ComputeV1alpha1().Machines(ns)
	if _, err := machines.Create(ctx, &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: "vm"},
		Spec: computev1alpha1.MachineSpec{MachineClassRef: corev1.LocalObjectReference{Name: "ign-small"},
			Image: "ghcr.io/ferrite-dev/os:1", IgnitionRef: &computev1alpha1.SecretKeySelector{Name: "boot"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := machines.Bind(ctx, "vm", &computev1alpha1.MachineBinding{Target: corev1.LocalObjectReference{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "state Running", func() bool {
		return getMachine(t, ns, "vm").Status.State == computev1alpha1.MachineStateRunning
	})
	rms := e.runtimeMachines()
	if len(rms) != 1 {
		t.Fatalf("%d runtime machines", len(rms))
	}
	ud := rms[0].GetSpec().GetUserData()
	if string(ud.GetData()) != `{"ignition":{"version":"3.4.0"}}` || ud.GetFormat() != runtimev1alpha1.UserDataFormat_USER_DATA_FORMAT_IGNITION {
		t.Errorf("user data %q format %v", ud.GetData(), ud.GetFormat())
	}
}

// A runtime that restarts and lost its state answers the poollet's resumed Watch with
// RevisionTooOld (a revision from its future); the poollet lists again, requeues the pool's
// Machines and creates their runtime machines anew, under the same IDs.
func TestRuntimeLostStateResync(t *testing.T) {
	ns := unique("lost")
	createClass(t, "lost-small", "1", "1Gi")
	e := newEnv(t, ns, fake.Options{})
	e.start()
	waitFor(t, "the pool", func() bool { return getPool(t, ns) != nil })
	m := createMachine(t, ns, "vm", "lost-small", ns)
	waitFor(t, "state Running", func() bool {
		return getMachine(t, ns, "vm").Status.State == computev1alpha1.MachineStateRunning
	})

	e.stopRT()
	socket := e.options.RuntimeEndpoint[len("unix://"):]
	stop, err := fake.New(fake.Options{}).Serve(socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	waitFor(t, "the runtime machine recreated", func() bool {
		list, err := e.client.ListMachines(context.Background(), &runtimev1alpha1.ListMachinesRequest{})
		return err == nil && len(list.GetMachines()) == 1 && list.GetMachines()[0].GetMetadata().GetId() == string(m.UID) &&
			list.GetMachines()[0].GetStatus().GetState() == runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING
	})
}

// A runtime machine that fails shows as state Error, and the runtime's event is recorded on the
// Machine.
func TestRuntimeErrorAndEvent(t *testing.T) {
	ns := unique("fail")
	createClass(t, "fail-small", "1", "1Gi")
	e := newEnv(t, ns, fake.Options{})
	e.start()
	waitFor(t, "the pool", func() bool { return getPool(t, ns) != nil })
	m := createMachine(t, ns, "vm", "fail-small", ns)
	waitFor(t, "state Running", func() bool {
		return getMachine(t, ns, "vm").Status.State == computev1alpha1.MachineStateRunning
	})
	if err := e.runtime.Fail(string(m.UID), "DiskError", "the root disk is unreadable"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "state Error and the Warning event", func() bool {
		return getMachine(t, ns, "vm").Status.State == computev1alpha1.MachineStateError &&
			e.events.Has(ns+"/vm Warning DiskError: the root disk is unreadable")
	})
}
