package poolbinding

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// Machines adapts Machines bound to MachinePools; poolRefIndex is the scheduler's cache index.
func Machines(poolRefIndex string) *Kind[*computev1alpha1.Machine, *computev1alpha1.MachinePool] {
	return &Kind[*computev1alpha1.Machine, *computev1alpha1.MachinePool]{
		Name:      "machine-pool-binding",
		NewObject: func() *computev1alpha1.Machine { return &computev1alpha1.Machine{} },
		NewPool:   func() *computev1alpha1.MachinePool { return &computev1alpha1.MachinePool{} },
		NewList:   func() client.ObjectList { return &computev1alpha1.MachineList{} },
		Items: func(list client.ObjectList) []*computev1alpha1.Machine {
			return pointers(list.(*computev1alpha1.MachineList).Items)
		},
		PoolRef: func(m *computev1alpha1.Machine) (string, types.UID, bool) {
			if ref := m.Spec.MachinePoolRef; ref != nil {
				return ref.Name, ref.UID, true
			}
			return "", "", false
		},
		Conditions:   func(m *computev1alpha1.Machine) *[]metav1.Condition { return &m.Status.Conditions },
		PoolRefIndex: poolRefIndex,
	}
}

// Volumes adapts Volumes bound to VolumePools; poolRefIndex is the scheduler's cache index.
func Volumes(poolRefIndex string) *Kind[*storagev1alpha1.Volume, *storagev1alpha1.VolumePool] {
	return &Kind[*storagev1alpha1.Volume, *storagev1alpha1.VolumePool]{
		Name:      "volume-pool-binding",
		NewObject: func() *storagev1alpha1.Volume { return &storagev1alpha1.Volume{} },
		NewPool:   func() *storagev1alpha1.VolumePool { return &storagev1alpha1.VolumePool{} },
		NewList:   func() client.ObjectList { return &storagev1alpha1.VolumeList{} },
		Items: func(list client.ObjectList) []*storagev1alpha1.Volume {
			return pointers(list.(*storagev1alpha1.VolumeList).Items)
		},
		PoolRef: func(v *storagev1alpha1.Volume) (string, types.UID, bool) {
			if ref := v.Spec.VolumePoolRef; ref != nil {
				return ref.Name, ref.UID, true
			}
			return "", "", false
		},
		Conditions:   func(v *storagev1alpha1.Volume) *[]metav1.Condition { return &v.Status.Conditions },
		PoolRefIndex: poolRefIndex,
	}
}

// pointers returns pointers to the elements of a list's items.
func pointers[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}
