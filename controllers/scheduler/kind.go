package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
)

// Kind adapts one kind of scheduled object O and its pool kind P: how to read the object's
// demand and constraints, and how to read and write a pool's ledger.
type Kind[O client.Object, P client.Object] struct {
	// Name is the object kind in lower case ("machine"), for names, events and messages.
	Name string
	// PoolKind is the pool kind in words ("machine pool").
	PoolKind string
	// NewObject and NewPool return empty objects of the two kinds.
	NewObject func() O
	NewPool   func() P

	// PoolRef returns the pool the object is bound to, or an empty name.
	PoolRef func(O) (name string, uid types.UID)
	// Class is the class the object is counted under.
	Class func(O) string
	// Demand is what the object takes of its class: 1 for a machine, bytes for a volume.
	Demand func(O) int64
	// PoolSelector, Tolerations and Spread are the object's placement constraints.
	PoolSelector func(O) map[string]string
	Tolerations  func(O) []corev1.Toleration
	Spread       func(O) []computev1alpha1.TopologySpreadConstraint
	// SourcePool, when set, returns the one pool the object must go to because that pool holds
	// its data source (a volume restored from a snapshot), or "" when the object has none. An
	// object whose source is not on a pool yet waits with the reason why.
	SourcePool func(O) (pool string, waiting string)
	// Conditions returns the object's status conditions for the Scheduled condition.
	Conditions func(O) *[]metav1.Condition
	// NewBinding returns the body of a POST to the object's binding subresource.
	NewBinding func(O, string) client.Object

	// Taints, PoolConditions and Allocatable read a pool. Allocatable is keyed by class name,
	// in the kind's unit (a count of machines, bytes of volumes).
	Taints         func(P) []corev1.Taint
	PoolConditions func(P) []metav1.Condition
	Allocatable    func(P) corev1.ResourceList
	// Ledger reads a pool's ledger; SetLedger writes one into the pool.
	Ledger    func(P) Ledger
	SetLedger func(P, Ledger)
}

// allocatable returns what the pool allocates of class in the kind's unit (0 when it does not
// offer the class).
func (k *Kind[O, P]) allocatable(pool P, class string) int64 {
	q, ok := k.Allocatable(pool)[corev1.ResourceName(class)]
	if !ok {
		return 0
	}
	return q.Value()
}

// Entry is one placement in flight in a pool's ledger (status.reservations).
type Entry struct {
	// UID of the object.
	UID types.UID
	// Class the object is counted under.
	Class string
	// Amount reserved: 1 for a machine, the volume's full (new) size for a volume.
	Amount int64
}

// Ledger is a pool's ledger in the scheduler's units.
type Ledger struct {
	// Allocated is, per class, what the bound objects without an entry take.
	Allocated map[string]int64
	// Revision is the resourceVersion of objects up to which Allocated was counted.
	Revision string
	// Entries are the placements in flight.
	Entries []Entry
}

// Used returns what the class takes in the ledger: Allocated plus the entries of the class.
func (l *Ledger) Used(class string) int64 {
	used := l.Allocated[class]
	for _, e := range l.Entries {
		if e.Class == class {
			used += e.Amount
		}
	}
	return used
}

// Has reports whether the ledger holds an entry for uid.
func (l *Ledger) Has(uid types.UID) bool {
	for _, e := range l.Entries {
		if e.UID == uid {
			return true
		}
	}
	return false
}

// Counts reads a ledger's per-class amounts from a resource list.
func Counts(list corev1.ResourceList) map[string]int64 {
	counts := make(map[string]int64, len(list))
	for class, q := range list {
		counts[string(class)] = q.Value()
	}
	return counts
}

// ResourceList writes per-class amounts as a resource list in the given format.
func ResourceList(counts map[string]int64, format resource.Format) corev1.ResourceList {
	if len(counts) == 0 {
		return nil
	}
	list := make(corev1.ResourceList, len(counts))
	for class, n := range counts {
		list[corev1.ResourceName(class)] = *resource.NewQuantity(n, format)
	}
	return list
}
