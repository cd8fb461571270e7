package scheduler

import "time"

// ConditionScheduled is the condition the scheduler writes on objects. It is False with one of
// the reasons below while no pool fits, and True once the object is bound after having been
// unschedulable (an object bound on the first attempt carries no condition; its pool reference
// says it all and saves a write per object).
const ConditionScheduled = "Scheduled"

// Reasons of the Scheduled condition and of the events the scheduler emits. The reason names the
// filter that removed the last candidate pools, so it says what to fix.
const (
	// ReasonSourceNotPlaced: the object's data source (a snapshot) is not on any pool yet, or
	// does not exist.
	ReasonSourceNotPlaced = "SourceNotPlaced"
	// ReasonNotSourcePool: the pool does not hold the object's data source.
	ReasonNotSourcePool = "NotSourcePool"
	// ReasonNoPoolOffersClass: no pool lists the object's class in status.allocatable.
	ReasonNoPoolOffersClass = "NoPoolOffersClass"
	// ReasonNoReadyPool: pools offer the class, but none is Ready (the pool health controller
	// turns a pool Unknown when its poollet stops heartbeating) and not being deleted.
	ReasonNoReadyPool = "NoReadyPool"
	// ReasonNoPoolMatchesSelector: no ready pool matches the object's pool selector.
	ReasonNoPoolMatchesSelector = "NoPoolMatchesSelector"
	// ReasonUntoleratedTaints: every remaining pool has a taint the object does not tolerate.
	ReasonUntoleratedTaints = "UntoleratedTaints"
	// ReasonPoolsFull: every remaining pool has no room left for the object's class.
	ReasonPoolsFull = "PoolsFull"
	// ReasonTopologySpread: every remaining pool would break a DoNotSchedule topology spread
	// constraint, or lacks its topology label.
	ReasonTopologySpread = "TopologySpreadUnsatisfiable"
	// ReasonBound is the reason of Scheduled=True and of the Normal event on binding.
	ReasonBound = "Bound"
)

// filterOrder is the order in which filters remove pools; the verdict names the last one that
// removed candidates.
var filterOrder = []string{ReasonNotSourcePool, ReasonNoPoolOffersClass, ReasonNoReadyPool, ReasonNoPoolMatchesSelector, ReasonUntoleratedTaints, ReasonPoolsFull, ReasonTopologySpread}

const (
	// conflictRetryDelay is how soon an object is tried again after a write lost a
	// resourceVersion race: by then the cache has usually caught up with the winning write.
	conflictRetryDelay = 100 * time.Millisecond
	// errorRetryDelay is how soon an object is tried again after a failed API call.
	errorRetryDelay = time.Second
	// settleDelay gathers the bound objects of one pool into one ledger settle.
	settleDelay = time.Second
)
