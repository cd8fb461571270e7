package classprotection

import (
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrite-dev/ferrite/apis/compute"
	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/storage"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// MachineClasses protects MachineClasses used by Machines (spec.machineClassRef).
var MachineClasses = Class{
	Kind:      "MachineClass",
	Finalizer: compute.ClassProtectionFinalizer,
	New:       func() client.Object { return &computev1alpha1.MachineClass{} },
	Uses: []Use{{
		Kind: "Machine", Index: "classprotection.machineClass", ServerField: "spec.machineClassRef.name",
		New:     func() client.Object { return &computev1alpha1.Machine{} },
		NewList: func() client.ObjectList { return &computev1alpha1.MachineList{} },
		Classes: func(obj client.Object) []string {
			return []string{obj.(*computev1alpha1.Machine).Spec.MachineClassRef.Name}
		},
	}},
}

// VolumeClasses protects VolumeClasses used by Volumes (spec.volumeClassRef) and by Machines'
// ephemeral volume templates (spec.volumes[].ephemeral.volumeClassRef): the volume such a
// template makes needs the class, also when it is created again after being deleted.
var VolumeClasses = Class{
	Kind:      "VolumeClass",
	Finalizer: storage.ClassProtectionFinalizer,
	New:       func() client.Object { return &storagev1alpha1.VolumeClass{} },
	Uses: []Use{{
		Kind: "Volume", Index: "classprotection.volumeClass", ServerField: "spec.volumeClassRef.name",
		New:     func() client.Object { return &storagev1alpha1.Volume{} },
		NewList: func() client.ObjectList { return &storagev1alpha1.VolumeList{} },
		Classes: func(obj client.Object) []string {
			return []string{obj.(*storagev1alpha1.Volume).Spec.VolumeClassRef.Name}
		},
	}, {
		Kind: "Machine", Index: "classprotection.ephemeralVolumeClass",
		New:     func() client.Object { return &computev1alpha1.Machine{} },
		NewList: func() client.ObjectList { return &computev1alpha1.MachineList{} },
		Classes: func(obj client.Object) []string {
			var classes []string
			for _, volume := range obj.(*computev1alpha1.Machine).Spec.Volumes {
				if volume.Ephemeral != nil {
					classes = append(classes, volume.Ephemeral.VolumeClassRef.Name)
				}
			}
			return classes
		},
	}},
}
