package scheduler

import (
	"context"
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A pool's ledger takes one write at a time (each write needs the resourceVersion of the one
// before), and an etcd write costs milliseconds. So nothing in one scheduler races for a pool:
// operations queue per pool, and whoever finds the queue idle writes everyone's in one update
// (group commit). Every write also settles the ledger against the tally.

// maxLedgerAttempts bounds the optimistic-concurrency retries of one group commit.
const maxLedgerAttempts = 8

var (
	// errPoolUnfit means the pool, as read live, can no longer take the object.
	errPoolUnfit = errors.New("pool no longer fits")
	// errPoolBusy means the pool's ledger has too many placements in flight, or stayed
	// contended; the object is tried again shortly.
	errPoolBusy = errors.New("pool ledger busy")
)

// op is one operation on a pool's ledger: add an entry for object, or remove the entry of a UID,
// or (neither) only settle.
type op[O client.Object] struct {
	object O
	add    *Entry
	remove types.UID
	// assigned marks an add the placement loop counted in the pool's assigned amounts.
	assigned bool
	done     chan error
}

// submit queues the operations on the pool's ledger and returns their verdicts.
func (s *Scheduler[O, P]) submit(ctx context.Context, poolName string, ops ...*op[O]) []error {
	for _, o := range ops {
		o.done = make(chan error, 1)
	}
	s.mu.Lock()
	st := s.pools[poolName]
	if st == nil {
		s.mu.Unlock()
		answer(ops, nil, errPoolUnfit)
	} else {
		st.waiting = append(st.waiting, ops...)
		idle := !st.writing
		st.writing = true
		s.mu.Unlock()
		if idle {
			s.drain(ctx, st)
		}
	}
	verdicts := make([]error, len(ops))
	for i, o := range ops {
		verdicts[i] = <-o.done
	}
	return verdicts
}

// drain writes the pool's waiting operations, a batch per write, until none wait.
func (s *Scheduler[O, P]) drain(ctx context.Context, st *poolState[O, P]) {
	for {
		s.mu.Lock()
		batch := st.waiting
		st.waiting = nil
		if len(batch) == 0 {
			st.writing = false
			s.mu.Unlock()
			return
		}
		start := st.newest()
		s.mu.Unlock()
		written := s.write(ctx, start.DeepCopyObject().(P), batch)
		s.mu.Lock()
		if !isNil(written) && (isNil(st.written) || newer(written, st.written)) {
			st.written = written
			st.wrote = time.Now()
			s.indexEntries(st)
		}
		for _, o := range batch {
			if o.assigned {
				st.assigned[o.add.Class] -= o.add.Amount
				st.inFlight--
			}
		}
		s.mu.Unlock()
		s.madeRoom()
	}
}

// write applies the batch to the pool's ledger in one status update, re-reading the pool live
// after a conflict, and answers every operation. It returns the pool as written (or as read,
// when nothing had to be written), or the zero P.
func (s *Scheduler[O, P]) write(ctx context.Context, pool P, batch []*op[O]) P {
	k := &s.Kind
	var zero P
	for attempt := 0; attempt < maxLedgerAttempts; attempt++ {
		ledger, changed := s.tally.settle(k.Ledger(pool), pool.GetName(), pool.GetUID())
		verdicts := make([]error, len(batch))
		for i, o := range batch {
			switch {
			case o.remove != "":
				kept := ledger.Entries[:0:0]
				for _, e := range ledger.Entries {
					if e.UID != o.remove {
						kept = append(kept, e)
					}
				}
				changed = changed || len(kept) != len(ledger.Entries)
				ledger.Entries = kept
			case o.add == nil || ledger.Has(o.add.UID):
			case s.unfit(pool, o.object) != "" || ledger.Used(o.add.Class)+o.add.Amount > k.allocatable(pool, o.add.Class):
				verdicts[i] = errPoolUnfit
			case len(ledger.Entries) >= s.maxInFlight():
				verdicts[i] = errPoolBusy
			default:
				ledger.Entries = append(ledger.Entries, *o.add)
				changed = true
			}
		}
		if !changed {
			answer(batch, verdicts, nil)
			return pool
		}
		k.SetLedger(pool, ledger)
		err := s.Client.Status().Update(ctx, pool)
		if err == nil {
			answer(batch, verdicts, nil)
			return pool
		}
		if apierrors.IsConflict(err) {
			fresh := k.NewPool()
			if err = s.APIReader.Get(ctx, client.ObjectKeyFromObject(pool), fresh); err == nil {
				pool = fresh
				continue
			}
		}
		if apierrors.IsNotFound(err) {
			err = errPoolUnfit
		}
		answer(batch, nil, err)
		return zero
	}
	answer(batch, nil, errPoolBusy)
	return zero
}

// answer sends each operation its verdict, or err to all when err is set. A removal from a pool
// that is gone has nothing left to remove.
func answer[O client.Object](batch []*op[O], verdicts []error, err error) {
	for i, o := range batch {
		switch {
		case err != nil && o.add == nil && errors.Is(err, errPoolUnfit):
			o.done <- nil
		case err != nil:
			o.done <- err
		default:
			o.done <- verdicts[i]
		}
	}
}

// maxInFlight is the most entries a pool's ledger holds before the scheduler waits for the
// ledger to settle; validation allows 1024, growths reserved by admission need some of them.
func (s *Scheduler[O, P]) maxInFlight() int {
	if s.MaxInFlight > 0 {
		return s.MaxInFlight
	}
	return 256
}
