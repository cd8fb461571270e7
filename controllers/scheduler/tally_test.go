package scheduler

import (
	"testing"
)

// A ledger counted from a newer view than the tally's is left alone; from an older one it is
// recounted, with entries of objects seen bound folded into the counts and a growth in flight
// counted by its entry only.
func TestSettle(t *testing.T) {
	tl := newTally()
	tl.observe("a", &tracked{namespace: "n", name: "a", pool: "p", poolUID: "p1", class: "c", amount: 2}, "100")
	tl.observe("b", &tracked{namespace: "n", name: "b", pool: "p", poolUID: "p1", class: "c", amount: 1}, "101")
	tl.observe("old", &tracked{namespace: "n", name: "old", pool: "p", poolUID: "p0", class: "c", amount: 5}, "102")
	tl.observe("u", &tracked{namespace: "n", name: "u", class: "c", amount: 1}, "103")

	newer := Ledger{Allocated: map[string]int64{"c": 9}, Revision: "200"}
	if got, changed := tl.settle(newer, "p", "p1"); changed || got.Allocated["c"] != 9 {
		t.Fatalf("a ledger from a newer view was changed: %+v", got)
	}

	ledger := Ledger{Allocated: map[string]int64{"c": 7}, Revision: "50", Entries: []Entry{
		{UID: "a", Class: "c", Amount: 2}, // seen bound: folded
		{UID: "b", Class: "c", Amount: 4}, // a growth in flight: kept, b not counted in Allocated
		{UID: "u", Class: "c", Amount: 1}, // unbound: in flight
	}}
	got, changed := tl.settle(ledger, "p", "p1")
	if !changed || got.Allocated["c"] != 2 || len(got.Entries) != 2 || got.Revision != "103" {
		t.Fatalf("settled %+v; want a counted (2), b and u in flight, the old pool's object not counted", got)
	}
	if used := got.Used("c"); used != 2+4+1 {
		t.Fatalf("used %d, want 7", used)
	}

	// Deleted: its share goes at the next settle.
	tl.observe("a", nil, "104")
	got, _ = tl.settle(got, "p", "p1")
	if got.Allocated["c"] != 0 || got.Used("c") != 5 {
		t.Fatalf("after a's deletion: %+v", got)
	}
}
