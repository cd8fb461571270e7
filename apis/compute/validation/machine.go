// Package validation checks compute.ferrite.dev objects; every error names its field.
package validation

import (
	"regexp"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ferrite-dev/ferrite/apis/compute"
	apivalidation "github.com/ferrite-dev/ferrite/apis/validation"
)

var (
	specPath   = field.NewPath("spec")
	statusPath = field.NewPath("status")
	// deviceName is a guest disk name such as vda or sdb.
	deviceName = regexp.MustCompile(`^(vd|sd|hd|xvd)[a-z]{1,2}$`)
)

// ValidateMachine checks a new Machine, and its ephemeral templates as the objects they render
// to (ephemeral.go).
func ValidateMachine(machine *compute.Machine) field.ErrorList {
	errs := append(validateMachine(machine), validateEphemeralTemplates(machine, nil)...)
	return append(errs, apivalidation.ValidateImage(machine.Spec.Image, specPath.Child("image"))...)
}

// validateMachine checks what a Machine satisfies on create and on every update.
func validateMachine(machine *compute.Machine) field.ErrorList {
	spec := &machine.Spec
	errs := apivalidation.ValidateLocalRef(spec.MachineClassRef, specPath.Child("machineClassRef"))
	errs = append(errs, apivalidation.ValidateSelectorMap(spec.MachinePoolSelector, specPath.Child("machinePoolSelector"))...)
	errs = append(errs, apivalidation.ValidateEnum(spec.Power, []compute.Power{compute.PowerOn, compute.PowerOff}, true, specPath.Child("power"))...)
	if ref := spec.IgnitionRef; ref != nil {
		errs = append(errs, apivalidation.ValidateObjectName(ref.Name, specPath.Child("ignitionRef", "name"))...)
		for _, msg := range validation.IsConfigMapKey(ref.Key) {
			errs = append(errs, field.Invalid(specPath.Child("ignitionRef", "key"), ref.Key, msg))
		}
	}
	errs = append(errs, validateVolumes(spec.Volumes, specPath.Child("volumes"))...)
	errs = append(errs, validateNetworkInterfaces(spec.NetworkInterfaces, specPath.Child("networkInterfaces"))...)
	errs = append(errs, apivalidation.ValidateTolerations(spec.Tolerations, specPath.Child("tolerations"))...)
	errs = append(errs, validateTopologySpread(spec.TopologySpreadConstraints, specPath.Child("topologySpreadConstraints"))...)
	return errs
}

func validateVolumes(volumes []compute.MachineVolume, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := make([]string, 0, len(volumes))
	devices := map[string]bool{}
	for i, volume := range volumes {
		p := path.Index(i)
		names = append(names, volume.Name)
		errs = append(errs, apivalidation.ValidateDNSLabel(volume.Name, p.Child("name"))...)
		if volume.Device != "" {
			if !deviceName.MatchString(volume.Device) {
				errs = append(errs, field.Invalid(p.Child("device"), volume.Device, "must be a disk name such as vda or sdb"))
			} else if devices[volume.Device] {
				errs = append(errs, field.Duplicate(p.Child("device"), volume.Device))
			}
			devices[volume.Device] = true
		}
		sources := 0
		if volume.VolumeRef != nil {
			sources++
			errs = append(errs, apivalidation.ValidateLocalRef(*volume.VolumeRef, p.Child("volumeRef"))...)
		}
		if volume.Ephemeral != nil {
			// Checked as the Volume it renders to (ephemeral.go).
			sources++
		}
		if disk := volume.EmptyDisk; disk != nil {
			sources++
			if disk.SizeLimit != nil {
				errs = append(errs, apivalidation.ValidatePositiveQuantity(*disk.SizeLimit, p.Child("emptyDisk", "sizeLimit"))...)
			}
		}
		if sources != 1 {
			errs = append(errs, field.Invalid(p, volume.Name, "must set exactly one of volumeRef, ephemeral or emptyDisk"))
		}
	}
	return append(errs, apivalidation.ValidateUniqueNames(names, path)...)
}

