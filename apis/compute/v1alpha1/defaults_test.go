package v1alpha1_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ferrite-dev/ferrite/apis/compute"
	"github.com/ferrite-dev/ferrite/apis/compute/install"
	"github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/compute/validation"
)

// newScheme registers the group as the apiserver does, so defaults run through the generated
// SetObjectDefaults_* functions rather than being called by hand.
func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	scheme := runtime.NewScheme()
	install.Install(scheme)
	return scheme
}

func TestMachineDefaults(t *testing.T) {
	scheme := newScheme(t)
	tests := []struct {
		name      string
		spec      v1alpha1.MachineSpec
		wantPower v1alpha1.Power
		wantKey   string // "" when ignitionRef must stay nil
	}{
		{name: "power on by default", wantPower: v1alpha1.PowerOn},
		{name: "power off kept", spec: v1alpha1.MachineSpec{Power: v1alpha1.PowerOff}, wantPower: v1alpha1.PowerOff},
		{name: "ignition key filled", spec: v1alpha1.MachineSpec{IgnitionRef: &v1alpha1.SecretKeySelector{Name: "user-data"}},
			wantPower: v1alpha1.PowerOn, wantKey: v1alpha1.DefaultIgnitionKey},
		{name: "ignition key kept", spec: v1alpha1.MachineSpec{IgnitionRef: &v1alpha1.SecretKeySelector{Name: "user-data", Key: "cloud-init"}},
			wantPower: v1alpha1.PowerOn, wantKey: "cloud-init"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			machine := &v1alpha1.Machine{Spec: tt.spec}
			scheme.Default(machine)
			if machine.Spec.Power != tt.wantPower {
				t.Errorf("power = %q, want %q", machine.Spec.Power, tt.wantPower)
			}
			switch ref := machine.Spec.IgnitionRef; {
			case tt.wantKey == "" && ref != nil:
				t.Errorf("ignitionRef = %+v, want nil", ref)
			case tt.wantKey != "" && (ref == nil || ref.Key != tt.wantKey):
				t.Errorf("ignitionRef = %+v, want key %q", ref, tt.wantKey)
			}
		})
	}
	if v1alpha1.DefaultIgnitionKey != "ignition.json" {
		t.Errorf("DefaultIgnitionKey = %q, want ignition.json", v1alpha1.DefaultIgnitionKey)
	}
}

func TestMachineListDefaults(t *testing.T) {
	list := &v1alpha1.MachineList{Items: []v1alpha1.Machine{{}, {Spec: v1alpha1.MachineSpec{Power: v1alpha1.PowerOff}}}}
	newScheme(t).Default(list)
	if list.Items[0].Spec.Power != v1alpha1.PowerOn || list.Items[1].Spec.Power != v1alpha1.PowerOff {
		t.Errorf("powers = %q, %q; want On, Off", list.Items[0].Spec.Power, list.Items[1].Spec.Power)
	}
}

// A minimal served Machine, once defaulted and converted, passes validation: the defaults
// satisfy every rule that makes a field required.
func TestDefaultedMachineIsValid(t *testing.T) {
	scheme := newScheme(t)
	machine := &v1alpha1.Machine{Spec: v1alpha1.MachineSpec{
		MachineClassRef: corev1.LocalObjectReference{Name: "x3-large"},
		IgnitionRef:     &v1alpha1.SecretKeySelector{Name: "user-data"},
		Volumes: []v1alpha1.MachineVolume{{Name: "root", Ephemeral: &v1alpha1.EphemeralVolumeSource{
			VolumeClassRef: corev1.LocalObjectReference{Name: "fast"},
			Resources:      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
		}}},
	}}
	machine.Name = "web-0"
	scheme.Default(machine)
	internal := &compute.Machine{}
	if err := scheme.Convert(machine, internal, nil); err != nil {
		t.Fatal(err)
	}
	if errs := validation.ValidateMachine(internal); len(errs) > 0 {
		t.Errorf("defaulted machine is invalid: %v", errs.ToAggregate())
	}
}
