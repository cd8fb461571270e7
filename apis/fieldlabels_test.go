package apis_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	computeinstall "github.com/ferrite-dev/ferrite/apis/compute/install"
	coreinstall "github.com/ferrite-dev/ferrite/apis/core/install"
	ipaminstall "github.com/ferrite-dev/ferrite/apis/ipam/install"
	networkinginstall "github.com/ferrite-dev/ferrite/apis/networking/install"
	storageinstall "github.com/ferrite-dev/ferrite/apis/storage/install"
)

// TestFieldLabels checks, for every served kind, which field selectors the scheme accepts: the
// ones controllers and kubectl rely on (for example the scheduler's spec.machinePoolRef.name),
// and no others.
func TestFieldLabels(t *testing.T) {
	scheme := runtime.NewScheme()
	for _, install := range []func(*runtime.Scheme){computeinstall.Install, coreinstall.Install, ipaminstall.Install, networkinginstall.Install, storageinstall.Install} {
		install(scheme)
	}
	const (
		compute    = "compute.ferrite.dev"
		core       = "core.ferrite.dev"
		ipam       = "ipam.ferrite.dev"
		networking = "networking.ferrite.dev"
		storage    = "storage.ferrite.dev"
	)
	tests := []struct {
		group, kind string
		labels      []string
	}{
		{compute, "Machine", []string{"spec.machinePoolRef.name", "spec.machineClassRef.name", "status.state"}},
		{compute, "MachineClass", nil},
		{compute, "MachinePool", nil},
		{core, "ResourceQuota", nil},
		{ipam, "Prefix", []string{"spec.parentRef.name"}},
		{networking, "Network", nil},
		{networking, "NetworkInterface", []string{"spec.networkRef.name", "spec.machineRef.name"}},
		{networking, "VirtualIP", []string{"spec.targetRef.name"}},
		{networking, "NATGateway", []string{"spec.networkRef.name"}},
		{networking, "LoadBalancer", []string{"spec.networkRef.name"}},
		{networking, "NetworkPolicy", []string{"spec.networkRef.name"}},
		{storage, "Volume", []string{"spec.volumePoolRef.name", "spec.volumeClassRef.name", "spec.claimRef.name", "status.state"}},
		{storage, "VolumeClass", nil},
		{storage, "VolumePool", nil},
		{storage, "VolumeSnapshot", []string{"spec.volumeRef.name"}},
	}
	for _, tt := range tests {
		gvk := schema.GroupVersionKind{Group: tt.group, Version: "v1alpha1", Kind: tt.kind}
		t.Run(tt.kind, func(t *testing.T) {
			for _, label := range append([]string{"metadata.name", "metadata.namespace"}, tt.labels...) {
				if gotLabel, gotValue, err := scheme.ConvertFieldLabel(gvk, label, "x"); err != nil || gotLabel != label || gotValue != "x" {
					t.Errorf("ConvertFieldLabel(%s) = %q, %q, %v; want it accepted unchanged", label, gotLabel, gotValue, err)
				}
			}
			if _, _, err := scheme.ConvertFieldLabel(gvk, "spec.unknown", "x"); err == nil {
				t.Error("ConvertFieldLabel(spec.unknown) accepted an undeclared label")
			}
		})
	}
}
