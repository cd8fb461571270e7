// Package placement holds the pool rules the scheduler applies to every kind: the scoring
// policies, label selectors, and taints and tolerations.
package placement

import (
	corev1 "k8s.io/api/core/v1"
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
