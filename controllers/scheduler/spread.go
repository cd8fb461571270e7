package scheduler

import (
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
)

// noDomainPenalty ranks a pool without the topology label after every pool with one.
const noDomainPenalty = 1 << 20

// spread applies the object's topology spread constraints, like pod topology spread: the
// domains are the values of the constraint's pool label among the pools the object may use
// (eligible, room aside); an object counts in the domain of the pool it is bound to, or that the
// placement loop assigned it to. DoNotSchedule removes the candidates that would take their
// domain more than MaxSkew above the emptiest domain, and those without the label;
// ScheduleAnyway ranks candidates by how many matching objects their domain holds. It returns
// the candidates ordered by that rank, and how many it removed. Called with s.mu held.
func (s *Scheduler[O, P]) spread(object O, candidates []candidate, eligible []map[string]string) ([]candidate, int) {
	if s.Kind.Spread == nil {
		return candidates, 0
	}
	constraints := s.Kind.Spread(object)
	if len(constraints) == 0 {
		return candidates, 0
	}
	removed := 0
	for _, c := range constraints {
		counts, lowest := s.domainCounts(object, &c, eligible)
		kept := candidates[:0]
		for _, cand := range candidates {
			domain, ok := cand.labels[c.TopologyKey]
			if c.WhenUnsatisfiable == computev1alpha1.ScheduleAnyway {
				if ok {
					cand.spreadPenalty += counts[domain]
				} else {
					cand.spreadPenalty += noDomainPenalty
				}
				kept = append(kept, cand)
				continue
			}
			if !ok || int32(counts[domain]+1-lowest) > c.MaxSkew {
				removed++
				continue
			}
			cand.spreadPenalty += counts[domain]
			kept = append(kept, cand)
		}
		candidates = kept
	}
	sort.SliceStable(candidates, func(i, j int) bool { return candidates[i].spreadPenalty < candidates[j].spreadPenalty })
	return candidates, removed
}

// domainCounts counts the matching objects of the object's namespace per domain, and returns the
// lowest count among the eligible pools' domains.
func (s *Scheduler[O, P]) domainCounts(object O, c *computev1alpha1.TopologySpreadConstraint, eligible []map[string]string) (map[string]int, int) {
	selector := labels.SelectorFromSet(object.GetLabels())
	if c.LabelSelector != nil {
		if parsed, err := metav1.LabelSelectorAsSelector(c.LabelSelector); err == nil {
			selector = parsed
		}
	}
	counts := map[string]int{}
	for pool, n := range s.tally.countByPool(object.GetNamespace(), selector) {
		if st := s.pools[pool]; st != nil {
			if domain, ok := st.newest().GetLabels()[c.TopologyKey]; ok {
				counts[domain] += n
			}
		}
	}
	lowest := -1
	for _, poolLabels := range eligible {
		if domain, ok := poolLabels[c.TopologyKey]; ok && (lowest < 0 || counts[domain] < lowest) {
			lowest = counts[domain]
		}
	}
	return counts, max(lowest, 0)
}
