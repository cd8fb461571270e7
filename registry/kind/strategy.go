package kind

import (
	"context"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// strategy implements the create, update and delete strategies of the main resource.
type strategy[T Object] struct {
	runtime.ObjectTyper
	names.NameGenerator
	kind *Kind[T]
}

func newStrategy[T Object](typer runtime.ObjectTyper, k *Kind[T]) *strategy[T] {
	return &strategy[T]{ObjectTyper: typer, NameGenerator: names.SimpleNameGenerator, kind: k}
}

func (s *strategy[T]) NamespaceScoped() bool { return s.kind.Namespaced }

func (s *strategy[T]) PrepareForCreate(_ context.Context, obj runtime.Object) {
	o := obj.(T)
	if s.kind.ClearStatus != nil {
		s.kind.ClearStatus(o)
	}
	o.SetGeneration(1)
}

func (s *strategy[T]) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	newObj, oldObj := obj.(T), old.(T)
	if s.kind.CopyStatus != nil {
		s.kind.CopyStatus(oldObj, newObj)
	}
	// Clients never set the generation; the server bumps it when the desired state changes.
	s.kind.keepBindingFields(newObj, oldObj)
	s.kind.keepClaimFields(newObj, oldObj)
	newObj.SetGeneration(oldObj.GetGeneration())
	if !apiequality.Semantic.DeepEqual(s.kind.Spec(newObj), s.kind.Spec(oldObj)) {
		newObj.SetGeneration(oldObj.GetGeneration() + 1)
	}
}

func (s *strategy[T]) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	o := obj.(T)
	errs := validation.ValidateObjectMetaAccessor(o, s.kind.Namespaced, validation.NameIsDNSSubdomain, field.NewPath("metadata"))
	if s.kind.Validate != nil {
		errs = append(errs, s.kind.Validate(o)...)
	}
	var none T
	errs = append(errs, s.kind.validateBindingFields(o, none, false)...)
	errs = append(errs, s.kind.validateClaimFields(o, none, false)...)
	return errs
}

func (s *strategy[T]) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	newObj, oldObj := obj.(T), old.(T)
	errs := validation.ValidateObjectMetaAccessorUpdate(newObj, oldObj, field.NewPath("metadata"))
	if s.kind.ValidateUpdate != nil {
		errs = append(errs, s.kind.ValidateUpdate(newObj, oldObj)...)
	}
	errs = append(errs, s.kind.validateBindingFields(newObj, oldObj, true)...)
	errs = append(errs, s.kind.validateClaimFields(newObj, oldObj, true)...)
	return errs
}

func (s *strategy[T]) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }
func (s *strategy[T]) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}
func (s *strategy[T]) Canonicalize(runtime.Object)                   {}
func (s *strategy[T]) AllowCreateOnUpdate(context.Context) bool      { return false }
func (s *strategy[T]) AllowUnconditionalUpdate(context.Context) bool { return true }

// GetResetFields tells server-side apply that the main resource never owns status.
func (s *strategy[T]) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	if !s.kind.HasStatus() {
		return nil
	}
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(s.kind.StorageVersion.String()): fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
	}
}

// statusStrategy implements updates through the status subresource.
type statusStrategy[T Object] struct {
	*strategy[T]
}

func (s *statusStrategy[T]) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	newObj, oldObj := obj.(T), old.(T)
	s.kind.CopySpec(oldObj, newObj)
	// Only status and finalizers change here: metadata that users own stays as stored. Finalizers
	// are allowed because the agents that hold status rights (poollets) protect what they make
	// real with a finalizer and need no other write. The resource version and managed fields
	// of the request are kept for conflict detection and server-side apply.
	keepUserMetadata(newObj, oldObj)
	newObj.SetGeneration(oldObj.GetGeneration())
}

func (s *statusStrategy[T]) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	newObj, oldObj := obj.(T), old.(T)
	errs := validation.ValidateObjectMetaAccessorUpdate(newObj, oldObj, field.NewPath("metadata"))
	if s.kind.ValidateStatusUpdate != nil {
		errs = append(errs, s.kind.ValidateStatusUpdate(newObj, oldObj)...)
	}
	return errs
}

func (s *statusStrategy[T]) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

// GetResetFields tells server-side apply that the status subresource owns only status and
// finalizers.
func (s *statusStrategy[T]) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(s.kind.StorageVersion.String()): fieldpath.NewSet(
			fieldpath.MakePathOrDie("spec"),
			fieldpath.MakePathOrDie("metadata", "labels"),
			fieldpath.MakePathOrDie("metadata", "annotations"),
			fieldpath.MakePathOrDie("metadata", "ownerReferences"),
		),
	}
}

// attrs returns the labels and selectable fields of an object for list and watch filtering.
func (k *Kind[T]) attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	o := obj.(T)
	set := fields.Set{"metadata.name": o.GetName()}
	if k.Namespaced {
		set["metadata.namespace"] = o.GetNamespace()
	}
	if k.SelectableFields != nil {
		set = generic.MergeFieldsSets(set, k.SelectableFields(o))
	}
	return labels.Set(o.GetLabels()), set, nil
}

// predicate matches objects against label and field selectors; IndexFields offers the kind's
// indexed field to the watch cache (see index.go).
func (k *Kind[T]) predicate(label labels.Selector, field fields.Selector) storage.SelectionPredicate {
	return storage.SelectionPredicate{Label: label, Field: field, GetAttrs: k.attrs, IndexFields: k.indexFields()}
}

// keepUserMetadata keeps the metadata that users own (labels, annotations, owner references) as
// stored, for the subresources that write only part of an object.
func keepUserMetadata(newObj, oldObj Object) {
	newObj.SetLabels(oldObj.GetLabels())
	newObj.SetAnnotations(oldObj.GetAnnotations())
	newObj.SetOwnerReferences(oldObj.GetOwnerReferences())
}
