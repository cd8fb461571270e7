package watchcache

import (
	"context"
	"reflect"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/storage"
	cacherstorage "k8s.io/apiserver/pkg/storage/cacher"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/apiserver/pkg/storage/storagebackend/factory"
	"k8s.io/client-go/tools/cache"
)

// interningStorage is the etcd storage as the watch cache sees it: the objects of its LISTs
// and watch events are interned before the cache takes them.
type interningStorage struct {
	storage.Interface
	table *Table
}

// GetList lists from etcd and interns every item.
func (s *interningStorage) GetList(ctx context.Context, key string, opts storage.ListOptions, listObj runtime.Object) error {
	if err := s.Interface.GetList(ctx, key, opts, listObj); err != nil {
		return err
	}
	return meta.EachListItem(listObj, func(obj runtime.Object) error {
		s.table.Intern(obj)
		return nil
	})
}

// Watch watches etcd and interns the object of every event.
func (s *interningStorage) Watch(ctx context.Context, key string, opts storage.ListOptions) (watch.Interface, error) {
	w, err := s.Interface.Watch(ctx, key, opts)
	if err != nil {
		return nil, err
	}
	return watch.Filter(w, func(e watch.Event) (watch.Event, bool) {
		switch e.Type {
		case watch.Added, watch.Modified, watch.Deleted:
			s.table.Intern(unwrap(e.Object))
		}
		return e, true
	}), nil
}

// unwrap returns the object inside the wrappers of the etcd watch (which adds the time an
// event was received).
func unwrap(obj runtime.Object) runtime.Object {
	for {
		w, ok := obj.(interface{ Unwrap() runtime.Object })
		if !ok {
			return obj
		}
		obj = w.Unwrap()
	}
}

// Decorator builds a resource's storage as genericregistry.StorageWithCacher does, except
// that the watch cache reads etcd through the table. Reads and writes that the cache does not
// serve go to etcd directly, untouched.
func Decorator(table *Table) generic.StorageDecorator {
	return func(config *storagebackend.ConfigForResource, resourcePrefix string, keyFunc func(runtime.Object) (string, error),
		newFunc, newListFunc func() runtime.Object, getAttrs storage.AttrFunc, triggers storage.IndexerFuncs, indexers *cache.Indexers,
	) (storage.Interface, factory.DestroyFunc, error) {
		etcd, destroyEtcd, err := generic.NewRawStorage(config, newFunc, newListFunc, resourcePrefix)
		if err != nil {
			return etcd, destroyEtcd, err
		}
		cacher, err := cacherstorage.NewCacherFromConfig(cacherstorage.Config{
			Storage:             &interningStorage{Interface: etcd, table: table},
			Versioner:           storage.APIObjectVersioner{},
			GroupResource:       config.GroupResource,
			EventsHistoryWindow: config.EventsHistoryWindow,
			ResourcePrefix:      resourcePrefix,
			KeyFunc:             keyFunc,
			NewFunc:             newFunc,
			NewListFunc:         newListFunc,
			GetAttrsFunc:        getAttrs,
			IndexerFuncs:        triggers,
			Indexers:            indexers,
			Codec:               config.Codec,
		})
		if err != nil {
			destroyEtcd()
			return nil, func() {}, err
		}
		delegator := cacherstorage.NewCacheDelegator(cacher, etcd)
		var once sync.Once
		return delegator, func() {
			once.Do(func() {
				delegator.Stop()
				cacher.Stop()
				destroyEtcd()
			})
		}, nil
	}
}

// RESTOptionsGetter returns getter with the watch cache of every resource that has one built by
// Decorator(table); resources without a watch cache keep their plain storage.
func RESTOptionsGetter(getter generic.RESTOptionsGetter, table *Table) generic.RESTOptionsGetter {
	return &restOptionsGetter{getter: getter, table: table}
}

type restOptionsGetter struct {
	getter generic.RESTOptionsGetter
	table  *Table
}

// undecorated is the decorator of resources without a watch cache.
var undecorated = reflect.ValueOf(generic.UndecoratedStorage).Pointer()

func (g *restOptionsGetter) GetRESTOptions(resource schema.GroupResource, example runtime.Object) (generic.RESTOptions, error) {
	opts, err := g.getter.GetRESTOptions(resource, example)
	if err != nil || opts.Decorator == nil || reflect.ValueOf(opts.Decorator).Pointer() == undecorated {
		return opts, err
	}
	opts.Decorator = Decorator(g.table)
	return opts, nil
}
