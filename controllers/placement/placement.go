// Package placement holds the pool feasibility and scoring rules shared by the machine and the
// volume scheduler: readiness with a fresh heartbeat, label selectors, taints and tolerations,
// and the order in which feasible pools are tried.
package placement

import (
	"math/rand/v2"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// Policy chooses among feasible pools.
type Policy string

const (
	// Spread prefers the pool with the largest free share of the class, so load evens out.
	Spread Policy = "spread"
	// BinPack prefers the pool with the smallest free share that still fits, so whole pools stay empty.
	BinPack Policy = "binpack"
)

// Policies lists the valid policies.
var Policies = []Policy{Spread, BinPack}

// Fresh reports whether a pool may receive new objects: its Ready condition is True and its last
// heartbeat (status.lastHeartbeatTime, else the Ready transition time) is within grace of now.
func Fresh(conditions []metav1.Condition, lastHeartbeat *metav1.Time, now time.Time, grace time.Duration) bool {
	ready := meta.FindStatusCondition(conditions, "Ready")
	if ready == nil || ready.Status != metav1.ConditionTrue {
		return false
	}
	beat := ready.LastTransitionTime.Time
	if lastHeartbeat != nil && lastHeartbeat.After(beat) {
		beat = lastHeartbeat.Time
	}
	return now.Sub(beat) <= grace
}

// SelectorMatches reports whether every key of selector has the same value in labels.
func SelectorMatches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if value, ok := labels[k]; !ok || value != v {
			return false
		}
	}
	return true
}

// UntoleratedTaint returns the first NoSchedule or NoExecute taint that no toleration
// tolerates, or nil. PreferNoSchedule taints never exclude a pool.
func UntoleratedTaint(taints []corev1.Taint, tolerations []corev1.Toleration) *corev1.Taint {
	for i := range taints {
		taint := &taints[i]
		if taint.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		tolerated := false
		for j := range tolerations {
			if tolerations[j].ToleratesTaint(klog.Background(), taint, false) {
				tolerated = true
				break
			}
		}
		if !tolerated {
			return taint
		}
	}
	return nil
}

// Candidate is a feasible pool with the share of its allocatable that is still free (0..1].
type Candidate struct {
	// Name of the pool.
	Name string
	// FreeShare is free/allocatable for the requested class.
	FreeShare float64
}

// Order sorts candidates by policy, best first. The best few are shuffled among themselves so
// that concurrent workers and schedulers do not all race for the same pool's ledger.
func Order(candidates []Candidate, policy Policy, spreadTop int) []Candidate {
	sort.SliceStable(candidates, func(i, j int) bool {
		if policy == BinPack {
			return candidates[i].FreeShare < candidates[j].FreeShare
		}
		return candidates[i].FreeShare > candidates[j].FreeShare
	})
	top := min(spreadTop, len(candidates))
	rand.Shuffle(top, func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
	return candidates
}
