package machinescheduler

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/controllers/placement"
)

// Allocatable returns how many machines of class the pool allocates (0 when it does not offer it).
func Allocatable(pool *computev1alpha1.MachinePool, class string) int64 {
	q, ok := pool.Status.Allocatable[corev1.ResourceName(class)]
	if !ok {
		return 0
	}
	return q.Value()
}

// Reserved returns how many reservations of class the pool's ledger holds.
func Reserved(pool *computev1alpha1.MachinePool, class string) int64 {
	var n int64
	for _, r := range pool.Status.Reservations {
		if r.MachineClass == class {
			n++
		}
	}
	return n
}

// HasReservation reports whether the pool's ledger holds the machine.
func HasReservation(pool *computev1alpha1.MachinePool, uid types.UID) bool {
	for _, r := range pool.Status.Reservations {
		if r.MachineUID == uid {
			return true
		}
	}
	return false
}

// eligible reports whether the pool may take the machine leaving capacity aside, and if not, the
// reason (a Reason* constant).
func eligible(pool *computev1alpha1.MachinePool, machine *computev1alpha1.Machine, now time.Time, grace time.Duration) (bool, string) {
	switch {
	case Allocatable(pool, machine.Spec.MachineClassRef.Name) <= 0:
		return false, ReasonNoPoolOffersClass
	case pool.DeletionTimestamp != nil || !placement.Fresh(pool.Status.Conditions, pool.Status.LastHeartbeatTime, now, grace):
		return false, ReasonNoReadyPool
	case !placement.SelectorMatches(machine.Spec.MachinePoolSelector, pool.Labels):
		return false, ReasonNoPoolMatchesSelector
	case placement.UntoleratedTaint(pool.Spec.Taints, machine.Spec.Tolerations) != nil:
		return false, ReasonUntoleratedTaints
	}
	return true, ""
}

// filterOrder is the order in which filters remove pools; the verdict names the last one that
// removed candidates.
var filterOrder = []string{ReasonNoPoolOffersClass, ReasonNoReadyPool, ReasonNoPoolMatchesSelector, ReasonUntoleratedTaints, ReasonPoolsFull}

// Feasible returns the pools that can take the machine now, as candidates with their free share.
// When none can, it returns the reason and a message counting the pools each filter removed.
func Feasible(pools []computev1alpha1.MachinePool, machine *computev1alpha1.Machine, now time.Time, grace time.Duration) ([]placement.Candidate, string, string) {
	class := machine.Spec.MachineClassRef.Name
	removed := map[string]int{}
	var candidates []placement.Candidate
	for i := range pools {
		pool := &pools[i]
		ok, reason := eligible(pool, machine, now, grace)
		if ok {
			allocatable := Allocatable(pool, class)
			free := allocatable - Reserved(pool, class)
			if free <= 0 {
				ok, reason = false, ReasonPoolsFull
			} else {
				candidates = append(candidates, placement.Candidate{Name: pool.Name, FreeShare: float64(free) / float64(allocatable)})
			}
		}
		if !ok {
			removed[reason]++
		}
	}
	if len(candidates) > 0 {
		return candidates, "", ""
	}
	verdict := ReasonNoPoolOffersClass
	message := fmt.Sprintf("0/%d pools fit machine class %q:", len(pools), class)
	for _, reason := range filterOrder {
		if removed[reason] > 0 {
			verdict = reason
			message += fmt.Sprintf(" %d %s;", removed[reason], reason)
		}
	}
	return nil, verdict, message
}
