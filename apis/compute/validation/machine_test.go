package validation

import (
	vt "github.com/ferrite-dev/ferrite/apis/validation/validationtest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrite-dev/ferrite/apis/compute"
)

// validMachine has one of every kind of volume and interface source, so each case below breaks
// exactly one rule of an otherwise valid object.
func validMachine() *compute.Machine {
	size := resource.MustParse("10Gi")
	return &compute.Machine{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-0"},
		Spec: compute.MachineSpec{
			MachineClassRef:     corev1.LocalObjectReference{Name: "x3-large"},
			MachinePoolSelector: map[string]string{"topology.ferrite.dev/zone": "a"},
			Power:               compute.PowerOn,
			Image:               "ghcr.io/ferrite-dev/os-images/debian:12",
			IgnitionRef:         &compute.SecretKeySelector{Name: "web-ignition", Key: "ignition.json"},
			Volumes: []compute.MachineVolume{
				{Name: "root", Device: "vda", Ephemeral: &compute.EphemeralVolumeSource{
					VolumeClassRef: corev1.LocalObjectReference{Name: "fast"},
					Resources:      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")},
				}},
				{Name: "data", Device: "vdb", VolumeRef: &corev1.LocalObjectReference{Name: "web-data"}},
				{Name: "scratch", EmptyDisk: &compute.EmptyDiskSource{SizeLimit: &size}},
			},
			NetworkInterfaces: []compute.MachineNetworkInterface{
				{Name: "primary", Ephemeral: &compute.EphemeralNetworkInterfaceSource{
					NetworkRef:   corev1.LocalObjectReference{Name: "tenant"},
					IPs:          []string{"10.0.0.5"},
					VirtualIPRef: &corev1.LocalObjectReference{Name: "web-public"},
				}},
				{Name: "backend", NetworkInterfaceRef: &corev1.LocalObjectReference{Name: "web-backend"}},
			},
			Tolerations: []corev1.Toleration{{Key: "ferrite.dev/gpu", Operator: corev1.TolerationOpExists}},
			TopologySpreadConstraints: []compute.TopologySpreadConstraint{{
				MaxSkew: 1, TopologyKey: compute.TopologyZoneLabel, WhenUnsatisfiable: compute.DoNotSchedule,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			}},
		},
	}
}

