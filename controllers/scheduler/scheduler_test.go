package scheduler_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
	"github.com/ferrite-dev/ferrite/controllers/placement"
	"github.com/ferrite-dev/ferrite/controllers/scheduler"
)

// Objects go only to the pool that offers their class, is Ready, matches their selector and
// whose taints they tolerate.
func TestBindsOnlyToFittingPools(t *testing.T) {
	forEachKind(t, func(t *testing.T, f fixture) {
		p := f.kind() + "-fit"
		startScheduler(t, f, nil)
		t.Cleanup(func() { f.deleteAll(t, p) })
		sel := map[string]string{"test": p}
		class := p + "-small"
		f.createPool(t, poolSpec{name: p + "-good", labels: sel, allocatable: map[string]int64{class: 10}})
		f.createPool(t, poolSpec{name: p + "-noclass", labels: sel, allocatable: map[string]int64{p + "-large": 10}})
		f.createPool(t, poolSpec{name: p + "-notready", labels: sel, allocatable: map[string]int64{class: 10}, notReady: true})
		f.createPool(t, poolSpec{name: p + "-selector", labels: map[string]string{"test": p + "-other"}, allocatable: map[string]int64{class: 10}})
		f.createPool(t, poolSpec{name: p + "-tainted", labels: sel, allocatable: map[string]int64{class: 10},
			taints: []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}})
		for _, name := range names("o", 8) {
			f.createObject(t, objectSpec{namespace: p, name: name, class: class, selector: sel})
		}
		f.createObject(t, objectSpec{namespace: p, name: "tolerant", class: class, selector: sel,
			tolerations: []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}})
		waitFor(t, 20*time.Second, "all objects bound", func() bool { return boundCounts(t, f, p)[""] == 0 })
		counts := boundCounts(t, f, p)
		if counts[p+"-good"] < 8 || counts[p+"-good"]+counts[p+"-tainted"] != 9 {
			t.Fatalf("bindings per pool: %v; want the 8 intolerant objects on %s-good and the tolerant one there or on %s-tainted", counts, p, p)
		}
		checkLedgers(t, f, p, class, p+"-good", p+"-tainted")
	})
}

// An unschedulable object gets Scheduled=False with a reason naming the filter and a Warning
// event; it is bound once a fitting pool appears, and then says Scheduled=True.
func TestUnschedulableThenBoundWhenAPoolAppears(t *testing.T) {
	forEachKind(t, func(t *testing.T, f fixture) {
		p := f.kind() + "-unsched"
		recorder := events.NewFakeRecorder(100)
		startScheduler(t, f, recorder)
		t.Cleanup(func() { f.deleteAll(t, p) })
		sel := map[string]string{"test": p}
		class := p + "-class"
		f.createObject(t, objectSpec{namespace: p, name: "waiting", class: class, selector: sel})
		waitFor(t, 20*time.Second, "Scheduled=False", func() bool {
			o := f.list(t, p)[0]
			return o.scheduled != nil && o.scheduled.Status == metav1.ConditionFalse
		})
		if c := f.list(t, p)[0].scheduled; c.Reason != scheduler.ReasonNoPoolOffersClass || !strings.Contains(c.Message, class) {
			t.Fatalf("condition %+v, want reason %s naming the class", c, scheduler.ReasonNoPoolOffersClass)
		}
		if event := <-recorder.Events; !strings.Contains(event, "FailedScheduling") || !strings.Contains(event, scheduler.ReasonNoPoolOffersClass) {
			t.Fatalf("event %q, want a FailedScheduling warning", event)
		}
		f.createPool(t, poolSpec{name: p + "-late", labels: sel, allocatable: map[string]int64{class: 1}})
		waitFor(t, 20*time.Second, "bound with Scheduled=True", func() bool {
			o := f.list(t, p)[0]
			return o.pool == p+"-late" && o.scheduled != nil && o.scheduled.Status == metav1.ConditionTrue
		})
		checkLedgers(t, f, p, class, p+"-late")
	})
}

// A burst of creates against half as many slots, with two schedulers running at once (as during
// a leader hand-over), binds exactly as many as the pools allocate and never more.
func TestBurstWithTwoSchedulersNeverOvercommits(t *testing.T) {
	forEachKind(t, func(t *testing.T, f fixture) {
		p := f.kind() + "-burst"
		startScheduler(t, f, nil)
		startScheduler(t, f, nil)
		t.Cleanup(func() { f.deleteAll(t, p) })
		sel := map[string]string{"test": p}
		class := p + "-class"
		pools := names(p+"-pool", 5)
		for _, name := range pools {
			f.createPool(t, poolSpec{name: name, labels: sel, allocatable: map[string]int64{class: 40}})
		}
		const objects = 400
		errs := make(chan error, objects)
		for _, name := range names("o", objects) {
			go func() {
				defer func() { errs <- nil }()
				f.createObject(t, objectSpec{namespace: p, name: name, class: class, selector: sel})
			}()
		}
		for range objects {
			<-errs
		}
		waitFor(t, 60*time.Second, "200 objects bound", func() bool { return boundCounts(t, f, p)[""] == objects-200 })
		time.Sleep(time.Second)
		counts := boundCounts(t, f, p)
		for _, name := range pools {
			if counts[name] != 40 {
				t.Errorf("pool %s holds %d objects, allocates 40 (all: %v)", name, counts[name], counts)
			}
		}
		checkLedgers(t, f, p, class, pools...)
	})
}

