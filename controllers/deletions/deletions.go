// Package deletions tells a controller whose records name objects by UID only (the pool ledgers)
// whether a record's object is gone. A record whose object the cache saw deleted is dropped at
// once; one whose object the cache has never shown is kept for a grace period, since another
// manager may have just created it and this cache may lag.
package deletions

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// DefaultGrace is the grace when none is set.
const DefaultGrace = 30 * time.Second

// pruneAbove is the size past which forgotten deletions are pruned, so the cost per event stays
// constant on average.
const pruneAbove = 4096

// Tracker remembers deletions and how long objects have been missing. The zero value is ready.
type Tracker struct {
	// Grace is how long an object unknown to the cache is presumed to exist.
	Grace time.Duration

	mu      sync.Mutex
	deleted map[types.UID]time.Time
	missing map[types.UID]time.Time
}

// Deleted records that the cache saw the object's deletion (it is gone from etcd).
func (t *Tracker) Deleted(uid types.UID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.deleted == nil {
		t.deleted = map[types.UID]time.Time{}
	}
	t.deleted[uid] = time.Now()
	if len(t.deleted) > pruneAbove {
		for u, at := range t.deleted {
			if time.Since(at) > time.Hour {
				delete(t.deleted, u)
			}
		}
	}
}

// Found records that the cache shows the object.
func (t *Tracker) Found(uid types.UID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.missing, uid)
}

// Missing decides about an object the cache does not show: keep its record while it may still
// exist, and look again after wait.
func (t *Tracker) Missing(uid types.UID) (keep bool, wait time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.deleted[uid]; ok {
		delete(t.deleted, uid)
		delete(t.missing, uid)
		return false, 0
	}
	grace := t.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	if t.missing == nil {
		t.missing = map[types.UID]time.Time{}
	}
	first, ok := t.missing[uid]
	if !ok {
		t.missing[uid] = time.Now()
		return true, grace
	}
	if left := grace - time.Since(first); left > 0 {
		return true, left
	}
	delete(t.missing, uid)
	return false, 0
}
