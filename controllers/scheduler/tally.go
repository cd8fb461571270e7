package scheduler

import (
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// tracked is what the tally keeps of one object.
type tracked struct {
	namespace string
	name      string
	labels    map[string]string
	pool      string
	poolUID   types.UID
	class     string
	amount    int64
	deleting  bool
	// assumed is the pool the placement loop chose for the object and has not yet seen it bound
	// to; it counts for topology spread only.
	assumed string
}

// boundTo reports whether the object is bound to this pool, not to an earlier pool of the same
// name: a re-created pool does not inherit the objects of the old one.
func (o *tracked) boundTo(pool string, poolUID types.UID) bool {
	return o.pool != "" && o.pool == pool && (o.poolUID == "" || o.poolUID == poolUID)
}

// poolKey identifies a pool incarnation in the tally's sums.
type poolKey struct {
	name string
	uid  types.UID
}

// tally is the view of objects built from the informer: which are bound where, with their class
// and demand, summed per pool and class, and the newest resourceVersion observed. Ledger writes
// settle against it.
type tally struct {
	mu sync.RWMutex
	// revision is the newest object resourceVersion (an etcd revision) the tally has observed.
	revision uint64
	objects  map[types.UID]*tracked
	// sums are, per pool incarnation (and an empty UID for references without one), what the
	// bound objects take per class.
	sums map[poolKey]map[string]int64
	// byNamespace indexes objects for topology spread counting.
	byNamespace map[string]map[types.UID]*tracked
}

func newTally() *tally {
	return &tally{objects: map[types.UID]*tracked{}, sums: map[poolKey]map[string]int64{}, byNamespace: map[string]map[types.UID]*tracked{}}
}

// parseRevision reads a resourceVersion; Ferrite's are etcd revisions.
func parseRevision(rv string) uint64 {
	n, _ := strconv.ParseUint(rv, 10, 64)
	return n
}

// observe records the newest state of an object (nil state: the object is gone) and the
// resourceVersion of the event. It returns the pools whose counts changed.
func (t *tally) observe(uid types.UID, state *tracked, resourceVersion string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if rv := parseRevision(resourceVersion); rv > t.revision {
		t.revision = rv
	}
	var changed []string
	old := t.objects[uid]
	if old != nil {
		if old.pool != "" {
			t.add(old, -1)
			changed = append(changed, old.pool)
		}
		delete(t.byNamespace[old.namespace], uid)
	}
	if state == nil {
		delete(t.objects, uid)
		return changed
	}
	if old != nil && state.pool == "" {
		state.assumed = old.assumed
	}
	t.objects[uid] = state
	if t.byNamespace[state.namespace] == nil {
		t.byNamespace[state.namespace] = map[types.UID]*tracked{}
	}
	t.byNamespace[state.namespace][uid] = state
	if state.pool != "" {
		t.add(state, 1)
		if old == nil || old.pool != state.pool || old.amount != state.amount || old.class != state.class {
			changed = append(changed, state.pool)
		}
	}
	return changed
}

func (t *tally) add(o *tracked, sign int64) {
	key := poolKey{o.pool, o.poolUID}
	sums := t.sums[key]
	if sums == nil {
		sums = map[string]int64{}
		t.sums[key] = sums
	}
	sums[o.class] += sign * o.amount
	if sums[o.class] == 0 {
		delete(sums, o.class)
	}
	if len(sums) == 0 {
		delete(t.sums, key)
	}
}

// assume records the pool the loop chose for an unbound object ("" clears it).
func (t *tally) assume(uid types.UID, pool string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o := t.objects[uid]; o != nil && o.pool == "" {
		o.assumed = pool
	}
}

// settle brings a pool's ledger up to the tally: entries whose object is seen bound to the pool
// at no less than the entry's amount leave the ledger, and Allocated becomes what the bound
// objects without an entry take. It does nothing when the ledger was counted from a newer view
// than the tally's (another manager's), so a lagging view never lowers a count. It reports
// whether the counts or entries changed.
func (t *tally) settle(l Ledger, pool string, poolUID types.UID) (Ledger, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if parseRevision(l.Revision) > t.revision {
		return l, false
	}
	allocated := map[string]int64{}
	for _, key := range []poolKey{{pool, poolUID}, {pool, ""}} {
		for class, amount := range t.sums[key] {
			allocated[class] += amount
		}
	}
	var entries []Entry
	for _, e := range l.Entries {
		o := t.objects[e.UID]
		if o != nil && o.boundTo(pool, poolUID) {
			if o.amount >= e.Amount {
				continue
			}
			// A growth in flight: the object is counted by its entry only.
			allocated[o.class] -= o.amount
		}
		entries = append(entries, e)
	}
	for class, amount := range allocated {
		if amount <= 0 {
			delete(allocated, class)
		}
	}
	changed := len(entries) != len(l.Entries) || !equalCounts(allocated, l.Allocated)
	return Ledger{Allocated: allocated, Revision: strconv.FormatUint(t.revision, 10), Entries: entries}, changed
}

func equalCounts(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// lookup returns a copy of what the tally knows of an object.
func (t *tally) lookup(uid types.UID) (tracked, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	o, ok := t.objects[uid]
	if !ok {
		return tracked{}, false
	}
	return *o, true
}

// countByPool counts, per pool, the objects of the namespace the selector matches that are
// bound (or assumed) there.
func (t *tally) countByPool(namespace string, selector labels.Selector) map[string]int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	counts := map[string]int{}
	for _, o := range t.byNamespace[namespace] {
		pool := o.pool
		if pool == "" {
			pool = o.assumed
		}
		if pool != "" && !o.deleting && selector.Matches(labels.Set(o.labels)) {
			counts[pool]++
		}
	}
	return counts
}