func TestValidateMachine(t *testing.T) {
	negative := resource.MustParse("-1Gi")
	tests := []struct {
		name   string
		mutate func(*compute.Machine)
		want   []vt.FieldError
	}{
		{name: "valid", mutate: func(*compute.Machine) {}},
		{name: "minimal", mutate: func(m *compute.Machine) {
			m.Spec = compute.MachineSpec{MachineClassRef: m.Spec.MachineClassRef, Power: compute.PowerOff}
		}},
		{name: "missing machine class", mutate: func(m *compute.Machine) { m.Spec.MachineClassRef.Name = "" },
			want: []vt.FieldError{vt.Required("spec.machineClassRef.name")}},
		{name: "bad machine class name", mutate: func(m *compute.Machine) { m.Spec.MachineClassRef.Name = "X3_Large" },
			want: []vt.FieldError{vt.Invalid("spec.machineClassRef.name")}},
		{name: "bad pool selector", mutate: func(m *compute.Machine) { m.Spec.MachinePoolSelector = map[string]string{"zone": "a b"} },
			want: []vt.FieldError{vt.Invalid("spec.machinePoolSelector")}},
		{name: "missing power", mutate: func(m *compute.Machine) { m.Spec.Power = "" },
			want: []vt.FieldError{vt.Required("spec.power")}},
		{name: "unknown power", mutate: func(m *compute.Machine) { m.Spec.Power = "Suspended" },
			want: []vt.FieldError{vt.NotSupported("spec.power")}},
		{name: "image not a reference", mutate: func(m *compute.Machine) { m.Spec.Image = "Not A Valid/Image:Ref!" },
			want: []vt.FieldError{vt.Invalid("spec.image")}},
		{name: "ignition without secret name", mutate: func(m *compute.Machine) { m.Spec.IgnitionRef.Name = "" },
			want: []vt.FieldError{vt.Required("spec.ignitionRef.name")}},
		{name: "ignition key not a config key", mutate: func(m *compute.Machine) { m.Spec.IgnitionRef.Key = "user/data" },
			want: []vt.FieldError{vt.Invalid("spec.ignitionRef.key")}},
		{name: "volume without name", mutate: func(m *compute.Machine) { m.Spec.Volumes[1].Name = "" },
			want: []vt.FieldError{vt.Required("spec.volumes[1].name")}},
		{name: "volume name not a label", mutate: func(m *compute.Machine) { m.Spec.Volumes[1].Name = "data.disk" },
			want: []vt.FieldError{vt.Invalid("spec.volumes[1].name")}},
		{name: "duplicate volume name", mutate: func(m *compute.Machine) { m.Spec.Volumes[2].Name = "root" },
			want: []vt.FieldError{vt.Duplicate("spec.volumes[2].name")}},
		{name: "bad device", mutate: func(m *compute.Machine) { m.Spec.Volumes[1].Device = "nvme0n1" },
			want: []vt.FieldError{vt.Invalid("spec.volumes[1].device")}},
		{name: "duplicate device", mutate: func(m *compute.Machine) { m.Spec.Volumes[1].Device = "vda" },
			want: []vt.FieldError{vt.Duplicate("spec.volumes[1].device")}},
		{name: "volume without source", mutate: func(m *compute.Machine) { m.Spec.Volumes[1].VolumeRef = nil },
			want: []vt.FieldError{vt.Invalid("spec.volumes[1]")}},
		{name: "volume with two sources", mutate: func(m *compute.Machine) {
			m.Spec.Volumes[1].EmptyDisk = &compute.EmptyDiskSource{}
		}, want: []vt.FieldError{vt.Invalid("spec.volumes[1]")}},
		{name: "volume ref without name", mutate: func(m *compute.Machine) { m.Spec.Volumes[1].VolumeRef.Name = "" },
			want: []vt.FieldError{vt.Required("spec.volumes[1].volumeRef.name")}},
		{name: "ephemeral volume without class", mutate: func(m *compute.Machine) { m.Spec.Volumes[0].Ephemeral.VolumeClassRef.Name = "" },
			want: []vt.FieldError{vt.Required("spec.volumes[0].ephemeral.volumeClassRef.name")}},
		{name: "ephemeral volume without storage", mutate: func(m *compute.Machine) { m.Spec.Volumes[0].Ephemeral.Resources = nil },
			want: []vt.FieldError{vt.Required("spec.volumes[0].ephemeral.resources[storage]")}},
		{name: "ephemeral volume negative storage", mutate: func(m *compute.Machine) {
			m.Spec.Volumes[0].Ephemeral.Resources[corev1.ResourceStorage] = negative
		}, want: []vt.FieldError{vt.Invalid("spec.volumes[0].ephemeral.resources[storage]")}},
		{name: "empty disk of size zero", mutate: func(m *compute.Machine) {
			zero := resource.MustParse("0")
			m.Spec.Volumes[2].EmptyDisk.SizeLimit = &zero
		}, want: []vt.FieldError{vt.Invalid("spec.volumes[2].emptyDisk.sizeLimit")}},
		{name: "empty disk negative size", mutate: func(m *compute.Machine) { m.Spec.Volumes[2].EmptyDisk.SizeLimit = &negative },
			want: []vt.FieldError{vt.Invalid("spec.volumes[2].emptyDisk.sizeLimit")}},
		{name: "empty disk without size", mutate: func(m *compute.Machine) { m.Spec.Volumes[2].EmptyDisk.SizeLimit = nil }},
		{name: "interface without name", mutate: func(m *compute.Machine) { m.Spec.NetworkInterfaces[1].Name = "" },
			want: []vt.FieldError{vt.Required("spec.networkInterfaces[1].name")}},
		{name: "duplicate interface name", mutate: func(m *compute.Machine) { m.Spec.NetworkInterfaces[1].Name = "primary" },
			want: []vt.FieldError{vt.Duplicate("spec.networkInterfaces[1].name")}},
		{name: "interface without source", mutate: func(m *compute.Machine) { m.Spec.NetworkInterfaces[1].NetworkInterfaceRef = nil },
			want: []vt.FieldError{vt.Invalid("spec.networkInterfaces[1]")}},
		{name: "interface with two sources", mutate: func(m *compute.Machine) {
			m.Spec.NetworkInterfaces[1].Ephemeral = &compute.EphemeralNetworkInterfaceSource{NetworkRef: corev1.LocalObjectReference{Name: "tenant"}}
		}, want: []vt.FieldError{vt.Invalid("spec.networkInterfaces[1]")}},
		{name: "interface ref without name", mutate: func(m *compute.Machine) { m.Spec.NetworkInterfaces[1].NetworkInterfaceRef.Name = "" },
			want: []vt.FieldError{vt.Required("spec.networkInterfaces[1].networkInterfaceRef.name")}},
		{name: "ephemeral interface without network", mutate: func(m *compute.Machine) { m.Spec.NetworkInterfaces[0].Ephemeral.NetworkRef.Name = "" },
			want: []vt.FieldError{vt.Required("spec.networkInterfaces[0].ephemeral.networkRef.name")}},
		{name: "ephemeral interface bad ip", mutate: func(m *compute.Machine) {
			m.Spec.NetworkInterfaces[0].Ephemeral.IPs = []string{"10.0.0.256"}
		}, want: []vt.FieldError{vt.Invalid("spec.networkInterfaces[0].ephemeral.ips[0]")}},
		{name: "ephemeral interface non-canonical ip", mutate: func(m *compute.Machine) {
			m.Spec.NetworkInterfaces[0].Ephemeral.IPs = []string{"2001:db8:0::5"}
		}, want: []vt.FieldError{vt.Invalid("spec.networkInterfaces[0].ephemeral.ips[0]")}},
		{name: "ephemeral interface empty virtual ip ref", mutate: func(m *compute.Machine) {
			m.Spec.NetworkInterfaces[0].Ephemeral.VirtualIPRef.Name = ""
		}, want: []vt.FieldError{vt.Required("spec.networkInterfaces[0].ephemeral.virtualIPRef.name")}},
		{name: "bad toleration", mutate: func(m *compute.Machine) { m.Spec.Tolerations[0].Operator = "Matches" },
			want: []vt.FieldError{vt.NotSupported("spec.tolerations[0].operator")}},
		{name: "spread skew below one", mutate: func(m *compute.Machine) { m.Spec.TopologySpreadConstraints[0].MaxSkew = 0 },
			want: []vt.FieldError{vt.Invalid("spec.topologySpreadConstraints[0].maxSkew")}},
		{name: "spread without key", mutate: func(m *compute.Machine) { m.Spec.TopologySpreadConstraints[0].TopologyKey = "" },
			want: []vt.FieldError{vt.Required("spec.topologySpreadConstraints[0].topologyKey")}},
		{name: "spread bad key", mutate: func(m *compute.Machine) { m.Spec.TopologySpreadConstraints[0].TopologyKey = "zone/a/b" },
			want: []vt.FieldError{vt.Invalid("spec.topologySpreadConstraints[0].topologyKey")}},
		{name: "spread unknown action", mutate: func(m *compute.Machine) { m.Spec.TopologySpreadConstraints[0].WhenUnsatisfiable = "Maybe" },
			want: []vt.FieldError{vt.NotSupported("spec.topologySpreadConstraints[0].whenUnsatisfiable")}},
		{name: "spread bad selector", mutate: func(m *compute.Machine) {
			m.Spec.TopologySpreadConstraints[0].LabelSelector.MatchLabels = map[string]string{"app": "a b"}
		}, want: []vt.FieldError{vt.Invalid("spec.topologySpreadConstraints[0].labelSelector.matchLabels")}},
		{name: "spread twice on one key", mutate: func(m *compute.Machine) {
			m.Spec.TopologySpreadConstraints = append(m.Spec.TopologySpreadConstraints, m.Spec.TopologySpreadConstraints[0])
		}, want: []vt.FieldError{vt.Duplicate("spec.topologySpreadConstraints[1]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			machine := validMachine()
			tt.mutate(machine)
			vt.Expect(t, ValidateMachine(machine), tt.want...)
		})
	}
}

func TestValidateMachineUpdate(t *testing.T) {
	bound := func(m *compute.Machine) { m.Spec.MachinePoolRef = &compute.MachinePoolReference{Name: "host-a"} }
	tests := []struct {
		name      string
		old, edit func(*compute.Machine)
		want      []vt.FieldError
	}{
		{name: "no change", old: func(*compute.Machine) {}, edit: func(*compute.Machine) {}},
		{name: "power off", old: bound, edit: func(m *compute.Machine) { m.Spec.Power = compute.PowerOff }},
		{name: "scheduler binds", old: func(*compute.Machine) {}, edit: bound},
		{name: "selector may change before binding", old: func(*compute.Machine) {},
			edit: func(m *compute.Machine) { m.Spec.MachinePoolSelector = map[string]string{"zone": "b"} }},
		{name: "add a volume", old: bound, edit: func(m *compute.Machine) {
			m.Spec.Volumes = append(m.Spec.Volumes, compute.MachineVolume{Name: "more", VolumeRef: &corev1.LocalObjectReference{Name: "more"}})
		}},
		{name: "machine class is immutable", old: func(*compute.Machine) {},
			edit: func(m *compute.Machine) { m.Spec.MachineClassRef.Name = "x3-xlarge" },
			want: []vt.FieldError{vt.Invalid("spec.machineClassRef")}},
		// The pool reference itself is guarded by registry/kind (binding subresource only).
		{name: "selector fixed once bound", old: bound,
			edit: func(m *compute.Machine) { bound(m); m.Spec.MachinePoolSelector = map[string]string{"zone": "b"} },
			want: []vt.FieldError{vt.Invalid("spec.machinePoolSelector")}},
		{name: "spread may change before binding", old: func(*compute.Machine) {},
			edit: func(m *compute.Machine) { m.Spec.TopologySpreadConstraints[0].MaxSkew = 2 }},
		{name: "spread fixed once bound", old: bound,
			edit: func(m *compute.Machine) { bound(m); m.Spec.TopologySpreadConstraints[0].MaxSkew = 2 },
			want: []vt.FieldError{vt.Invalid("spec.topologySpreadConstraints")}},
		// A machine stored before images were checked can still change (and lose finalizers).
		{name: "unchanged bad image kept", old: func(m *compute.Machine) { m.Spec.Image = "Bad Image" },
			edit: func(m *compute.Machine) { m.Spec.Power = compute.PowerOff }},
		{name: "changed image checked", old: func(*compute.Machine) {},
			edit: func(m *compute.Machine) { m.Spec.Image = "Bad Image" },
			want: []vt.FieldError{vt.Invalid("spec.image")}},
		{name: "new object is validated too", old: func(*compute.Machine) {},
			edit: func(m *compute.Machine) { m.Spec.Power = "Hibernate" },
			want: []vt.FieldError{vt.NotSupported("spec.power")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldMachine := validMachine()
			tt.old(oldMachine)
			newMachine := oldMachine.DeepCopy()
			tt.edit(newMachine)
			vt.Expect(t, ValidateMachineUpdate(newMachine, oldMachine), tt.want...)
		})
	}
}

func TestValidateMachineStatusUpdate(t *testing.T) {
	tests := []struct {
		name   string
		status compute.MachineStatus
		want   []vt.FieldError
	}{
		{name: "empty"},
		{name: "running", status: compute.MachineStatus{
			ObservedGeneration: 3,
			State:              compute.MachineStateRunning,
			MachineID:          "0b6c7d1e-7c2b-4f8b-9a57-2d1f4a0b9d11",
			Conditions:         []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Running", LastTransitionTime: metav1.Unix(1, 0)}},
			Volumes:            []compute.MachineVolumeStatus{{Name: "root", State: compute.AttachmentAttached}},
			NetworkInterfaces:  []compute.MachineNetworkInterfaceStatus{{Name: "primary", IPs: []string{"10.0.0.5", "2001:db8::5"}}},
		}},
		{name: "unknown state", status: compute.MachineStatus{State: "Paused"},
			want: []vt.FieldError{vt.NotSupported("status.state")}},
		{name: "negative observed generation", status: compute.MachineStatus{ObservedGeneration: -1},
			want: []vt.FieldError{vt.Invalid("status.observedGeneration")}},
		{name: "bad condition", status: compute.MachineStatus{Conditions: []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, LastTransitionTime: metav1.Unix(1, 0)}}},
			want: []vt.FieldError{vt.Required("status.conditions[0].reason")}},
		{name: "interface without name", status: compute.MachineStatus{NetworkInterfaces: []compute.MachineNetworkInterfaceStatus{{}}},
			want: []vt.FieldError{vt.Required("status.networkInterfaces[0].name")}},
		{name: "interface bad ip", status: compute.MachineStatus{NetworkInterfaces: []compute.MachineNetworkInterfaceStatus{{Name: "primary", IPs: []string{"10.0.0.5/24"}}}},
			want: []vt.FieldError{vt.Invalid("status.networkInterfaces[0].ips[0]")}},
		{name: "volume bad name", status: compute.MachineStatus{Volumes: []compute.MachineVolumeStatus{{Name: "Root"}}},
			want: []vt.FieldError{vt.Invalid("status.volumes[0].name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			machine := validMachine()
			machine.Status = tt.status
			vt.Expect(t, ValidateMachineStatusUpdate(machine, validMachine()), tt.want...)
		})
	}
}
