package scheduler_test

import (
	"testing"
	"time"

	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
	"github.com/ferrite-dev/ferrite/controllers/scheduler"
)

// A growth that resize admission reserved in the ledger but whose volume update never landed
// (the entry is larger than the volume) is kept for the growth grace, then given back: the
// volume is counted at its stored size again.
func TestUnstoredGrowthIsGivenBack(t *testing.T) {
	f := volumes{}
	p := "volume-growth"
	startScheduler(t, f, nil, func(o *controllermanager.Options) { o.LedgerGrowthGrace = 5 * time.Second })
	t.Cleanup(func() { f.deleteAll(t, p) })
	sel := map[string]string{"test": p}
	class := p + "-class"
	pool := p + "-pool"
	f.createPool(t, poolSpec{name: pool, labels: sel, allocatable: map[string]int64{class: 10}})
	uid := f.createObject(t, objectSpec{namespace: p, name: "data", class: class, selector: sel})
	waitFor(t, 20*time.Second, "bound and counted", func() bool {
		ledger, _ := f.ledger(t, pool)
		return ledger.Allocated[class] == 1 && len(ledger.Entries) == 0
	})
	// A growth to 3Gi reserved as admission does (which also lowers allocated; the settle does
	// it here): while in flight the volume is counted by its entry only.
	f.plant(t, pool, scheduler.Entry{UID: uid, Class: class, Amount: 3})
	waitFor(t, 4*time.Second, "the growth counted by its entry only", func() bool {
		ledger, _ := f.ledger(t, pool)
		return ledger.Allocated[class] == 0 && ledger.Used(class) == 3
	})
	waitFor(t, 20*time.Second, "the growth given back", func() bool {
		ledger, _ := f.ledger(t, pool)
		return ledger.Allocated[class] == 1 && len(ledger.Entries) == 0
	})
}
