package scheduler

import (
	"context"
	"errors"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ferrite-dev/ferrite/controllers/deletions"
	"github.com/ferrite-dev/ferrite/controllers/placement"
)

// Scheduler places objects of one kind on pools of its pool kind.
type Scheduler[O client.Object, P client.Object] struct {
	// Kind adapts the object and pool kinds.
	Kind Kind[O, P]
	Settings

	tally *tally
	queue *queue[O]
	// keeper is the queue of pools whose ledger to check.
	keeper keeperQueue
	// calls bounds concurrent API calls; placing bounds objects between assignment and bind.
	calls, placing chan struct{}
	// room is signalled when a ledger write or a pool update may have made room.
	room chan struct{}
	// missing and oversized time entries whose object is unknown or smaller than the entry.
	missing, oversized *deletions.Tracker

	mu    sync.Mutex
	pools map[string]*poolState[O, P]
	// entryPool finds the pool whose ledger holds an object's entry (a placement to complete).
	entryPool map[types.UID]string
	// unschedulable holds the objects no pool took; a pool change that may add room requeues them.
	unschedulable map[types.NamespacedName]O
}

// Settings are what a scheduler is configured with; the same for every kind.
type Settings struct {
	// Client writes to the API server (reads come from the informers).
	Client client.Client
	// APIReader reads from the API server directly, after a conflict.
	APIReader client.Reader
	// Recorder receives the Bound and FailedScheduling events.
	Recorder events.EventRecorder
	// Policy chooses among feasible pools.
	Policy placement.Policy
	// RetryInterval re-examines unschedulable objects even when no pool changes.
	RetryInterval time.Duration
	// Workers bounds the concurrent API calls (binds, condition writes).
	Workers int
	// BatchSize is how many waiting objects one turn of the placement loop places.
	BatchSize int
	// MaxInFlight bounds the entries of one pool's ledger this scheduler lets accumulate.
	MaxInFlight int
	// ResyncInterval re-checks every pool's ledger even without events.
	ResyncInterval time.Duration
	// MissingGrace is how long an entry whose object the informer does not know is kept.
	MissingGrace time.Duration
	// GrowthGrace is how long an entry larger than its bound object (a growth reserved by
	// admission whose update was not stored) is kept before it is given back.
	GrowthGrace time.Duration
}

func (s *Scheduler[O, P]) init() {
	if s.Workers <= 0 {
		s.Workers = 64
	}
	if s.BatchSize <= 0 {
		s.BatchSize = 1024
	}
	if s.RetryInterval <= 0 {
		s.RetryInterval = time.Minute
	}
	if s.ResyncInterval <= 0 {
		s.ResyncInterval = 5 * time.Minute
	}
	s.tally = newTally()
	s.queue = newQueue[O]()
	s.keeper = newKeeperQueue()
	s.calls = make(chan struct{}, s.Workers)
	s.placing = make(chan struct{}, 4*s.BatchSize)
	s.room = make(chan struct{}, 1)
	s.missing = &deletions.Tracker{Grace: s.MissingGrace}
	s.oversized = &deletions.Tracker{Grace: s.GrowthGrace}
	s.pools = map[string]*poolState[O, P]{}
	s.entryPool = map[types.UID]string{}
	s.unschedulable = map[types.NamespacedName]O{}
}

// run is the placement loop: it places waiting objects a batch at a time until ctx ends.
func (s *Scheduler[O, P]) run(ctx context.Context) {
	retry := time.NewTicker(s.RetryInterval)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-retry.C:
			s.RequeueUnschedulable()
			continue
		case <-s.queue.wake:
		}
		for {
			batch := s.queue.take(s.BatchSize)
			if len(batch) == 0 {
				break
			}
			s.placeBatch(ctx, batch)
		}
	}
}

