package machinescheduler

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
)

// A pool's ledger takes one write at a time (each write needs the resourceVersion of the one
// before), and an etcd write costs tens of milliseconds. So the workers of one scheduler do not
// race each other for a pool: their reservations queue per pool and are written together, group
// commit style. Whoever finds the pool's queue idle writes for everyone queued behind it.

// reservation is one machine waiting to be written into a pool's ledger.
type reservation struct {
	machine *computev1alpha1.Machine
	done    chan error
}

// poolQueue holds the reservations waiting for one pool and the newest copy of the pool.
type poolQueue struct {
	waiting []*reservation
	writing bool
	latest  *computev1alpha1.MachinePool
}

// reserve appends the machine to the pool's ledger unless it is already there, and returns
// errPoolUnfit when the pool, as last written or read live, cannot take it.
func (s *Scheduler) reserve(ctx context.Context, pool *computev1alpha1.MachinePool, machine *computev1alpha1.Machine) error {
	own := &reservation{machine: machine, done: make(chan error, 1)}
	s.mu.Lock()
	if s.queues == nil {
		s.queues = map[string]*poolQueue{}
	}
	queue := s.queues[pool.Name]
	if queue == nil {
		queue = &poolQueue{}
		s.queues[pool.Name] = queue
	}
	queue.waiting = append(queue.waiting, own)
	if queue.writing {
		s.mu.Unlock()
		return <-own.done
	}
	queue.writing = true
	s.mu.Unlock()
	for {
		s.mu.Lock()
		batch := queue.waiting
		queue.waiting = nil
		if len(batch) == 0 {
			queue.writing = false
			s.mu.Unlock()
			return <-own.done
		}
		start := pool
		if queue.latest != nil && newer(queue.latest, pool) {
			start = queue.latest
		}
		s.mu.Unlock()
		written := s.commit(ctx, start.DeepCopy(), batch)
		s.mu.Lock()
		if written != nil {
			queue.latest = written
		}
		s.mu.Unlock()
	}
}

// newer reports whether a's resourceVersion was written after b's. Ferrite's resourceVersions
// are etcd revisions; comparing them as numbers is safe here because both come from one store.
func newer(a, b *computev1alpha1.MachinePool) bool {
	if len(a.ResourceVersion) != len(b.ResourceVersion) {
		return len(a.ResourceVersion) > len(b.ResourceVersion)
	}
	return a.ResourceVersion > b.ResourceVersion
}

// commit writes the batch into the pool's ledger in one status update, re-reading the pool live
// after a conflict, and answers every reservation. It returns the pool as written, or nil.
func (s *Scheduler) commit(ctx context.Context, pool *computev1alpha1.MachinePool, batch []*reservation) *computev1alpha1.MachinePool {
	for attempt := 0; attempt < maxLedgerAttempts; attempt++ {
		verdicts := make([]error, len(batch))
		added := false
		for i, r := range batch {
			class := r.machine.Spec.MachineClassRef.Name
			switch ok, _ := eligible(pool, r.machine, s.now(), s.HeartbeatGrace); {
			case HasReservation(pool, r.machine.UID):
			case !ok || Reserved(pool, class) >= Allocatable(pool, class):
				verdicts[i] = errPoolUnfit
			default:
				pool.Status.Reservations = append(pool.Status.Reservations, computev1alpha1.MachinePoolReservation{
					MachineUID: r.machine.UID, MachineClass: class,
				})
				added = true
			}
		}
		err := error(nil)
		if added {
			err = s.Client.Status().Update(ctx, pool)
		}
		if err == nil {
			for i, r := range batch {
				r.done <- verdicts[i]
			}
			return pool
		}
		if apierrors.IsConflict(err) {
			fresh := &computev1alpha1.MachinePool{}
			if err = s.APIReader.Get(ctx, client.ObjectKeyFromObject(pool), fresh); err == nil {
				pool = fresh
				continue
			}
		}
		if apierrors.IsNotFound(err) {
			err = errPoolUnfit
		}
		for _, r := range batch {
			r.done <- err
		}
		return nil
	}
	for _, r := range batch {
		r.done <- errPoolUnfit
	}
	return nil
}
