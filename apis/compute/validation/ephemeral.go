package validation

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ferrite-dev/ferrite/apis/compute"
	"github.com/ferrite-dev/ferrite/apis/compute/templates"
	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/networking"
	networkingvalidation "github.com/ferrite-dev/ferrite/apis/networking/validation"
	"github.com/ferrite-dev/ferrite/apis/storage"
	storagevalidation "github.com/ferrite-dev/ferrite/apis/storage/validation"
)

// Ephemeral templates are immutable: the controller manager creates the object once, and a
// template change is refused instead of being silently ignored. To change an ephemeral volume,
// edit the Volume itself (its class's resize policy applies), or replace the entry by one of
// another name.
const immutableTemplate = "ephemeral templates are immutable once the machine exists: change the created object itself, or replace the entry by one with another name"

// validateEphemeralTemplates checks each ephemeral template of machine as the object it renders
// to: the Volume or NetworkInterface is rendered, defaulted and converted as the apiserver will
// store it, and checked by the real validation of its kind; errors name the machine's fields.
// With old set (an update), templates of entries that old already had are not checked again
// but must not change; templates of new entries are checked.
func validateEphemeralTemplates(machine, old *compute.Machine) field.ErrorList {
	external := &computev1alpha1.Machine{}
	if err := computev1alpha1.Convert_compute_Machine_To_v1alpha1_Machine(machine, external, nil); err != nil {
		return field.ErrorList{field.InternalError(specPath, err)}
	}
	var errs field.ErrorList
	for i, entry := range machine.Spec.Volumes {
		if entry.Ephemeral == nil {
			continue
		}
		p := specPath.Child("volumes").Index(i)
		if old != nil {
			if before := oldVolumeTemplate(old, entry.Name); before != nil {
				if !apiequality.Semantic.DeepEqual(before, entry.Ephemeral) {
					errs = append(errs, field.Forbidden(p.Child("ephemeral"), immutableTemplate))
				}
				continue
			}
		}
		rendered := templates.Volume(external, entry.Name, external.Spec.Volumes[i].Ephemeral)
		stored, err := templates.AsStored(rendered)
		if err != nil {
			errs = append(errs, field.InternalError(p.Child("ephemeral"), err))
			continue
		}
		volume := stored.(*storage.Volume)
		errs = append(errs, validateRenderedName("Volume", volume.Name, p.Child("name"))...)
		errs = append(errs, toMachineFields(storagevalidation.ValidateVolume(volume), p)...)
	}
	for i, entry := range machine.Spec.NetworkInterfaces {
		if entry.Ephemeral == nil {
			continue
		}
		p := specPath.Child("networkInterfaces").Index(i)
		if old != nil {
			if before := oldNetworkInterfaceTemplate(old, entry.Name); before != nil {
				if !apiequality.Semantic.DeepEqual(before, entry.Ephemeral) {
					errs = append(errs, field.Forbidden(p.Child("ephemeral"), immutableTemplate))
				}
				continue
			}
		}
		rendered := templates.NetworkInterface(external, entry.Name, external.Spec.NetworkInterfaces[i].Ephemeral)
		stored, err := templates.AsStored(rendered)
		if err != nil {
			errs = append(errs, field.InternalError(p.Child("ephemeral"), err))
			continue
		}
		nic := stored.(*networking.NetworkInterface)
		errs = append(errs, validateRenderedName("NetworkInterface", nic.Name, p.Child("name"))...)
		errs = append(errs, toMachineFields(networkingvalidation.ValidateNetworkInterface(nic), p)...)
	}
	return errs
}

func oldVolumeTemplate(old *compute.Machine, name string) *compute.EphemeralVolumeSource {
	for _, entry := range old.Spec.Volumes {
		if entry.Name == name {
			return entry.Ephemeral
		}
	}
	return nil
}

func oldNetworkInterfaceTemplate(old *compute.Machine, name string) *compute.EphemeralNetworkInterfaceSource {
	for _, entry := range old.Spec.NetworkInterfaces {
		if entry.Name == name {
			return entry.Ephemeral
		}
	}
	return nil
}

// validateRenderedName checks the generated "<machine>-<entry>" name; errors name the entry's
// name field, the part of it the user can shorten.
func validateRenderedName(kind, name string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(name, false) {
		errs = append(errs, field.Invalid(path, name, fmt.Sprintf("the %s this entry creates is named <machine>-<entry>, and that name is invalid: %s", kind, msg)))
	}
	return errs
}

// renderedIP matches the path of one address of a rendered NetworkInterface.
var renderedIP = regexp.MustCompile(`^spec\.ips\[(\d+)\]\.value$`)

// toMachineFields moves errors from the rendered object's fields to the template's fields under
// entry: spec.X becomes entry.ephemeral.X, since the template fields carry the same names. The
// interface's addresses are spec.ips[i].value there and plain strings in the template, and its
// IP families are derived from the template's addresses, so both point at ephemeral.ips.
func toMachineFields(errs field.ErrorList, entry *field.Path) field.ErrorList {
	template := entry.Child("ephemeral")
	out := make(field.ErrorList, 0, len(errs))
	for _, err := range errs {
		moved := *err
		switch f := err.Field; {
		case renderedIP.MatchString(f):
			i, _ := strconv.Atoi(renderedIP.FindStringSubmatch(f)[1])
			moved.Field = template.Child("ips").Index(i).String()
		case strings.HasPrefix(f, "spec.ipFamilies"):
			moved.Field = template.Child("ips").String()
			moved.Detail = "the interface's IP families come from these addresses: " + err.Detail
		case strings.HasPrefix(f, "spec."):
			moved.Field = template.String() + strings.TrimPrefix(f, "spec")
		default:
			moved.Field = template.String()
			moved.Detail = f + ": " + err.Detail
		}
		out = append(out, &moved)
	}
	return out
}
