package machine

import (
	"maps"
	"testing"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// A volume without a device never gets one that another entry asks for by name, even one not
// attached yet; it keeps the one the runtime gave it when nobody asks for that.
func TestAssignDevices(t *testing.T) {
	m := &computev1alpha1.Machine{Spec: computev1alpha1.MachineSpec{Volumes: []computev1alpha1.MachineVolume{
		{Name: "logs"}, {Name: "data", Device: "vdb"}, {Name: "scratch"}, {Name: "old"},
	}}}
	// data waits for its Volume: it is not among the volumes to attach.
	d := &devices{volumes: []*runtimev1alpha1.Volume{{Name: "logs"}, {Name: "scratch"}, {Name: "old"}}}
	// The runtime chose vdb for scratch (status), and old asked for vdf (spec).
	rm := &runtimev1alpha1.Machine{
		Spec: &runtimev1alpha1.MachineSpec{Volumes: []*runtimev1alpha1.Volume{{Name: "old", Device: "vdf"}, {Name: "scratch"}}},
		Status: &runtimev1alpha1.MachineStatus{Volumes: []*runtimev1alpha1.VolumeStatus{
			{Name: "old", Device: "vdf"}, {Name: "scratch", Device: "vdb"},
		}},
	}
	assignDevices(m, d, rm)
	got := map[string]string{}
	for _, v := range d.volumes {
		got[v.Name] = v.Device
	}
	want := map[string]string{"logs": "vdc", "scratch": "vdd", "old": "vdf"}
	if !maps.Equal(got, want) {
		t.Errorf("devices %v, want %v", got, want)
	}
	for i, letters := range map[int]string{1: "b", 25: "z", 26: "aa", 27: "ab"} {
		if got := diskLetters(i); got != letters {
			t.Errorf("diskLetters(%d) = %q, want %q", i, got, letters)
		}
	}
}