// A placement left half done (an entry for an unbound object, as by a scheduler that crashed
// between its two writes) is completed on that pool, and an entry for an object that never
// existed is dropped after the missing grace.
func TestHalfDonePlacementIsCompleted(t *testing.T) {
	forEachKind(t, func(t *testing.T, f fixture) {
		p := f.kind() + "-halfdone"
		t.Cleanup(func() { f.deleteAll(t, p) })
		sel := map[string]string{"test": p}
		class := p + "-class"
		f.createPool(t, poolSpec{name: p + "-a", labels: sel, allocatable: map[string]int64{class: 10}})
		f.createPool(t, poolSpec{name: p + "-b", labels: sel, allocatable: map[string]int64{class: 10}})
		uid := f.createObject(t, objectSpec{namespace: p, name: "crashed", class: class, selector: sel})
		f.plant(t, p+"-b", scheduler.Entry{UID: uid, Class: class, Amount: 1}, scheduler.Entry{UID: "never-existed", Class: class, Amount: 1})
		startScheduler(t, f, nil)
		waitFor(t, 20*time.Second, "the object bound", func() bool { return boundCounts(t, f, p)[""] == 0 })
		if counts := boundCounts(t, f, p); counts[p+"-b"] != 1 {
			t.Fatalf("bindings %v, want the object on the pool holding its entry", counts)
		}
		checkLedgers(t, f, p, class, p+"-a", p+"-b")
	})
}

// Bin-packing fills the fullest pool that fits before it touches an emptier one.
func TestBinPackFillsOnePoolFirst(t *testing.T) {
	forEachKind(t, func(t *testing.T, f fixture) {
		p := f.kind() + "-binpack"
		startScheduler(t, f, nil, func(o *controllermanager.Options) { o.SchedulerPolicy = placement.BinPack })
		t.Cleanup(func() { f.deleteAll(t, p) })
		sel := map[string]string{"test": p}
		class := p + "-class"
		f.createPool(t, poolSpec{name: p + "-a", labels: sel, allocatable: map[string]int64{class: 6}})
		f.createPool(t, poolSpec{name: p + "-b", labels: sel, allocatable: map[string]int64{class: 6}})
		for _, name := range names("o", 5) {
			f.createObject(t, objectSpec{namespace: p, name: name, class: class, selector: sel})
		}
		waitFor(t, 20*time.Second, "all bound", func() bool { return boundCounts(t, f, p)[""] == 0 })
		if counts := boundCounts(t, f, p); counts[p+"-a"] != 5 && counts[p+"-b"] != 5 {
			t.Fatalf("bindings %v, want all five on one pool", counts)
		}
	})
}

// An object gone from etcd frees its share and a waiting object takes it; an object an operator
// bound by hand is counted.
func TestDeletionFreesRoomAndHandBindingIsCounted(t *testing.T) {
	forEachKind(t, func(t *testing.T, f fixture) {
		p := f.kind() + "-free"
		startScheduler(t, f, nil, func(o *controllermanager.Options) { o.RetryInterval = time.Hour })
		t.Cleanup(func() { f.deleteAll(t, p) })
		sel := map[string]string{"test": p}
		class := p + "-class"
		pool := p + "-pool"
		f.createPool(t, poolSpec{name: pool, labels: sel, allocatable: map[string]int64{class: 3}})
		for _, name := range names("o", 4) {
			f.createObject(t, objectSpec{namespace: p, name: name, class: class, selector: sel})
		}
		waitFor(t, 20*time.Second, "three bound, one PoolsFull", func() bool {
			counts, full := boundCounts(t, f, p), 0
			for _, o := range f.list(t, p) {
				if o.scheduled != nil && o.scheduled.Reason == scheduler.ReasonPoolsFull {
					full++
				}
			}
			return counts[pool] == 3 && full == 1
		})
		var boundOne string
		for _, o := range f.list(t, p) {
			if o.pool != "" {
				boundOne = o.name
			}
		}
		f.deleteObject(t, p, boundOne)
		waitFor(t, 20*time.Second, "the waiting object to take the freed room", func() bool {
			return boundCounts(t, f, p)[pool] == 3 && boundCounts(t, f, p)[""] == 0
		})
		checkLedgers(t, f, p, class, pool)
		f.createObject(t, objectSpec{namespace: p, name: "by-hand", class: class, selector: map[string]string{"test": "nowhere"}})
		// An operator's binding may over-commit (tenants cannot bind); the ledger counts it.
		f.bindByHand(t, p, "by-hand", pool)
		waitFor(t, 20*time.Second, "the hand-bound object counted", func() bool {
			ledger, _ := f.ledger(t, pool)
			return ledger.Allocated[class] == 4 && len(ledger.Entries) == 0
		})
	})
}

// The pool object does not grow with the objects on it: once they are bound the ledger holds
// counts only.
func TestLedgerSizeDoesNotGrowWithObjects(t *testing.T) {
	forEachKind(t, func(t *testing.T, f fixture) {
		p := f.kind() + "-size"
		startScheduler(t, f, nil)
		t.Cleanup(func() { f.deleteAll(t, p) })
		sel := map[string]string{"test": p}
		class := p + "-class"
		pool := p + "-pool"
		f.createPool(t, poolSpec{name: pool, labels: sel, allocatable: map[string]int64{class: 1000}})
		const objects = 300
		done := make(chan struct{}, objects)
		for _, name := range names("o", objects) {
			go func() {
				defer func() { done <- struct{}{} }()
				f.createObject(t, objectSpec{namespace: p, name: name, class: class, selector: sel})
			}()
		}
		for range objects {
			<-done
		}
		waitFor(t, 60*time.Second, "all bound", func() bool { return boundCounts(t, f, p)[pool] == objects })
		checkLedgers(t, f, p, class, pool)
		ledger, _ := f.ledger(t, pool)
		size, _ := json.Marshal(ledger)
		if len(size) > 512 {
			t.Fatalf("ledger of %d objects is %d bytes: %s", objects, len(size), size)
		}
	})
}
