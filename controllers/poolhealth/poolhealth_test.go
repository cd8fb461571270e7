package poolhealth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/poolhealth"
)

// grace is the heartbeat grace of the tests. Heartbeat timestamps travel with second precision,
// so a poollet's value changes once a second: the grace must be well above that.
const grace = 2 * time.Second

// timeout bounds every wait; it is generous, the tests never time durations tightly.
const timeout = 20 * time.Second

// server is shared by the tests of this package; each test uses its own pool names.
var (
	server        *testserver.Server
	dynamicClient dynamic.Interface
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferrite-poolhealth-test-")
	if err != nil {
		panic(err)
	}
	server, err = testserver.StartInDir(dir)
	if err != nil {
		panic(err)
	}
	if dynamicClient, err = dynamic.NewForConfig(server.Config); err != nil {
		panic(err)
	}
	code := m.Run()
	server.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startManager runs a controller-runtime manager with only the pool health controllers (as
// controllermanager.AddPoolHealth registers them) until the test ends. Tests write what a pool
// holds "before a manager start" before they call it.
func startManager(t *testing.T) {
	t.Helper()
	scheme := runtime.NewScheme()
	utilruntime.Must(computev1alpha1.AddToScheme(scheme))
	utilruntime.Must(storagev1alpha1.AddToScheme(scheme))
	logger := klog.Background()
	setLoggerOnce.Do(func() { ctrllog.SetLogger(logger) })
	skipNameValidation := true // one manager per test in this process
	mgr, err := ctrl.NewManager(server.Config, manager.Options{
		Scheme: scheme, Logger: logger,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             ctrlconfig.Controller{SkipNameValidation: &skipNameValidation},
	})
	if err != nil {
		t.Fatal(err)
	}
	checker := poolhealth.Checker{Client: mgr.GetClient(), Grace: grace}
	if err := (&poolhealth.MachinePools{Checker: checker}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	if err := (&poolhealth.VolumePools{Checker: checker}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), logger))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

var setLoggerOnce sync.Once

// poolKind is one of the two pool kinds, driven through the dynamic client so that every test
// runs the same steps for both.
type poolKind struct {
	kind     string
	resource schema.GroupVersionResource
	// ledger is a merge patch of status setting the scheduler's ledger fields, with n reservations.
	ledger func(n int) string
}

var poolKinds = []poolKind{
	{
		kind: "MachinePool", resource: computev1alpha1.SchemeGroupVersion.WithResource("machinepools"),
		ledger: func(n int) string {
			var reservations []string
			for i := range n {
				reservations = append(reservations, fmt.Sprintf(`{"machineUID":"machine-%d","machineClass":"small"}`, i))
			}
			return fmt.Sprintf(`{"status":{"capacity":{"small":"8"},"allocatable":{"small":"6"},"allocated":{"small":"3"},"allocatedRevision":"%d","reservations":[%s]}}`, 40+n, strings.Join(reservations, ","))
		},
	},
	{
		kind: "VolumePool", resource: storagev1alpha1.SchemeGroupVersion.WithResource("volumepools"),
		ledger: func(n int) string {
			var reservations []string
			for i := range n {
				reservations = append(reservations, fmt.Sprintf(`{"volumeUID":"volume-%d","volumeClass":"fast","storage":"10Gi"}`, i))
			}
			return fmt.Sprintf(`{"status":{"capacity":{"fast":"1Ti"},"allocatable":{"fast":"900Gi"},"allocated":{"fast":"30Gi"},"allocatedRevision":"%d","reservations":[%s]}}`, 40+n, strings.Join(reservations, ","))
		},
	},
}

// pool is one pool of a test.
type pool struct {
	poolKind
	name string
}

func (p *pool) client() dynamic.ResourceInterface { return dynamicClient.Resource(p.resource) }

// createPools creates one pool of each kind, named prefix-kind.
func createPools(t *testing.T, prefix string) []*pool {
	t.Helper()
	var pools []*pool
	for _, k := range poolKinds {
		p := &pool{poolKind: k, name: prefix + "-" + strings.ToLower(k.kind)}
		object := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": k.resource.GroupVersion().String(), "kind": k.kind, "metadata": map[string]any{"name": p.name},
		}}
		if _, err := p.client().Create(context.Background(), object, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pools = append(pools, p)
	}
	return pools
}

// forEach runs test for every pool in parallel subtests named after the kinds.
func forEach(t *testing.T, pools []*pool, test func(t *testing.T, p *pool)) {
	for _, p := range pools {
		t.Run(p.kind, func(t *testing.T) {
			t.Parallel()
			test(t, p)
		})
	}
}

// patchStatus applies a merge patch to the pool's status subresource.
func (p *pool) patchStatus(t *testing.T, patch string) {
	t.Helper()
	if _, err := p.client().Patch(context.Background(), p.name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
		t.Errorf("patching %s %s: %v", p.kind, p.name, err)
	}
}

// heartbeat writes one heartbeat as a poollet does: a merge patch of status.lastHeartbeatTime
// and Ready=True, at the poollet's time at (a poollet keeps Ready's transition time, since).
func (p *pool) heartbeat(t *testing.T, at, since time.Time) {
	t.Helper()
	p.patchStatus(t, fmt.Sprintf(`{"status":{"lastHeartbeatTime":%q,"conditions":[{"type":"Ready","status":"True","reason":"Heartbeat","message":"","lastTransitionTime":%q}]}}`,
		at.UTC().Format(time.RFC3339), since.UTC().Format(time.RFC3339)))
}

// startPoollet heartbeats the pool every 300 ms with a clock off by skew, until the returned
// function (also called when the test ends) stops it.
func (p *pool) startPoollet(t *testing.T, skew time.Duration) (stop func()) {
	since := time.Now().Add(skew)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(300 * time.Millisecond)
		defer ticker.Stop()
		for {
			p.heartbeat(t, time.Now().Add(skew), since)
			select {
			case <-quit:
				return
			case <-ticker.C:
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(quit); <-done }) }
	t.Cleanup(stop)
	return stop
}

