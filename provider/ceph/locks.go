package ceph

import "sync"

// keyedMutex is a mutex per key (a volume ID, an image digest), made on first use and dropped
// when nobody holds or waits for it.
type keyedMutex struct {
	mu      sync.Mutex
	entries map[string]*keyedEntry
	idle    *sync.Cond
}

type keyedEntry struct {
	mu    sync.Mutex
	users int
}

// lock locks key and returns its unlock function.
func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.entries == nil {
		k.entries = map[string]*keyedEntry{}
	}
	e := k.entries[key]
	if e == nil {
		e = &keyedEntry{}
		k.entries[key] = e
	}
	e.users++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.users--
		if e.users == 0 {
			delete(k.entries, key)
			if k.idle != nil && len(k.entries) == 0 {
				k.idle.Broadcast()
			}
		}
		k.mu.Unlock()
	}
}

// waitIdle returns when no key is held.
func (k *keyedMutex) waitIdle() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.idle == nil {
		k.idle = sync.NewCond(&k.mu)
	}
	for len(k.entries) > 0 {
		k.idle.Wait()
	}
}
