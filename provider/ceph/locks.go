package ceph

import (
	"context"
	"sync"
)

// keyedMutex is a mutex per key (a volume ID, an image digest), made on first use and dropped
// when nobody holds or waits for it.
type keyedMutex struct {
	mu      sync.Mutex
	entries map[string]*keyedEntry
	idle    *sync.Cond
}

// keyedEntry is one key's mutex: a token channel, so that a wait can end with its context.
type keyedEntry struct {
	token chan struct{}
	users int
}

// lock locks key and returns its unlock function.
func (k *keyedMutex) lock(key string) (unlock func()) {
	unlock, _ = k.lockContext(context.Background(), key)
	return unlock
}

// lockContext locks key, or gives up with ctx's error when ctx ends first: a caller that is
// gone stops waiting for a long call on the same key.
func (k *keyedMutex) lockContext(ctx context.Context, key string) (unlock func(), err error) {
	k.mu.Lock()
	if k.entries == nil {
		k.entries = map[string]*keyedEntry{}
	}
	e := k.entries[key]
	if e == nil {
		e = &keyedEntry{token: make(chan struct{}, 1)}
		k.entries[key] = e
	}
	e.users++
	k.mu.Unlock()
	select {
	case e.token <- struct{}{}:
	case <-ctx.Done():
		k.release(key, e)
		return nil, ctx.Err()
	}
	return func() {
		<-e.token
		k.release(key, e)
	}, nil
}

// release drops a user of key's entry, and the entry when it was the last.
func (k *keyedMutex) release(key string, e *keyedEntry) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e.users--
	if e.users == 0 {
		delete(k.entries, key)
		if k.idle != nil && len(k.entries) == 0 {
			k.idle.Broadcast()
		}
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
