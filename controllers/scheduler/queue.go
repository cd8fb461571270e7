package scheduler

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// queue holds the objects waiting for the placement loop, newest informer copy per key. An object
// taken by the loop is active until done; an event for it meanwhile marks it to be taken again,
// so no object is ever placed twice at once by one scheduler.
type queue[O any] struct {
	mu     sync.Mutex
	items  map[types.NamespacedName]O
	order  []types.NamespacedName
	active map[types.NamespacedName]bool
	dirty  map[types.NamespacedName]O
	// removed marks active objects that were bound or deleted meanwhile.
	removed map[types.NamespacedName]bool
	wake    chan struct{}
}

func newQueue[O any]() *queue[O] {
	return &queue[O]{
		items: map[types.NamespacedName]O{}, active: map[types.NamespacedName]bool{},
		dirty: map[types.NamespacedName]O{}, removed: map[types.NamespacedName]bool{}, wake: make(chan struct{}, 1),
	}
}

// add queues the object, or refreshes the copy of a queued one.
func (q *queue[O]) add(key types.NamespacedName, object O) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.active[key] {
		q.dirty[key] = object
		delete(q.removed, key)
		return
	}
	if _, queued := q.items[key]; !queued {
		q.order = append(q.order, key)
	}
	q.items[key] = object
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// remove drops a queued object (it was bound or deleted).
func (q *queue[O]) remove(key types.NamespacedName) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.items, key)
	delete(q.dirty, key)
	if q.active[key] {
		q.removed[key] = true
	}
}

// take returns up to n queued objects and marks them active.
func (q *queue[O]) take(n int) []O {
	q.mu.Lock()
	defer q.mu.Unlock()
	var batch []O
	i := 0
	for ; i < len(q.order) && len(batch) < n; i++ {
		key := q.order[i]
		object, ok := q.items[key]
		if !ok {
			continue
		}
		delete(q.items, key)
		q.active[key] = true
		batch = append(batch, object)
	}
	q.order = q.order[i:]
	if len(q.order) == 0 {
		q.order = nil
	}
	return batch
}

// done ends the object's turn; an object changed meanwhile is queued again.
func (q *queue[O]) done(key types.NamespacedName) {
	q.finish(key, nil)
}

// retry ends the object's turn and queues it again (its newest copy), unless it was bound or
// deleted meanwhile.
func (q *queue[O]) retry(key types.NamespacedName, object O) {
	q.finish(key, &object)
}

func (q *queue[O]) finish(key types.NamespacedName, again *O) {
	q.mu.Lock()
	delete(q.active, key)
	removed := q.removed[key]
	delete(q.removed, key)
	object, changed := q.dirty[key]
	delete(q.dirty, key)
	q.mu.Unlock()
	switch {
	case removed:
	case changed:
		q.add(key, object)
	case again != nil:
		q.add(key, *again)
	}
}