// placeBatch assigns each object of the batch to a pool and hands each pool its share.
func (s *Scheduler[O, P]) placeBatch(ctx context.Context, batch []O) {
	k := &s.Kind
	plans := map[string][]*op[O]{}
	stalled := false
	for i, object := range batch {
		key := client.ObjectKeyFromObject(object)
		if pool, _ := k.PoolRef(object); pool != "" {
			s.call(ctx, func(ctx context.Context) {
				if err := s.markScheduled(ctx, object, pool); err != nil {
					log.FromContext(ctx).Error(err, "writing Scheduled=True", "object", key)
				}
				s.queue.done(key)
			})
			continue
		}
		if object.GetDeletionTimestamp() != nil {
			s.queue.done(key)
			continue
		}
		entry := &Entry{UID: object.GetUID(), Class: k.Class(object), Amount: k.Demand(object)}
		s.mu.Lock()
		pool, reserved := s.entryPool[object.GetUID()]
		s.mu.Unlock()
		if reserved {
			// A placement left by an earlier attempt (this scheduler before a crash, or another
			// one) is completed rather than doubled.
			plans[pool] = append(plans[pool], &op[O]{object: object, add: entry})
			continue
		}
		choice := s.choose(object, entry)
		switch {
		case choice.pool != "":
			plans[choice.pool] = append(plans[choice.pool], &op[O]{object: object, add: entry, assigned: true})
		case choice.busy:
			// Every pool that fits is waiting for its ledger to settle: put the rest of the
			// batch back and wait for room rather than choosing again and again.
			for _, rest := range batch[i:] {
				s.queue.retry(client.ObjectKeyFromObject(rest), rest)
			}
			stalled = true
		default:
			s.call(ctx, func(ctx context.Context) { s.unschedulableNow(ctx, key, object, choice.reason, choice.message) })
		}
		if stalled {
			break
		}
	}
	for pool, ops := range plans {
		for range ops {
			select {
			case s.placing <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
		go s.placeOnPool(ctx, pool, ops)
	}
	if stalled {
		select {
		case <-s.room:
		case <-time.After(conflictRetryDelay):
		case <-ctx.Done():
		}
	}
}

// madeRoom wakes a placement loop waiting for room.
func (s *Scheduler[O, P]) madeRoom() {
	select {
	case s.room <- struct{}{}:
	default:
	}
}

// placeOnPool reserves the objects in the pool's ledger in one group commit and binds those
// that fit.
func (s *Scheduler[O, P]) placeOnPool(ctx context.Context, pool string, ops []*op[O]) {
	verdicts := s.submit(ctx, pool, ops...)
	for i, o := range ops {
		key := client.ObjectKeyFromObject(o.object)
		switch err := verdicts[i]; {
		case err == nil:
			s.call(ctx, func(ctx context.Context) {
				s.bind(ctx, o.object, pool)
				<-s.placing
			})
			continue
		case errors.Is(err, errPoolUnfit):
			// The pool filled up or changed: choose again with the fresher view.
			s.tally.assume(o.object.GetUID(), "")
			s.retryAfter(key, o.object, 0)
		case errors.Is(err, errPoolBusy):
			s.tally.assume(o.object.GetUID(), "")
			s.retryAfter(key, o.object, conflictRetryDelay)
		default:
			log.FromContext(ctx).Error(err, "reserving in the pool ledger", "object", key, "pool", pool)
			s.tally.assume(o.object.GetUID(), "")
			s.retryAfter(key, o.object, errorRetryDelay)
		}
		<-s.placing
	}
}

// call runs fn in its own goroutine once a slot for an API call is free.
func (s *Scheduler[O, P]) call(ctx context.Context, fn func(context.Context)) {
	select {
	case s.calls <- struct{}{}:
	case <-ctx.Done():
		return
	}
	go func() {
		defer func() { <-s.calls }()
		fn(ctx)
	}()
}

// retryAfter ends the object's turn and queues it again after delay.
func (s *Scheduler[O, P]) retryAfter(key types.NamespacedName, object O, delay time.Duration) {
	if delay <= 0 {
		s.queue.retry(key, object)
		return
	}
	time.AfterFunc(delay, func() { s.queue.retry(key, object) })
}

// RequeueUnschedulable queues every object that found no pool: on the retry interval, on a
// pool change that may add room, and for a change the scheduler's own informers do not see (a
// snapshot placed on a pool). It may be called once the scheduler is set up with a manager.
func (s *Scheduler[O, P]) RequeueUnschedulable() {
	s.mu.Lock()
	waiting := s.unschedulable
	s.unschedulable = map[types.NamespacedName]O{}
	s.mu.Unlock()
	for key, object := range waiting {
		s.queue.add(key, object)
	}
}
