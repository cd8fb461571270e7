package validation

import (
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ferrite-dev/ferrite/apis/compute"
	apivalidation "github.com/ferrite-dev/ferrite/apis/validation"
)

// ValidateMachineClass checks a new MachineClass: its name fits as a key of pool allocatable,
// and cpu and memory are required and positive.
func ValidateMachineClass(class *compute.MachineClass) field.ErrorList {
	errs := apivalidation.ValidateClassName(class.Name, field.NewPath("metadata", "name"))
	return append(errs, validateMachineClassCapabilities(class)...)
}

func validateMachineClassCapabilities(class *compute.MachineClass) field.ErrorList {
	return apivalidation.ValidateResourceList(class.Capabilities, requiredMachineClassResources, field.NewPath("capabilities"))
}

// ValidateMachineClassUpdate keeps capabilities fixed: running machines were sized by them.
// The name is not checked again (it cannot change, and a class stored before the name rule
// must stay updatable).
func ValidateMachineClassUpdate(newClass, oldClass *compute.MachineClass) field.ErrorList {
	errs := validateMachineClassCapabilities(newClass)
	return append(errs, apimachineryvalidation.ValidateImmutableField(newClass.Capabilities, oldClass.Capabilities, field.NewPath("capabilities"))...)
}

// ValidateMachinePool checks a new MachinePool.
func ValidateMachinePool(pool *compute.MachinePool) field.ErrorList {
	return apivalidation.ValidateTaints(pool.Spec.Taints, specPath.Child("taints"))
}

// ValidateMachinePoolUpdate keeps the provider ID once set.
func ValidateMachinePoolUpdate(newPool, oldPool *compute.MachinePool) field.ErrorList {
	errs := ValidateMachinePool(newPool)
	if oldPool.Spec.ProviderID != "" {
		errs = append(errs, apimachineryvalidation.ValidateImmutableField(newPool.Spec.ProviderID, oldPool.Spec.ProviderID, specPath.Child("providerID"))...)
	}
	return errs
}

var addressTypes = []compute.MachinePoolAddressType{compute.MachinePoolHostName, compute.MachinePoolInternalIP, compute.MachinePoolExternalIP}

// ValidateMachinePoolStatusUpdate checks a status written by a poollet.
func ValidateMachinePoolStatusUpdate(newPool, _ *compute.MachinePool) field.ErrorList {
	status := &newPool.Status
	errs := apivalidation.ValidateResourceList(status.Capacity, nil, statusPath.Child("capacity"))
	errs = append(errs, apivalidation.ValidateResourceList(status.Allocatable, nil, statusPath.Child("allocatable"))...)
	errs = append(errs, apivalidation.ValidateConditions(status.Conditions, statusPath.Child("conditions"))...)
	for i, address := range status.Addresses {
		p := statusPath.Child("addresses").Index(i)
		errs = append(errs, apivalidation.ValidateEnum(address.Type, addressTypes, true, p.Child("type"))...)
		if address.Address == "" {
			errs = append(errs, field.Required(p.Child("address"), ""))
		}
	}
	errs = append(errs, apivalidation.ValidateLedger(status.Allocated, len(status.Reservations), statusPath)...)
	return append(errs, validateMachinePoolReservations(status.Reservations, statusPath.Child("reservations"))...)
}

// validateMachinePoolReservations keeps the scheduler's ledger well formed: one entry per
// machine UID, each naming its machine and class.
func validateMachinePoolReservations(reservations []compute.MachinePoolReservation, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := make(map[string]bool, len(reservations))
	for i, r := range reservations {
		p := path.Index(i)
		if r.MachineUID == "" {
			errs = append(errs, field.Required(p.Child("machineUID"), ""))
		} else if seen[string(r.MachineUID)] {
			errs = append(errs, field.Duplicate(p.Child("machineUID"), r.MachineUID))
		}
		seen[string(r.MachineUID)] = true
		if r.MachineClass == "" {
			errs = append(errs, field.Required(p.Child("machineClass"), ""))
		}
	}
	return errs
}
