package kind

import (
	"context"
	"fmt"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// Claim describes the claim subresource of a kind that one machine at a time may use (Volumes,
// NetworkInterfaces). The controller manager writes the claim for the machine that references
// the object; users cannot write it through the main resource.
type Claim[T Object] struct {
	// Path is the claim's field path ("spec.claimRef"), for errors.
	Path *field.Path
	// Claimer is the claiming kind ("Machine" of compute.ferrite.dev): an object with a
	// controller owner reference of this kind can only be claimed by its owner.
	ClaimerGroup, ClaimerKind string
	// Get returns the claim, or nil when the object is unclaimed.
	Get func(T) *ClaimRef
	// Set sets (or, with nil, clears) the claim.
	Set func(T, *ClaimRef)
}

// ClaimRef is a claim in kind-neutral form.
type ClaimRef struct {
	Name string
	UID  types.UID
}

// claimStrategy takes the claim from an update and everything else from the stored object.
type claimStrategy[T Object] struct {
	*strategy[T]
}

func (s *claimStrategy[T]) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	newObj, oldObj := obj.(T), old.(T)
	claim := s.kind.Claim.Get(newObj)
	s.kind.CopySpec(oldObj, newObj)
	if s.kind.CopyStatus != nil {
		s.kind.CopyStatus(oldObj, newObj)
	}
	s.kind.Claim.Set(newObj, claim)
	keepUserMetadata(newObj, oldObj)
	newObj.SetFinalizers(oldObj.GetFinalizers())
	// The claim is part of the spec: a change bumps the generation, as any spec change does.
	newObj.SetGeneration(oldObj.GetGeneration())
	if !apiequality.Semantic.DeepEqual(s.kind.Claim.Get(oldObj), claim) {
		newObj.SetGeneration(oldObj.GetGeneration() + 1)
	}
}

func (s *claimStrategy[T]) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	newObj, oldObj := obj.(T), old.(T)
	errs := validateMetaUpdate(newObj, oldObj)
	c := s.kind.Claim
	before, after := c.Get(oldObj), c.Get(newObj)
	switch {
	case after == nil:
		// Releasing is always allowed; the precondition on the resourceVersion (or on the
		// claimer's UID, in a patch) keeps a release from undoing a newer claim.
	case after.Name == "" || after.UID == "":
		errs = append(errs, field.Required(c.Path.Child("uid"), "a claim names the claiming object and its UID"))
	case before != nil && *before == *after:
	case before != nil:
		errs = append(errs, field.Forbidden(c.Path, fmt.Sprintf("already claimed by %s %q: release it first", c.ClaimerKind, before.Name)))
	case newObj.GetDeletionTimestamp() != nil:
		errs = append(errs, field.Forbidden(c.Path, "cannot claim an object that is being deleted"))
	default:
		for _, msg := range validation.NameIsDNSSubdomain(after.Name, false) {
			errs = append(errs, field.Invalid(c.Path.Child("name"), after.Name, msg))
		}
		if owner := c.controller(newObj); owner != nil && owner.UID != after.UID {
			errs = append(errs, field.Forbidden(c.Path, fmt.Sprintf("owned by %s %q: only its owner may claim it", c.ClaimerKind, owner.Name)))
		}
	}
	return errs
}

// GetResetFields tells server-side apply that the claim subresource owns only the claim.
func (s *claimStrategy[T]) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(s.kind.StorageVersion.String()): fieldpath.NewSet(
			fieldpath.MakePathOrDie("status"),
			fieldpath.MakePathOrDie("metadata", "labels"),
			fieldpath.MakePathOrDie("metadata", "annotations"),
			fieldpath.MakePathOrDie("metadata", "finalizers"),
			fieldpath.MakePathOrDie("metadata", "ownerReferences"),
		),
	}
}

// controller returns the object's controller owner reference if it is of the claiming kind.
func (c *Claim[T]) controller(o T) *metav1.OwnerReference {
	owner := metav1.GetControllerOf(o)
	if owner == nil || owner.Kind != c.ClaimerKind {
		return nil
	}
	if gv, err := schema.ParseGroupVersion(owner.APIVersion); err != nil || gv.Group != c.ClaimerGroup {
		return nil
	}
	return owner
}

// validateClaimFields keeps the claim out of the main resource: it cannot be set at create nor
// set or changed by an update. An update that omits it keeps the stored claim (keepClaimFields).
func (k *Kind[T]) validateClaimFields(newObj, oldObj T, update bool) field.ErrorList {
	if k.Claim == nil {
		return nil
	}
	after := k.Claim.Get(newObj)
	if after == nil {
		return nil
	}
	if update {
		if before := k.Claim.Get(oldObj); before != nil && *before == *after {
			return nil
		}
	}
	return field.ErrorList{field.Forbidden(k.Claim.Path,
		fmt.Sprintf("may only be set through the claim subresource (%s/claim): the controller manager claims it for the machine that references it", k.Resource.Resource))}
}

// keepClaimFields restores the stored claim when an update of the main resource omits it.
func (k *Kind[T]) keepClaimFields(newObj, oldObj T) {
	if k.Claim == nil {
		return
	}
	if before := k.Claim.Get(oldObj); before != nil && k.Claim.Get(newObj) == nil {
		k.Claim.Set(newObj, before)
	}
}

func validateMetaUpdate[T Object](newObj, oldObj T) field.ErrorList {
	return validation.ValidateObjectMetaAccessorUpdate(newObj, oldObj, field.NewPath("metadata"))
}
