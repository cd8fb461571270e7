// Package watchcache builds the watch cache of each Ferrite resource so that the objects it
// holds share their repeated values. A watch cache holds every object of its resource, each
// decoded from etcd on its own: 100,000 Machines of a few shapes hold 100,000 copies of the
// same label maps, pool selectors, resource lists, managed-fields sets and strings. Objects
// entering the cache (the cacher's LIST and watch of etcd) go through Table.Intern first,
// which replaces each such value with one canonical copy. Objects read or written outside
// the cache are untouched.
//
// Sharing is safe because the watch cache already shares its objects: a LIST or GET served
// from the cache hands out shallow copies whose maps and slices are the cache's own, a watch
// event deep-copies before any change, and an update starts from a deep copy. Nothing may
// change an object of the cache in place, so nothing may change a canonical value either.
package watchcache

import (
	"reflect"
	"strings"
	"sync"
)

// Table holds the canonical copies of values. It is bounded: when it holds more than its
// limits it starts again empty. Values already shared stay shared; later ones get new
// canonical copies, so a value repeated across objects costs one copy per reset, and values
// that never repeat (there are some in every object) only cause resets.
type Table struct {
	maxEntries, maxBytes int

	mu      sync.Mutex
	entries int
	bytes   int
	strs    map[string]string
	raw     map[string][]byte
	maps    map[mapKey]reflect.Value
}

// mapKey identifies a map by its type and its content.
type mapKey struct {
	t       reflect.Type
	content string
}

// NewTable returns a table that starts again after maxEntries values or maxBytes bytes of
// strings and byte slices.
func NewTable(maxEntries, maxBytes int) *Table {
	t := &Table{maxEntries: maxEntries, maxBytes: maxBytes}
	t.reset()
	return t
}

func (t *Table) reset() {
	t.entries, t.bytes = 0, 0
	t.strs = map[string]string{}
	t.raw = map[string][]byte{}
	t.maps = map[mapKey]reflect.Value{}
}

// added accounts for a new canonical value of n bytes; the caller holds mu.
func (t *Table) added(n int) {
	t.entries++
	t.bytes += n
	if t.entries > t.maxEntries || t.bytes > t.maxBytes {
		t.reset()
	}
}

// str returns the canonical copy of s; the caller holds mu.
func (t *Table) str(s string) string {
	if s == "" {
		return s
	}
	if c, ok := t.strs[s]; ok {
		return c
	}
	// A copy of its own, so that the table never keeps a larger allocation alive.
	c := strings.Clone(s)
	t.strs[c] = c
	t.added(len(c))
	return c
}

// bytesOf returns the canonical copy of b; the caller holds mu.
func (t *Table) bytesOf(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	if c, ok := t.raw[string(b)]; ok {
		return c
	}
	t.raw[string(b)] = b
	t.added(len(b))
	return b
}
