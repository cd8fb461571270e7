package machine

import (
	"context"
	"slices"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/capacity"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/validation"
)

// Status reports the lower cluster's room for the exposed classes, from the informers.
//
// The lower pools report machines per class (status.allocatable, a total the lower scheduler
// subtracts from), not host resources. For each exposed class, the served pools' allocatable is
// summed; the resources reported (capacity = allocatable, nothing reserved, no overcommit) are,
// per resource, the largest of sum × the class's need over the exposed classes, so that the upper
// poollet's per-class count of them is the sum for a single class (and, for classes cut from the
// same hosts, the sum up to rounding). classes[].available is exact: the served pools'
// allocatable minus what their ledgers hold.
func (b *Broker) Status(_ context.Context, req *runtimev1alpha1.StatusRequest) (*runtimev1alpha1.StatusResponse, error) {
	for i, c := range req.GetClasses() {
		if err := validation.Resources("classes["+strconv.Itoa(i)+"].resources", c.GetResources()); err != nil {
			return nil, err
		}
	}
	pools, err := b.pools.List(labels.Everything())
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "listing lower pools from the cache: %v", err)
	}
	classes, err := b.classes.List(labels.Everything())
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "listing lower classes from the cache: %v", err)
	}
	var total capacity.Resources
	for _, class := range classes {
		need, ok := classNeed(class)
		if !ok || !b.exposed(class.Name) {
			continue
		}
		n, _ := poolCounts(pools, class.Name)
		total = largest(total, scaled(need, n))
	}

	b.mu.Lock()
	var allocated capacity.Resources
	for _, rm := range b.known {
		allocated = allocated.Add(capacity.OfMachine(rm.GetSpec().GetResources()))
	}
	resp := &runtimev1alpha1.StatusResponse{
		Capacity:     total.Proto(),
		Reserved:     capacity.Resources{}.Proto(),
		Overcommit:   &runtimev1alpha1.Overcommit{CpuRatio: 1, MemoryRatio: 1},
		Allocatable:  total.Proto(),
		Allocated:    allocated.Proto(),
		MachineCount: uint32(len(b.known)),
		Revision:     b.history.Revision(),
	}
	b.mu.Unlock()
	for _, c := range req.GetClasses() {
		var available uint64
		if b.exposed(c.GetName()) {
			_, available = poolCounts(pools, c.GetName())
		}
		resp.Classes = append(resp.Classes, &runtimev1alpha1.ClassAvailability{Name: c.GetName(), Available: available})
	}
	return resp, nil
}

// fits refuses a new machine of class when the served pools have no room left for it.
func (b *Broker) fits(class string) error {
	if _, err := b.classes.Get(class); err != nil {
		return status.Errorf(codes.FailedPrecondition, "spec.class: the lower cluster has no machine class %q", class)
	}
	pools, err := b.pools.List(labels.Everything())
	if err != nil {
		return status.Errorf(codes.Unavailable, "listing lower pools from the cache: %v", err)
	}
	if _, free := poolCounts(pools, class); free == 0 {
		return status.Errorf(codes.ResourceExhausted, "no lower machine pool has room for a machine of class %s", class)
	}
	return nil
}

// exposed reports whether the broker serves class.
func (b *Broker) exposed(class string) bool {
	return len(b.opts.Classes) == 0 || slices.Contains(b.opts.Classes, class)
}

// poolCounts sums, over pools, the allocatable machines of class and those not yet allocated.
func poolCounts(pools []*computev1alpha1.MachinePool, class string) (allocatable, free uint64) {
	name := corev1.ResourceName(class)
	for _, p := range pools {
		a, ok := p.Status.Allocatable[name]
		if !ok || a.Sign() <= 0 {
			continue
		}
		allocatable += uint64(a.Value())
		used := p.Status.Allocated[name]
		if left := a.Value() - used.Value(); left > 0 {
			free += uint64(left)
		}
	}
	return allocatable, free
}

// classNeed is what one machine of a lower class holds: its cpu and memory capabilities.
func classNeed(class *computev1alpha1.MachineClass) (capacity.Resources, bool) {
	cpu, okCPU := class.Capabilities[corev1.ResourceCPU]
	mem, okMem := class.Capabilities[corev1.ResourceMemory]
	if !okCPU || !okMem || cpu.Sign() <= 0 || mem.Sign() <= 0 {
		return capacity.Resources{}, false
	}
	return capacity.OfMachine(&runtimev1alpha1.MachineResources{Vcpus: uint32(cpu.Value()), MemoryBytes: uint64(mem.Value())}), true
}

func scaled(r capacity.Resources, n uint64) capacity.Resources {
	return capacity.Resources{VCPUs: r.VCPUs * n, MemoryBytes: r.MemoryBytes * n}
}

func largest(a, b capacity.Resources) capacity.Resources {
	return capacity.Resources{VCPUs: max(a.VCPUs, b.VCPUs), MemoryBytes: max(a.MemoryBytes, b.MemoryBytes)}
}