// poolStatus is the part of a pool's status the tests look at.
type poolStatus struct {
	Conditions        []metav1.Condition `json:"conditions"`
	LastHeartbeatTime *metav1.Time       `json:"lastHeartbeatTime"`
}

func statusOf(t *testing.T, object *unstructured.Unstructured) poolStatus {
	t.Helper()
	var status poolStatus
	raw, _, _ := unstructured.NestedMap(object.Object, "status")
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &status); err != nil {
		t.Fatal(err)
	}
	return status
}

func (p *pool) get(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	object, err := p.client().Get(context.Background(), p.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return object
}

func (p *pool) ready(t *testing.T) *metav1.Condition {
	t.Helper()
	c := meta.FindStatusCondition(statusOf(t, p.get(t)).Conditions, "Ready")
	if c == nil {
		return &metav1.Condition{}
	}
	return c
}

func missed(c *metav1.Condition) bool {
	return c.Status == metav1.ConditionUnknown && c.Reason == poolhealth.ReasonHeartbeatMissed
}

func waitFor(t *testing.T, what string, condition func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return condition(), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// waitMissed waits for the health controller's Ready=Unknown and returns the condition.
func (p *pool) waitMissed(t *testing.T) *metav1.Condition {
	t.Helper()
	var c *metav1.Condition
	waitFor(t, p.kind+" Ready=Unknown/HeartbeatMissed", func() bool {
		c = p.ready(t)
		return missed(c)
	})
	return c
}

// waitAlive waits until the pool is Ready=True with a heartbeat other than not (the health
// controller has a changed value to see), and returns the resourceVersion it was seen at.
func (p *pool) waitAlive(t *testing.T, not *metav1.Time) string {
	t.Helper()
	var resourceVersion string
	waitFor(t, p.kind+" alive", func() bool {
		object := p.get(t)
		status := statusOf(t, object)
		resourceVersion = object.GetResourceVersion()
		beat := status.LastHeartbeatTime
		return meta.IsStatusConditionTrue(status.Conditions, "Ready") && beat != nil && (not == nil || !beat.Equal(not))
	})
	return resourceVersion
}

// assertNeverMissed watches the pool from resourceVersion for the given time and fails if any
// version of it has Ready=Unknown/HeartbeatMissed. (Polling could miss a flip that the next
// heartbeat overwrites; the watch sees every write.)
func (p *pool) assertNeverMissed(t *testing.T, resourceVersion string, during time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), during)
	defer cancel()
	watcher, err := p.client().Watch(ctx, metav1.ListOptions{
		ResourceVersion: resourceVersion, FieldSelector: "metadata.name=" + p.name,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Stop()
	for event := range watcher.ResultChan() {
		object, ok := event.Object.(*unstructured.Unstructured)
		if !ok || object.GetName() != p.name {
			continue
		}
		if c := meta.FindStatusCondition(statusOf(t, object).Conditions, "Ready"); c != nil && missed(c) {
			t.Fatalf("%s turned stale while its poollet was heartbeating: %s", p.kind, c.Message)
		}
	}
	if ctx.Err() == nil {
		t.Fatalf("the watch of %s ended early", p.kind)
	}
}

// A heartbeating pool stays Ready for longer than the grace; once its poollet stops, it turns
// Ready=Unknown/HeartbeatMissed.
func TestHeartbeatingPoolStaysReadyUntilItStops(t *testing.T) {
	pools := createPools(t, "steady")
	startManager(t)
	forEach(t, pools, func(t *testing.T, p *pool) {
		stop := p.startPoollet(t, 0)
		p.assertNeverMissed(t, p.waitAlive(t, nil), grace+time.Second)
		stop()
		stopped := time.Now()
		c := p.waitMissed(t)
		if !strings.Contains(c.Message, "no new heartbeat observed") {
			t.Errorf("message %q", c.Message)
		}
		t.Logf("%s Ready=Unknown %v after the last heartbeat (grace %v): %s", p.kind, time.Since(stopped).Round(100*time.Millisecond), grace, c.Message)
	})
}

// A poollet whose clock runs an hour ahead keeps its pool Ready while it heartbeats, and not a
// moment longer than the grace once it stops: its timestamps (in the future, also when the
// manager first sees the pool) extend nothing.
func TestClockAheadPoolTurnsUnknownAfterGrace(t *testing.T) {
	const skew = time.Hour
	pools := createPools(t, "ahead")
	for _, p := range pools {
		// The pool heartbeated before the manager started.
		p.heartbeat(t, time.Now().Add(skew), time.Now().Add(skew))
	}
	startManager(t)
	forEach(t, pools, func(t *testing.T, p *pool) {
		stop := p.startPoollet(t, skew)
		p.assertNeverMissed(t, p.waitAlive(t, nil), grace+time.Second)
		stop()
		p.waitMissed(t)
	})
}

// A poollet whose clock runs an hour behind: when the manager first sees the pool, its last
// heartbeat is already older than the grace by the manager's clock, so the pool is stale at once
// (the controller cannot tell it from a pool that died an hour ago). Its next heartbeat changes
// the value, and from then on the pool is alive for as long as the values keep changing.
func TestClockBehindPoolIsAliveWhileHeartbeating(t *testing.T) {
	const skew = -time.Hour
	pools := createPools(t, "behind")
	// Truncated as the API stores it, so that waitAlive can tell a later heartbeat from it (the
	// poollet's next heartbeats may still carry the same second, and turn stale again).
	first := metav1.NewTime(time.Now().Add(skew).Truncate(time.Second))
	for _, p := range pools {
		p.heartbeat(t, first.Time, first.Time)
	}
	startManager(t)
	forEach(t, pools, func(t *testing.T, p *pool) {
		c := p.waitMissed(t)
		if !strings.Contains(c.Message, "already older than the grace") {
			t.Errorf("first observation: message %q", c.Message)
		}
		stop := p.startPoollet(t, skew)
		p.assertNeverMissed(t, p.waitAlive(t, &first), grace+time.Second)
		stop()
		c = p.waitMissed(t)
		if !strings.Contains(c.Message, "no new heartbeat observed") {
			t.Errorf("after heartbeats: message %q", c.Message)
		}
	})
}

// The health controller's write changes Ready and nothing else of status: not the scheduler's
// ledger (allocated, allocatedRevision, reservations), also when the ledger changed after the
// controller first saw the pool, nor what the poollet wrote.
func TestStaleWriteLeavesLedgerAlone(t *testing.T) {
	pools := createPools(t, "ledger")
	for _, p := range pools {
		p.patchStatus(t, p.ledger(1))
		p.heartbeat(t, time.Now(), time.Now())
	}
	startManager(t)
	forEach(t, pools, func(t *testing.T, p *pool) {
		// The ledger changes while the controller watches the pool (not a heartbeat).
		time.Sleep(300 * time.Millisecond)
		p.patchStatus(t, p.ledger(2))
		before := p.get(t)
		p.waitMissed(t)
		after := p.get(t)
		withoutConditions := func(object *unstructured.Unstructured) map[string]any {
			status, _, _ := unstructured.NestedMap(object.Object, "status")
			delete(status, "conditions")
			return status
		}
		if b, a := withoutConditions(before), withoutConditions(after); !reflect.DeepEqual(b, a) {
			bj, _ := json.Marshal(b)
			aj, _ := json.Marshal(a)
			t.Errorf("status besides conditions changed:\nbefore %s\nafter  %s", bj, aj)
		}
		if reservations, _, _ := unstructured.NestedSlice(after.Object, "status", "reservations"); len(reservations) != 2 {
			t.Errorf("reservations after the write: %v", reservations)
		}
	})
}

// The same rules on a fake clock, without waiting: what a manager that (re)starts makes of a
// pool's timestamp, the requeue just after the grace, and a re-created pool of the same name.
func TestObservedChangeOnFakeClock(t *testing.T) {
	scheme := runtime.NewScheme()
	utilruntime.Must(computev1alpha1.AddToScheme(scheme))
	start := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	now := start
	newPool := func(uid types.UID, beat time.Time) *computev1alpha1.MachinePool {
		return &computev1alpha1.MachinePool{
			ObjectMeta: metav1.ObjectMeta{Name: "host", UID: uid},
			Status: computev1alpha1.MachinePoolStatus{
				LastHeartbeatTime: &metav1.Time{Time: beat},
				Conditions:        []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Heartbeat", LastTransitionTime: metav1.Time{Time: beat}}},
				Allocated:         corev1.ResourceList{"small": resource.MustParse("3")},
				Reservations:      []computev1alpha1.MachinePoolReservation{{MachineUID: "m-1", MachineClass: "small"}},
			},
		}
	}
	ctx := context.Background()
	request := reconcile.Request{NamespacedName: types.NamespacedName{Name: "host"}}
	// One reconciler (its memory is the manager's); each step stores the pool in a new fake API.
	r := &poolhealth.MachinePools{Checker: poolhealth.Checker{Grace: grace, Now: func() time.Time { return now }}}
	var stored *computev1alpha1.MachinePool
	for _, step := range []struct {
		what string
		// at is the manager's time of the step; pool, when set, replaces the stored pool first.
		at    time.Duration
		pool  *computev1alpha1.MachinePool
		stale bool
		// requeue is the expected RequeueAfter when the pool is fresh.
		requeue time.Duration
	}{
		{what: "first sight, timestamp an hour ahead: counts as seen now", pool: newPool("a", start.Add(time.Hour)), requeue: grace + 100*time.Millisecond},
		{what: "no new value, a second later", at: time.Second, requeue: grace - time.Second + 100*time.Millisecond},
		{what: "no new value for longer than the grace", at: grace + time.Second, stale: true},
		{what: "a new value (still ahead)", at: grace + 2*time.Second, pool: newPool("a", start.Add(time.Hour+time.Second)), requeue: grace + 100*time.Millisecond},
		{what: "re-created pool, last heartbeat older than the grace: stale at once", at: grace + 3*time.Second, pool: newPool("b", start.Add(-time.Hour)), stale: true},
		{what: "its next heartbeat, still an hour behind", at: grace + 4*time.Second, pool: newPool("b", start.Add(-time.Hour+time.Second)), requeue: grace + 100*time.Millisecond},
	} {
		now = start.Add(step.at)
		if step.pool != nil {
			stored = step.pool
		}
		client := fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&computev1alpha1.MachinePool{}).WithObjects(stored.DeepCopy()).Build()
		r.Client = client
		result, err := r.Reconcile(ctx, request)
		if err != nil {
			t.Fatalf("%s: %v", step.what, err)
		}
		got := &computev1alpha1.MachinePool{}
		if err := client.Get(ctx, request.NamespacedName, got); err != nil {
			t.Fatal(err)
		}
		ready := meta.FindStatusCondition(got.Status.Conditions, "Ready")
		if step.stale != missed(ready) {
			t.Errorf("%s: Ready %s/%s, want stale %v", step.what, ready.Status, ready.Reason, step.stale)
		}
		if !step.stale && result.RequeueAfter != step.requeue {
			t.Errorf("%s: requeue after %v, want %v", step.what, result.RequeueAfter, step.requeue)
		}
		if !reflect.DeepEqual(got.Status.Allocated, stored.Status.Allocated) || !reflect.DeepEqual(got.Status.Reservations, stored.Status.Reservations) {
			t.Errorf("%s: ledger changed: %v %v", step.what, got.Status.Allocated, got.Status.Reservations)
		}
	}
}
