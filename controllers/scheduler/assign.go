package scheduler

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrite-dev/ferrite/controllers/placement"
)

// choice is the placement loop's verdict for one object.
type choice struct {
	// pool is the chosen pool, or empty.
	pool string
	// busy means pools fit but their ledgers are full of placements in flight: try again soon.
	busy bool
	// reason and message explain why no pool fits.
	reason, message string
}

// candidate is a pool that can take the object now.
type candidate struct {
	name      string
	labels    map[string]string
	freeShare float64
	// spreadPenalty counts the matching objects in the pool's domains (ScheduleAnyway).
	spreadPenalty int
}

func (c *candidate) penalty() int { return c.spreadPenalty }

// unfit returns why the pool cannot take the object leaving room aside (a Reason* constant), or
// "" when it can.
func (s *Scheduler[O, P]) unfit(pool P, object O) string {
	k := &s.Kind
	switch {
	case k.allocatable(pool, k.Class(object)) <= 0:
		return ReasonNoPoolOffersClass
	case pool.GetDeletionTimestamp() != nil || readyStatus(k.PoolConditions(pool)) != metav1.ConditionTrue:
		return ReasonNoReadyPool
	case !placement.SelectorMatches(k.PoolSelector(object), pool.GetLabels()):
		return ReasonNoPoolMatchesSelector
	case placement.UntoleratedTaint(k.Taints(pool), k.Tolerations(object)) != nil:
		return ReasonUntoleratedTaints
	}
	return ""
}

// choose picks the pool for an object and counts the object as assigned to it, so that the
// next objects of the batch see the pool that much fuller.
func (s *Scheduler[O, P]) choose(object O, entry *Entry) choice {
	k := &s.Kind
	var sourcePool string
	if k.SourcePool != nil {
		var waiting string
		if sourcePool, waiting = k.SourcePool(object); waiting != "" {
			return choice{reason: ReasonSourceNotPlaced, message: waiting}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	removed := map[string]int{}
	busy := false
	var candidates []candidate
	var eligible []map[string]string
	for name, st := range s.pools {
		pool, ledger := st.view(k)
		if sourcePool != "" && name != sourcePool {
			removed[ReasonNotSourcePool]++
			continue
		}
		if reason := s.unfit(pool, object); reason != "" {
			removed[reason]++
			continue
		}
		eligible = append(eligible, pool.GetLabels())
		allocatable := k.allocatable(pool, entry.Class)
		free := allocatable - st.used[entry.Class] - st.assigned[entry.Class]
		if free < entry.Amount {
			removed[ReasonPoolsFull]++
			continue
		}
		if len(ledger.Entries)+st.inFlight >= s.maxInFlight() {
			busy = true
			continue
		}
		candidates = append(candidates, candidate{name: name, labels: pool.GetLabels(), freeShare: float64(free-entry.Amount) / float64(allocatable)})
	}
	var spreadRemoved int
	candidates, spreadRemoved = s.spread(object, candidates, eligible)
	removed[ReasonTopologySpread] += spreadRemoved
	if len(candidates) == 0 {
		if busy {
			return choice{busy: true}
		}
		reason, message := s.verdict(entry.Class, removed)
		return choice{reason: reason, message: message}
	}
	best := candidates[0]
	for _, c := range candidates[1:] {
		// candidates come ordered by spread penalty first; among equals the policy decides.
		if c.penalty() != best.penalty() {
			break
		}
		if (s.Policy == placement.BinPack && c.freeShare < best.freeShare) || (s.Policy != placement.BinPack && c.freeShare > best.freeShare) {
			best = c
		}
	}
	st := s.pools[best.name]
	if st.assigned == nil {
		st.assigned = map[string]int64{}
	}
	st.assigned[entry.Class] += entry.Amount
	st.inFlight++
	s.tally.assume(entry.UID, best.name)
	return choice{pool: best.name}
}

// verdict names the filter that removed the last candidates and counts what each removed.
func (s *Scheduler[O, P]) verdict(class string, removed map[string]int) (string, string) {
	total := 0
	for _, n := range removed {
		total += n
	}
	verdict := ReasonNoPoolOffersClass
	message := fmt.Sprintf("0/%d %ss fit %s class %q:", total, s.Kind.PoolKind, s.Kind.Name, class)
	for _, reason := range filterOrder {
		if removed[reason] > 0 {
			verdict = reason
			message += fmt.Sprintf(" %d %s;", removed[reason], reason)
		}
	}
	return verdict, message
}
