package scheduler

import (
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// poolState is what the scheduler knows of one pool.
type poolState[O, P client.Object] struct {
	// informed is the newest copy the informer delivered (shared, never modified).
	informed P
	// written is the newest copy this scheduler wrote (its own).
	written P
	// assigned is, per class, what the placement loop has assigned to the pool and its group
	// commit has not yet answered: it is in no ledger copy the scheduler holds.
	assigned map[string]int64
	// inFlight counts those assignments.
	inFlight int
	// The group commit: operations waiting, and whether a writer is running.
	waiting []*op[O]
	writing bool
	// wrote is when the group commit last wrote; every write settles the ledger.
	wrote time.Time
	// entries are the UIDs in the newest ledger, to complete a placement after a crash.
	entries map[types.UID]bool
	// ledger caches the newest copy's ledger, read at resourceVersion ledgerVersion, and used
	// its per-class totals (Ledger.Used for every class at once).
	ledger        Ledger
	ledgerVersion string
	used          map[string]int64
}

// view returns the newest copy of the pool and its ledger.
func (s *poolState[O, P]) view(k *Kind[O, P]) (P, *Ledger) {
	pool := s.newest()
	if rv := pool.GetResourceVersion(); rv != s.ledgerVersion {
		s.ledger, s.ledgerVersion = k.Ledger(pool), rv
		s.used = make(map[string]int64, len(s.ledger.Allocated))
		for class, n := range s.ledger.Allocated {
			s.used[class] = n
		}
		for _, e := range s.ledger.Entries {
			s.used[e.Class] += e.Amount
		}
	}
	return pool, &s.ledger
}

// indexEntries points entryPool at this pool for the entries of its newest ledger. Called with
// s.mu held.
func (s *Scheduler[O, P]) indexEntries(st *poolState[O, P]) {
	pool, ledger := st.view(&s.Kind)
	for uid := range st.entries {
		if s.entryPool[uid] == pool.GetName() {
			delete(s.entryPool, uid)
		}
	}
	st.entries = make(map[types.UID]bool, len(ledger.Entries))
	for _, e := range ledger.Entries {
		st.entries[e.UID] = true
		s.entryPool[e.UID] = pool.GetName()
	}
}

// newest returns the newer of the informed and the written copy.
func (s *poolState[O, P]) newest() P {
	if isNil(s.written) || (!isNil(s.informed) && newer(s.informed, s.written)) {
		return s.informed
	}
	return s.written
}

// isNil reports whether a pool copy is unset (P is a pointer type).
func isNil[T client.Object](o T) bool {
	var zero T
	return any(o) == any(zero)
}

// newer reports whether a was written after b. Ferrite's resourceVersions are etcd revisions, and
// both copies come from one store, so comparing them as numbers is safe.
func newer(a, b client.Object) bool {
	return parseRevision(a.GetResourceVersion()) > parseRevision(b.GetResourceVersion())
}

// mayHaveMoreRoom reports whether a pool update can turn an unschedulable object schedulable:
// room freed, allocatable, labels, taints or readiness changed. Reservations being added, the
// bulk of pool updates under load, cannot, so they do not requeue every unschedulable object.
func (s *Scheduler[O, P]) mayHaveMoreRoom(old, new P) bool {
	k := &s.Kind
	oldLedger, newLedger := k.Ledger(old), k.Ledger(new)
	for class, amount := range oldLedger.Allocated {
		if newLedger.Allocated[class] < amount {
			return true
		}
	}
	return len(newLedger.Entries) < len(oldLedger.Entries) ||
		!equality.Semantic.DeepEqual(old.GetLabels(), new.GetLabels()) ||
		!equality.Semantic.DeepEqual(k.Taints(old), k.Taints(new)) ||
		!equality.Semantic.DeepEqual(k.Allocatable(old), k.Allocatable(new)) ||
		readyStatus(k.PoolConditions(old)) != readyStatus(k.PoolConditions(new))
}

func readyStatus(conditions []metav1.Condition) metav1.ConditionStatus {
	if c := meta.FindStatusCondition(conditions, "Ready"); c != nil {
		return c.Status
	}
	return metav1.ConditionUnknown
}
