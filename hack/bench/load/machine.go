package load

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
)

// NewMachine is the Machine the benchmarks create: a realistic one with a class, a pool
// selector, an image, an ephemeral root volume, an empty disk and an ephemeral NIC.
func NewMachine(name string) *computev1alpha1.Machine {
	size := resource.MustParse("10Gi")
	scratch := resource.MustParse("1Gi")
	return &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench", "tier": "web"}},
		Spec: computev1alpha1.MachineSpec{
			MachineClassRef:     corev1.LocalObjectReference{Name: "x3-small"},
			MachinePoolSelector: map[string]string{"topology.ferrite.dev/zone": "zone-a"},
			Power:               computev1alpha1.PowerOn,
			Image:               "ghcr.io/ferrite-dev/images/debian:12",
			Volumes: []computev1alpha1.MachineVolume{
				{Name: "root", Device: "vda", Ephemeral: &computev1alpha1.EphemeralVolumeSource{
					VolumeClassRef: corev1.LocalObjectReference{Name: "fast"},
					Resources:      corev1.ResourceList{corev1.ResourceStorage: size},
					Image:          "ghcr.io/ferrite-dev/images/debian:12",
				}},
				{Name: "scratch", Device: "vdb", EmptyDisk: &computev1alpha1.EmptyDiskSource{SizeLimit: &scratch}},
			},
			NetworkInterfaces: []computev1alpha1.MachineNetworkInterface{
				{Name: "primary", Ephemeral: &computev1alpha1.EphemeralNetworkInterfaceSource{
					NetworkRef: corev1.LocalObjectReference{Name: "frontend"},
				}},
			},
		},
	}
}
