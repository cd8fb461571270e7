package scheduler

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// The ledger keeper settles each pool's ledger when the objects bound to it change (deleted
// objects free their share; objects bound by hand are counted) and drops entries nobody will
// complete: the object is gone from etcd, bound to another pool or being deleted unbound (checked
// live), unknown to the informer for MissingGrace (another manager's fresh create), or, for a
// growth reserved by admission, never stored at the new size within GrowthGrace. Its writes go
// through the pool's group commit, so they never race the placement loop's.

// keeperQueue is the delaying queue of pool names whose ledger to check.
type keeperQueue = workqueue.TypedDelayingInterface[string]

func newKeeperQueue() keeperQueue {
	return workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{Name: ""})
}

// keep runs the keeper until ctx ends.
func (s *Scheduler[O, P]) keep(ctx context.Context) {
	go func() {
		<-ctx.Done()
		s.keeper.ShutDown()
	}()
	resync := time.NewTicker(s.ResyncInterval)
	defer resync.Stop()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-resync.C:
				s.mu.Lock()
				for name := range s.pools {
					s.keeper.Add(name)
				}
				s.mu.Unlock()
			}
		}
	}()
	for {
		name, shutdown := s.keeper.Get()
		if shutdown {
			return
		}
		wait, err := s.checkLedger(ctx, name)
		s.keeper.Done(name)
		if err != nil {
			log.FromContext(ctx).Error(err, "checking the pool ledger", "pool", name)
			wait = errorRetryDelay
		}
		if wait > 0 {
			s.keeper.AddAfter(name, wait)
		}
	}
}

// checkLedger settles one pool's ledger and drops its stale entries. It returns when to look
// again (zero: only on the next event).
func (s *Scheduler[O, P]) checkLedger(ctx context.Context, name string) (time.Duration, error) {
	s.mu.Lock()
	st := s.pools[name]
	if st == nil {
		s.mu.Unlock()
		return 0, nil
	}
	pool, cached := st.view(&s.Kind)
	ledger := *cached
	sinceWrite := time.Since(st.wrote)
	s.mu.Unlock()
	var wait time.Duration
	later := func(d time.Duration) {
		if d > 0 && (wait == 0 || d < wait) {
			wait = d
		}
	}
	var ops []*op[O]
	for _, e := range ledger.Entries {
		drop, again, err := s.stale(ctx, pool, e)
		if err != nil {
			return 0, err
		}
		later(again)
		if drop {
			ops = append(ops, &op[O]{remove: e.UID})
		}
	}
	if len(ops) == 0 && sinceWrite < settleDelay {
		// The placement loop is writing this ledger, and every write settles it.
		return settleDelay, nil
	}
	if _, changed := s.tally.settle(ledger, pool.GetName(), pool.GetUID()); !changed && len(ops) == 0 {
		return wait, nil
	}
	if len(ops) == 0 {
		ops = append(ops, &op[O]{})
	}
	for _, err := range s.submit(ctx, name, ops...) {
		if err != nil {
			return 0, err
		}
	}
	return wait, nil
}

// stale decides whether a ledger entry is to be dropped, and when to look again.
func (s *Scheduler[O, P]) stale(ctx context.Context, pool P, e Entry) (drop bool, again time.Duration, err error) {
	o, known := s.tally.lookup(e.UID)
	if !known {
		keep, wait := s.missing.Missing(e.UID)
		return !keep, wait, nil
	}
	s.missing.Found(e.UID)
	switch {
	case o.boundTo(pool.GetName(), pool.GetUID()) && o.amount >= e.Amount:
		// Settled by the next write.
		s.oversized.Found(e.UID)
		return false, 0, nil
	case o.boundTo(pool.GetName(), pool.GetUID()):
		// A growth reserved by admission whose update has not been stored (yet).
		keep, wait := s.oversized.Missing(e.UID)
		return !keep, wait, nil
	case o.pool == "" && !o.deleting:
		// A placement in flight.
		return false, 0, nil
	}
	// Bound elsewhere, or being deleted unbound, says the informer: confirm live.
	live := s.Kind.NewObject()
	if err := s.APIReader.Get(ctx, types.NamespacedName{Namespace: o.namespace, Name: o.name}, live); err != nil {
		if apierrors.IsNotFound(err) {
			return true, 0, nil
		}
		return false, 0, err
	}
	if live.GetUID() != e.UID {
		return true, 0, nil
	}
	livePool, livePoolUID := s.Kind.PoolRef(live)
	if livePool == "" {
		// An unbound object being deleted is never bound (the binding subresource refuses).
		return live.GetDeletionTimestamp() != nil, 0, nil
	}
	bound := (&tracked{pool: livePool, poolUID: livePoolUID}).boundTo(pool.GetName(), pool.GetUID())
	return !bound, 0, nil
}

// settleSoon asks the keeper to look at the pools after the settle delay, which gathers the
// objects bound meanwhile into one write.
func (s *Scheduler[O, P]) settleSoon(pools []string) {
	for _, name := range pools {
		s.keeper.AddAfter(name, settleDelay)
	}
}
