package scheduler_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/controllers/scheduler"
)

// "Spread these database machines over three zones": machines created at once land one per zone,
// a pool without the zone label is not used, and a machine that would break the skew waits with
// a reason that says so.
func TestSpreadOverZones(t *testing.T) {
	f := machines{}
	p := "spread"
	startScheduler(t, f, nil)
	t.Cleanup(func() { f.deleteAll(t, p) })
	sel := map[string]string{"test": p}
	class := p + "-class"
	zoned := func(zone string) map[string]string {
		return map[string]string{"test": p, computev1alpha1.TopologyZoneLabel: zone}
	}
	f.createPool(t, poolSpec{name: p + "-a", labels: zoned("a"), allocatable: map[string]int64{class: 10}})
	f.createPool(t, poolSpec{name: p + "-b", labels: zoned("b"), allocatable: map[string]int64{class: 1}})
	f.createPool(t, poolSpec{name: p + "-c", labels: zoned("c"), allocatable: map[string]int64{class: 1}})
	f.createPool(t, poolSpec{name: p + "-nozone", labels: sel, allocatable: map[string]int64{class: 100}})
	spread := []computev1alpha1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: computev1alpha1.TopologyZoneLabel, WhenUnsatisfiable: computev1alpha1.DoNotSchedule}}
	db := map[string]string{"app": "db"}

	done := make(chan struct{}, 3)
	for _, name := range names("db", 3) {
		go func() {
			defer func() { done <- struct{}{} }()
			f.createObject(t, objectSpec{namespace: p, name: name, class: class, selector: sel, labels: db, spread: spread})
		}()
	}
	for range 3 {
		<-done
	}
	// Machines without the constraint (or with other labels) are not counted.
	for _, name := range names("web", 3) {
		f.createObject(t, objectSpec{namespace: p, name: name, class: class, selector: zoned("a"), labels: map[string]string{"app": "web"}})
	}
	waitFor(t, 20*time.Second, "all bound", func() bool { return boundCounts(t, f, p)[""] == 0 })
	counts := boundCounts(t, f, p)
	if counts[p+"-b"] != 1 || counts[p+"-c"] != 1 || counts[p+"-a"] != 4 || counts[p+"-nozone"] != 0 {
		t.Fatalf("bindings %v, want one database machine per zone (and the web machines on a)", counts)
	}

	// A fourth goes to a (skew 2-1 = 1); a fifth would make a 3 against 1: it waits.
	f.createObject(t, objectSpec{namespace: p, name: "db-3", class: class, selector: sel, labels: db, spread: spread})
	waitFor(t, 20*time.Second, "db-3 bound", func() bool { return boundCounts(t, f, p)[""] == 0 })
	f.createObject(t, objectSpec{namespace: p, name: "db-4", class: class, selector: sel, labels: db, spread: spread})
	waitFor(t, 20*time.Second, "db-4 unschedulable", func() bool {
		for _, o := range f.list(t, p) {
			if o.name == "db-4" && o.scheduled != nil && o.scheduled.Status == metav1.ConditionFalse {
				return true
			}
		}
		return false
	})
	for _, o := range f.list(t, p) {
		if o.name == "db-4" && (o.pool != "" || o.scheduled.Reason != scheduler.ReasonTopologySpread || !strings.Contains(o.scheduled.Message, "PoolsFull")) {
			t.Fatalf("db-4: pool %q, condition %+v; want unbound with %s (after PoolsFull)", o.pool, o.scheduled, scheduler.ReasonTopologySpread)
		}
	}
}
