package usage

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestMachineAndVolumeUsage(t *testing.T) {
	class := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi")}
	total := Add(Machine("small", class), Machine("small", class))
	total = Add(total, Volume("fast", resource.MustParse("10Gi")))
	want := map[corev1.ResourceName]string{
		"count/machines.compute.ferrite.dev":              "2",
		"small.machineclass.compute.ferrite.dev/machines": "2",
		"requests.cpu":                                 "4",
		"requests.memory":                              "8Gi",
		"count/volumes.storage.ferrite.dev":            "1",
		"requests.storage":                             "10Gi",
		"fast.volumeclass.storage.ferrite.dev/storage": "10Gi",
	}
	if len(total) != len(want) {
		t.Fatalf("usage %v", total)
	}
	for name, q := range want {
		got := total[name]
		if got.Cmp(resource.MustParse(q)) != 0 {
			t.Errorf("%s = %s, want %s", name, got.String(), q)
		}
	}
	hard := corev1.ResourceList{"requests.cpu": resource.MustParse("5"), "requests.storage": resource.MustParse("1Ti")}
	if over := Exceeded(hard, total, Machine("small", class)); len(over) != 1 || over[0] != "requests.cpu" {
		t.Errorf("Exceeded = %v, want [requests.cpu]", over)
	}
	if over := Exceeded(hard, total, Machine("unknown-class", nil)); len(over) != 0 {
		t.Errorf("a machine of an unknown class exceeded %v", over)
	}
	// Shrinking is not an increase; Subtract gives the delta of an update.
	if over := Exceeded(hard, total, Subtract(Volume("fast", resource.MustParse("1Gi")), Volume("fast", resource.MustParse("10Gi")))); len(over) != 0 {
		t.Errorf("a shrinking volume exceeded %v", over)
	}
}
