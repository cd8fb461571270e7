// Package quota keeps ResourceQuota status true: status.hard mirrors spec.hard and status.used
// sums, for every name in spec.hard, what the namespace's objects use. Its usage functions are
// pure so that the apiserver's quota admission counts an incoming object exactly as this
// controller counts stored ones.
package quota

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	corev1alpha1 "github.com/ferrite-dev/ferrite/apis/core/v1alpha1"
	corevalidation "github.com/ferrite-dev/ferrite/apis/core/validation"
)

// Object counts of the kinds whose usage goes beyond a count.
const (
	// CountMachines is the quota name counting Machines.
	CountMachines corev1.ResourceName = corevalidation.CountQuotaPrefix + "machines.compute.ferrite.dev"
	// CountVolumes is the quota name counting Volumes.
	CountVolumes corev1.ResourceName = corevalidation.CountQuotaPrefix + "volumes.storage.ferrite.dev"
)

// MachineClassQuotaName is the quota name counting machines of class.
func MachineClassQuotaName(class string) corev1.ResourceName {
	return corev1.ResourceName(class + corevalidation.MachineClassQuotaSuffix)
}

// VolumeClassQuotaName is the quota name summing the storage of volumes of class.
func VolumeClassQuotaName(class string) corev1.ResourceName {
	return corev1.ResourceName(class + corevalidation.VolumeClassQuotaSuffix)
}

// CountQuotaName is the quota name counting objects of resource (plural) in group.
func CountQuotaName(resource, group string) corev1.ResourceName {
	return corev1.ResourceName(corevalidation.CountQuotaPrefix + resource + "." + group)
}

// MachineUsage is what one machine of class counts against quota: one machine, one machine of
// its class, and the class's cpu and memory as requests.cpu and requests.memory.
// classCapabilities may be nil when the class is unknown; cpu and memory then count as zero.
func MachineUsage(class string, classCapabilities corev1.ResourceList) corev1.ResourceList {
	usage := corev1.ResourceList{
		CountMachines:                *resource.NewQuantity(1, resource.DecimalSI),
		MachineClassQuotaName(class): *resource.NewQuantity(1, resource.DecimalSI),
	}
	if cpu, ok := classCapabilities[corev1.ResourceCPU]; ok {
		usage[corev1alpha1.ResourceRequestsCPU] = cpu.DeepCopy()
	}
	if memory, ok := classCapabilities[corev1.ResourceMemory]; ok {
		usage[corev1alpha1.ResourceRequestsMemory] = memory.DeepCopy()
	}
	return usage
}

// VolumeUsage is what one volume of class with storage bytes counts against quota: one volume,
// its storage as requests.storage and as the storage of its class.
func VolumeUsage(class string, storage resource.Quantity) corev1.ResourceList {
	return corev1.ResourceList{
		CountVolumes:                         *resource.NewQuantity(1, resource.DecimalSI),
		corev1alpha1.ResourceRequestsStorage: storage.DeepCopy(),
		VolumeClassQuotaName(class):          storage.DeepCopy(),
	}
}

// Add adds usage into total.
func Add(total, usage corev1.ResourceList) {
	for name, q := range usage {
		sum := total[name]
		sum.Add(q)
		total[name] = sum
	}
}

// Exceeded returns the names of hard that used plus delta would go past, in no given order.
func Exceeded(hard, used, delta corev1.ResourceList) []corev1.ResourceName {
	var over []corev1.ResourceName
	for name, q := range delta {
		limit, limited := hard[name]
		if !limited {
			continue
		}
		sum := used[name]
		sum.Add(q)
		if sum.Cmp(limit) > 0 {
			over = append(over, name)
		}
	}
	return over
}
