package scheduler

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// SetupWithManager registers the scheduler's informer handlers with the manager's cache and its
// placement loop and ledger keeper as runnables (which run only on the elected leader, once the
// handlers have seen every object and pool).
func (s *Scheduler[O, P]) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	s.init()
	objects, err := mgr.GetCache().GetInformer(ctx, s.Kind.NewObject())
	if err != nil {
		return err
	}
	objectsSynced, err := objects.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { s.objectChanged(obj) },
		UpdateFunc: func(_, obj interface{}) { s.objectChanged(obj) },
		DeleteFunc: s.objectDeleted,
	})
	if err != nil {
		return err
	}
	pools, err := mgr.GetCache().GetInformer(ctx, s.Kind.NewPool())
	if err != nil {
		return err
	}
	poolsSynced, err := pools.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { s.poolChanged(nil, obj) },
		UpdateFunc: s.poolChanged,
		DeleteFunc: s.poolDeleted,
	})
	if err != nil {
		return err
	}
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("controller", s.Kind.Name+"-scheduler"))
		// A ledger settled from a partial view would undercount: wait for both handlers.
		if !toolscache.WaitForCacheSync(ctx.Done(), objectsSynced.HasSynced, poolsSynced.HasSynced) {
			return fmt.Errorf("%s scheduler: informers did not sync", s.Kind.Name)
		}
		go s.keep(ctx)
		s.run(ctx)
		return nil
	}))
}

// objectChanged updates the tally and the queue from an informer copy of an object.
func (s *Scheduler[O, P]) objectChanged(obj interface{}) {
	object, ok := obj.(O)
	if !ok {
		return
	}
	k := &s.Kind
	pool, poolUID := k.PoolRef(object)
	state := &tracked{
		namespace: object.GetNamespace(), name: object.GetName(), labels: object.GetLabels(),
		pool: pool, poolUID: poolUID, class: k.Class(object), amount: k.Demand(object),
		deleting: object.GetDeletionTimestamp() != nil,
	}
	s.settleSoon(s.tally.observe(object.GetUID(), state, object.GetResourceVersion()))
	key := client.ObjectKeyFromObject(object)
	s.mu.Lock()
	delete(s.unschedulable, key)
	s.mu.Unlock()
	switch {
	case pool != "" && meta.IsStatusConditionFalse(*k.Conditions(object), ConditionScheduled):
		// Bound (by hand, or by this scheduler) after having been unschedulable.
		s.queue.add(key, object)
	case pool != "" || state.deleting:
		s.queue.remove(key)
	default:
		s.queue.add(key, object)
	}
}

// objectDeleted forgets a deleted object; its share of a pool is freed by the next settle.
func (s *Scheduler[O, P]) objectDeleted(obj interface{}) {
	if tombstone, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	object, ok := obj.(O)
	if !ok {
		return
	}
	s.missing.Deleted(object.GetUID())
	s.settleSoon(s.tally.observe(object.GetUID(), nil, object.GetResourceVersion()))
	key := client.ObjectKeyFromObject(object)
	s.mu.Lock()
	delete(s.unschedulable, key)
	s.mu.Unlock()
	s.queue.remove(key)
}

// poolChanged records the informer's newest copy of a pool.
func (s *Scheduler[O, P]) poolChanged(oldObj, obj interface{}) {
	pool, ok := obj.(P)
	if !ok {
		return
	}
	s.mu.Lock()
	st := s.pools[pool.GetName()]
	if st == nil || (!isNil(st.newest()) && st.newest().GetUID() != pool.GetUID()) {
		// New, or re-created under the same name: nothing of the old one carries over.
		st = &poolState[O, P]{assigned: map[string]int64{}, entries: map[types.UID]bool{}}
		s.pools[pool.GetName()] = st
	}
	st.informed = pool
	s.indexEntries(st)
	s.mu.Unlock()
	s.madeRoom()
	old, wasPool := oldObj.(P)
	if !wasPool || s.mayHaveMoreRoom(old, pool) {
		s.RequeueUnschedulable()
	}
	s.keeper.AddAfter(pool.GetName(), settleDelay)
}

// poolDeleted forgets a pool; objects assigned to it are placed again.
func (s *Scheduler[O, P]) poolDeleted(obj interface{}) {
	if tombstone, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	pool, ok := obj.(P)
	if !ok {
		return
	}
	s.mu.Lock()
	if st := s.pools[pool.GetName()]; st != nil && st.newest().GetUID() == pool.GetUID() {
		for uid := range st.entries {
			if s.entryPool[uid] == pool.GetName() {
				delete(s.entryPool, uid)
			}
		}
		delete(s.pools, pool.GetName())
	}
	s.mu.Unlock()
}
