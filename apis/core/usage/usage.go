// Package usage computes what an object counts against ResourceQuota limits. It takes plain
// values, not clients or a particular API version, so the quota admission of the apiserver
// and the quota controller charge exactly the same amounts.
package usage

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ferrite-dev/ferrite/apis/core"
	corevalidation "github.com/ferrite-dev/ferrite/apis/core/validation"
)

// CountName is the quota name that limits the number of objects of a resource, for example
// count/machines.compute.ferrite.dev.
func CountName(resource schema.GroupResource) corev1.ResourceName {
	return corev1.ResourceName(corevalidation.CountQuotaPrefix + resource.Resource + "." + resource.Group)
}

// MachineClassName is the quota name that limits the machines of one class.
func MachineClassName(class string) corev1.ResourceName {
	return corev1.ResourceName(class + corevalidation.MachineClassQuotaSuffix)
}

// VolumeClassName is the quota name that limits the storage of one volume class.
func VolumeClassName(class string) corev1.ResourceName {
	return corev1.ResourceName(class + corevalidation.VolumeClassQuotaSuffix)
}

// Object is what any object counts: one of its resource.
func Object(resource schema.GroupResource) corev1.ResourceList {
	return corev1.ResourceList{CountName(resource): *resource1()}
}

// Machine is what a machine of class counts: one machine, one of its class, and the class's
// CPU and memory. Capabilities may be nil when the class is unknown; then only counts apply.
func Machine(class string, capabilities corev1.ResourceList) corev1.ResourceList {
	list := Object(schema.GroupResource{Group: "compute.ferrite.dev", Resource: "machines"})
	list[MachineClassName(class)] = *resource1()
	if cpu, ok := capabilities[corev1.ResourceCPU]; ok {
		list[core.ResourceRequestsCPU] = cpu.DeepCopy()
	}
	if memory, ok := capabilities[corev1.ResourceMemory]; ok {
		list[core.ResourceRequestsMemory] = memory.DeepCopy()
	}
	return list
}

// Volume is what a volume counts: one volume, and its storage in total and for its class.
func Volume(class string, storage resource.Quantity) corev1.ResourceList {
	list := Object(schema.GroupResource{Group: "storage.ferrite.dev", Resource: "volumes"})
	list[core.ResourceRequestsStorage] = storage.DeepCopy()
	list[VolumeClassName(class)] = storage.DeepCopy()
	return list
}

// Add returns a + b.
func Add(a, b corev1.ResourceList) corev1.ResourceList {
	sum := corev1.ResourceList{}
	for name, q := range a {
		sum[name] = q.DeepCopy()
	}
	for name, q := range b {
		total := sum[name]
		total.Add(q)
		sum[name] = total
	}
	return sum
}

// Subtract returns a - b (names only in b become negative).
func Subtract(a, b corev1.ResourceList) corev1.ResourceList {
	diff := corev1.ResourceList{}
	for name, q := range a {
		diff[name] = q.DeepCopy()
	}
	for name, q := range b {
		rest := diff[name]
		rest.Sub(q)
		diff[name] = rest
	}
	return diff
}

// Exceeded returns the names whose used+delta would pass hard, considering only names that
// hard limits and that delta increases.
func Exceeded(hard, used, delta corev1.ResourceList) []corev1.ResourceName {
	var names []corev1.ResourceName
	for name, increase := range delta {
		limit, limited := hard[name]
		if !limited || increase.Sign() <= 0 {
			continue
		}
		total := used[name]
		total = total.DeepCopy()
		total.Add(increase)
		if total.Cmp(limit) > 0 {
			names = append(names, name)
		}
	}
	return names
}

func resource1() *resource.Quantity { return resource.NewQuantity(1, resource.DecimalSI) }
