// Package listencode encodes LIST responses as protobuf and JSON reusing each item's
// encoding. A LIST served from the watch cache encodes every item again for every request,
// though an object at a given resourceVersion never changes: at 5,000 Machines the items'
// generated Size and MarshalToSizedBuffer were half of the apiserver's CPU per protobuf LIST
// (docs/performance.md, issue 15). Encoder keeps the encoded items by Go type, format, UID and
// resourceVersion in a bounded Cache and writes a list exactly as Kubernetes' serializer of
// the media type does, byte for byte.
package listencode

import (
	"reflect"
	"sync"
)

// key identifies one encoding of one object. The Go type tells apart the kinds, versions and
// forms (a Machine and its PartialObjectMetadata share their UID), the format the media types.
type key struct {
	goType reflect.Type
	format byte
	uid    string
}

// entry is the encoding of an object at one resourceVersion. An object has one entry at most:
// its newer version replaces the older one.
type entry struct {
	resourceVersion string
	encoded         []byte
}

// Cache holds encoded items by Go type and UID, each with the resourceVersion it encodes, in
// two generations: new entries go into the current one, and when
// it holds more than its budget it becomes the previous one and the older is dropped. A hit
// in the previous generation moves the entry to the current one, so items that are listed
// again stay and items of objects that changed or went away leave within two generations.
// Memory is bounded by about twice the budget. The bytes it returns are shared and must not
// be changed.
type Cache struct {
	budget int

	mu                          sync.Mutex
	current, previous           map[key]entry
	currentBytes, previousBytes int
	hits, misses                uint64
}

// NewCache returns a cache whose current generation holds budget bytes of encoded items.
func NewCache(budget int) *Cache {
	return &Cache{budget: budget, current: map[key]entry{}, previous: map[key]entry{}}
}

// get returns the encoding of the object k at resourceVersion, if the cache has it.
func (c *Cache) get(k key, resourceVersion string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.current[k]; ok && e.resourceVersion == resourceVersion {
		c.hits++
		return e.encoded, true
	}
	if e, ok := c.previous[k]; ok && e.resourceVersion == resourceVersion {
		c.insert(k, e)
		c.hits++
		return e.encoded, true
	}
	c.misses++
	return nil, false
}

// put keeps b as the encoding of the object k at resourceVersion, in place of any other. An
// encoding larger than the budget is not kept.
func (c *Cache) put(k key, resourceVersion string, b []byte) {
	if len(b) > c.budget {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.insert(k, entry{resourceVersion: resourceVersion, encoded: b})
}

// insert makes e the entry of k in the current generation, starting a new generation when it
// is full; the caller holds mu.
func (c *Cache) insert(k key, e entry) {
	if old, ok := c.previous[k]; ok {
		delete(c.previous, k)
		c.previousBytes -= len(old.encoded)
	}
	if old, ok := c.current[k]; ok {
		c.current[k] = e
		c.currentBytes += len(e.encoded) - len(old.encoded)
		return
	}
	if c.currentBytes+len(e.encoded) > c.budget {
		c.previous, c.previousBytes = c.current, c.currentBytes
		c.current, c.currentBytes = map[key]entry{}, 0
	}
	c.current[k] = e
	c.currentBytes += len(e.encoded)
}

// Stats are a cache's counters.
type Stats struct {
	// Hits and Misses count the items found and not found since the cache was made.
	Hits, Misses uint64
	// Entries and Bytes are what both generations hold now.
	Entries, Bytes int
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Hits: c.hits, Misses: c.misses, Entries: len(c.current) + len(c.previous), Bytes: c.currentBytes + c.previousBytes}
}
