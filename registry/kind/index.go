package kind

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/client-go/tools/cache"
)

// The watch cache (k8s.io/apiserver/pkg/storage/cacher) indexes a field in two places, both
// configured through generic.StoreOptions, as kube-apiserver does for pods and spec.nodeName:
//
//   - TriggerFunc (storage.IndexerFuncs, at most one entry, keyed by the field path): a watch
//     whose predicate lists the path in IndexFields and whose field selector requires an exact
//     value is registered under that value; each event goes only to the watchers of the trigger
//     values of its new and previous object (so an object entering or leaving a watcher's
//     selection still reaches it) plus the watchers that are not indexed;
//   - Indexers (*cache.Indexers, keyed by storage.FieldIndex(path)): a list served from the
//     cache whose predicate requires an exact value reads only that index entry (not with a
//     continue token); the result is still filtered by the full selector.

// indexFields returns the field paths the predicate offers to the watch cache's indexes.
func (k *Kind[T]) indexFields() []string {
	if k.IndexedField == nil {
		return nil
	}
	return []string{k.IndexedField.Path}
}

// triggerFuncs returns the watch cache's trigger function: the indexed field's value.
func (k *Kind[T]) triggerFuncs() storage.IndexerFuncs {
	if k.IndexedField == nil {
		return nil
	}
	value := k.IndexedField.Value
	return storage.IndexerFuncs{k.IndexedField.Path: func(obj runtime.Object) string {
		// The cacher passes the stored object itself (never a cachingObject wrapper).
		return value(obj.(T))
	}}
}

// indexers returns the watch cache's list index of the indexed field.
func (k *Kind[T]) indexers() *cache.Indexers {
	if k.IndexedField == nil {
		return nil
	}
	value := k.IndexedField.Value
	return &cache.Indexers{storage.FieldIndex(k.IndexedField.Path): func(obj any) ([]string, error) {
		o, ok := obj.(T)
		if !ok {
			return nil, fmt.Errorf("%s index: unexpected object %T", k.Resource, obj)
		}
		return []string{value(o)}, nil
	}}
}

// checkIndexedField refuses an indexed field that is not a selectable field of the kind, or
// whose value disagrees with the selectable field's on an empty object.
func (k *Kind[T]) checkIndexedField() error {
	f := k.IndexedField
	if f == nil {
		return nil
	}
	if f.Value == nil || f.Path == "" || strings.HasPrefix(f.Path, "metadata.") {
		return fmt.Errorf("%s: indexed field %q needs a path outside metadata and a value function", k.Resource, f.Path)
	}
	empty := k.New()
	_, set, err := k.attrs(empty)
	if err != nil {
		return err
	}
	want, ok := set[f.Path]
	if !ok {
		return fmt.Errorf("%s: indexed field %q is not a selectable field", k.Resource, f.Path)
	}
	if got := f.Value(empty); got != want {
		return fmt.Errorf("%s: indexed field %q reads %q from an empty object, the selectable field %q", k.Resource, f.Path, got, want)
	}
	return nil
}
