package volumescheduler

// ConditionScheduled is the Volume condition the scheduler writes. It is False with one of the
// reasons below while no pool fits, and True once the volume is bound after having been
// unschedulable (a volume bound on the first attempt carries no condition; its
// spec.volumePoolRef says it all and saves a write per volume).
const ConditionScheduled = "Scheduled"

// Reasons of the Scheduled condition and of the events the scheduler emits. The reason names the
// filter that removed the last candidate pools, so it says what to fix.
const (
	// ReasonNoPoolOffersClass: no pool lists the volume's class in status.allocatable.
	ReasonNoPoolOffersClass = "NoPoolOffersClass"
	// ReasonNoReadyPool: pools offer the class, but none is Ready with a fresh heartbeat.
	ReasonNoReadyPool = "NoReadyPool"
	// ReasonNoPoolMatchesSelector: no ready pool matches spec.volumePoolSelector.
	ReasonNoPoolMatchesSelector = "NoPoolMatchesSelector"
	// ReasonUntoleratedTaints: every remaining pool has a taint the volume does not tolerate.
	ReasonUntoleratedTaints = "UntoleratedTaints"
	// ReasonPoolsFull: every remaining pool has too few free bytes of the class.
	ReasonPoolsFull = "PoolsFull"
	// ReasonBound is the reason of Scheduled=True and of the Normal event on binding.
	ReasonBound = "Bound"
)
