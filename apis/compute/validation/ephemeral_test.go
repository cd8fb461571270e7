package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/ferrite-dev/ferrite/apis/compute"
	vt "github.com/ferrite-dev/ferrite/apis/validation/validationtest"
)

// Ephemeral templates are checked as the Volume and NetworkInterface they render to, with the
// errors on the machine's fields.
func TestEphemeralTemplatesValidatedAsRendered(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*compute.Machine)
		want   []vt.FieldError
	}{
		{name: "two IPv4 addresses on one interface", mutate: func(m *compute.Machine) {
			m.Spec.NetworkInterfaces[0].Ephemeral.IPs = []string{"10.0.0.5", "10.0.0.6"}
		}, want: []vt.FieldError{vt.TooMany("spec.networkInterfaces[0].ephemeral.ips"), vt.Invalid("spec.networkInterfaces[0].ephemeral.ips[1]")}},
		{name: "one address per family", mutate: func(m *compute.Machine) {
			m.Spec.NetworkInterfaces[0].Ephemeral.IPs = []string{"10.0.0.5", "2001:db8::5"}
		}},
		{name: "generated volume name too long", mutate: func(m *compute.Machine) {
			m.Name = strings.Repeat("m", 250)
		}, want: []vt.FieldError{vt.Invalid("spec.volumes[0].name"), vt.Invalid("spec.networkInterfaces[0].name")}},
		{name: "generated name just fits", mutate: func(m *compute.Machine) {
			m.Name = strings.Repeat("m", 253-len("-primary"))
			m.Spec.Volumes[0].Name = "primary"
		}},
		{name: "storage in the template must be positive as in a Volume", mutate: func(m *compute.Machine) {
			m.Spec.Volumes[0].Ephemeral.Resources[corev1.ResourceStorage] = resource.MustParse("0")
		}, want: []vt.FieldError{vt.Invalid("spec.volumes[0].ephemeral.resources[storage]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			machine := validMachine()
			tt.mutate(machine)
			vt.Expect(t, ValidateMachine(machine), tt.want...)
		})
	}
}

// The error on a generated name says what the name is made of.
func TestEphemeralNameErrorExplains(t *testing.T) {
	machine := validMachine()
	machine.Name = strings.Repeat("m", 250)
	errs := ValidateMachine(machine)
	if len(errs) == 0 || !strings.Contains(errs[0].Detail, "<machine>-<entry>") {
		t.Fatalf("errors %v, want one explaining the <machine>-<entry> name", errs)
	}
}

// Templates are immutable: a change is Forbidden on the template; entries may be added (and
// are then checked as rendered) or removed.
func TestEphemeralTemplatesImmutable(t *testing.T) {
	tests := []struct {
		name string
		edit func(*compute.Machine)
		want []vt.FieldError
	}{
		{name: "volume template grows", edit: func(m *compute.Machine) {
			m.Spec.Volumes[0].Ephemeral.Resources[corev1.ResourceStorage] = resource.MustParse("40Gi")
		}, want: []vt.FieldError{vt.Forbidden("spec.volumes[0].ephemeral")}},
		{name: "same size other spelling", edit: func(m *compute.Machine) {
			m.Spec.Volumes[0].Ephemeral.Resources[corev1.ResourceStorage] = resource.MustParse("20480Mi")
		}},
		{name: "interface template address", edit: func(m *compute.Machine) {
			m.Spec.NetworkInterfaces[0].Ephemeral.IPs = []string{"10.0.0.6"}
		}, want: []vt.FieldError{vt.Forbidden("spec.networkInterfaces[0].ephemeral")}},
		{name: "entry removed", edit: func(m *compute.Machine) { m.Spec.Volumes = m.Spec.Volumes[1:] }},
		{name: "valid entry added", edit: func(m *compute.Machine) {
			m.Spec.Volumes = append(m.Spec.Volumes, compute.MachineVolume{Name: "logs", Ephemeral: &compute.EphemeralVolumeSource{
				VolumeClassRef: corev1.LocalObjectReference{Name: "fast"},
				Resources:      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}})
		}},
		{name: "invalid entry added", edit: func(m *compute.Machine) {
			m.Spec.NetworkInterfaces = append(m.Spec.NetworkInterfaces, compute.MachineNetworkInterface{Name: "extra",
				Ephemeral: &compute.EphemeralNetworkInterfaceSource{NetworkRef: corev1.LocalObjectReference{Name: "tenant"}, IPs: []string{"10.0.0.7", "10.0.0.8"}}})
		}, want: []vt.FieldError{vt.TooMany("spec.networkInterfaces[2].ephemeral.ips"), vt.Invalid("spec.networkInterfaces[2].ephemeral.ips[1]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldMachine := validMachine()
			newMachine := oldMachine.DeepCopy()
			tt.edit(newMachine)
			vt.Expect(t, ValidateMachineUpdate(newMachine, oldMachine), tt.want...)
		})
	}
}

// A machine stored before the rendered checks existed, with a template they refuse, can still
// be updated (for example to remove a finalizer) as long as the template does not change.
func TestEphemeralTemplatesNotRecheckedOnUpdate(t *testing.T) {
	oldMachine := validMachine()
	oldMachine.Name = strings.Repeat("m", 250)
	newMachine := oldMachine.DeepCopy()
	newMachine.Labels = map[string]string{"tier": "gold"}
	vt.Expect(t, ValidateMachineUpdate(newMachine, oldMachine))
}