func validateNetworkInterfaces(nics []compute.MachineNetworkInterface, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := make([]string, 0, len(nics))
	for i, nic := range nics {
		p := path.Index(i)
		names = append(names, nic.Name)
		errs = append(errs, apivalidation.ValidateDNSLabel(nic.Name, p.Child("name"))...)
		sources := 0
		if nic.NetworkInterfaceRef != nil {
			sources++
			errs = append(errs, apivalidation.ValidateLocalRef(*nic.NetworkInterfaceRef, p.Child("networkInterfaceRef"))...)
		}
		if nic.Ephemeral != nil {
			// Checked as the NetworkInterface it renders to (ephemeral.go).
			sources++
		}
		if sources != 1 {
			errs = append(errs, field.Invalid(p, nic.Name, "must set exactly one of networkInterfaceRef or ephemeral"))
		}
	}
	return append(errs, apivalidation.ValidateUniqueNames(names, path)...)
}

// ValidateMachineUpdate checks an update of a Machine: the class never changes, and the pool
// binding and selector are fixed once the machine is bound.
func ValidateMachineUpdate(newMachine, oldMachine *compute.Machine) field.ErrorList {
	errs := validateMachine(newMachine)
	errs = append(errs, validateEphemeralTemplates(newMachine, oldMachine)...)
	// Checked only when it changes: a machine stored before the check existed stays updatable
	// (its finalizers can still be removed).
	if newMachine.Spec.Image != oldMachine.Spec.Image {
		errs = append(errs, apivalidation.ValidateImage(newMachine.Spec.Image, specPath.Child("image"))...)
	}
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(newMachine.Spec.MachineClassRef, oldMachine.Spec.MachineClassRef, specPath.Child("machineClassRef"))...)
	// spec.machinePoolRef is written only by the binding subresource (registry/kind).
	if oldMachine.Spec.MachinePoolRef != nil {
		errs = append(errs, apimachineryvalidation.ValidateImmutableField(newMachine.Spec.MachinePoolSelector, oldMachine.Spec.MachinePoolSelector, specPath.Child("machinePoolSelector"))...)
		errs = append(errs, apimachineryvalidation.ValidateImmutableField(newMachine.Spec.TopologySpreadConstraints, oldMachine.Spec.TopologySpreadConstraints, specPath.Child("topologySpreadConstraints"))...)
	}
	return errs
}

var machineStates = []compute.MachineState{compute.MachineStatePending, compute.MachineStateRunning, compute.MachineStateShutdown, compute.MachineStateTerminating, compute.MachineStateError}

// ValidateMachineStatusUpdate checks a status written by a poollet.
func ValidateMachineStatusUpdate(newMachine, _ *compute.Machine) field.ErrorList {
	status := &newMachine.Status
	errs := apivalidation.ValidateEnum(status.State, machineStates, false, statusPath.Child("state"))
	if status.ObservedGeneration < 0 {
		errs = append(errs, field.Invalid(statusPath.Child("observedGeneration"), status.ObservedGeneration, "must not be negative"))
	}
	errs = append(errs, apivalidation.ValidateConditions(status.Conditions, statusPath.Child("conditions"))...)
	for i, nic := range status.NetworkInterfaces {
		p := statusPath.Child("networkInterfaces").Index(i)
		errs = append(errs, apivalidation.ValidateDNSLabel(nic.Name, p.Child("name"))...)
		for j, ip := range nic.IPs {
			errs = append(errs, apivalidation.ValidateIP(ip, p.Child("ips").Index(j))...)
		}
	}
	for i, volume := range status.Volumes {
		errs = append(errs, apivalidation.ValidateDNSLabel(volume.Name, statusPath.Child("volumes").Index(i).Child("name"))...)
	}
	return errs
}

// requiredMachineClassResources are the capabilities every machine class states.
var requiredMachineClassResources = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}
