package kind

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
)

// Binding describes the binding subresource of a kind that the scheduler places on a pool
// (Machines on MachinePools, Volumes on VolumePools). Binding is its own privilege, like
// pods/binding: the pool reference can be set only here, never through the main resource.
type Binding[T Object] struct {
	// Path is the pool reference's field path ("spec.machinePoolRef"), for errors.
	Path *field.Path
	// Kind is the binding request's kind ("MachineBinding"), for errors.
	Kind schema.GroupKind
	// Pools is the pool resource ("machinepools.compute.ferrite.dev"), for messages.
	Pools schema.GroupResource
	// New returns an empty binding request.
	New func() runtime.Object
	// Target returns a binding request's object name and pool name.
	Target func(request runtime.Object) (name, pool string)
	// PoolRef returns the object's pool reference, or nil when it is unbound.
	PoolRef func(T) *PoolRef
	// SetPoolRef sets (or, with nil, clears) the object's pool reference.
	SetPoolRef func(T, *PoolRef)
}

// PoolRef is a pool reference in kind-neutral form.
type PoolRef struct {
	Name string
	UID  types.UID
}

// BindingREST serves POST <resource>/NAME/binding.
type BindingREST[T Object] struct {
	store   *genericregistry.Store
	binding *Binding[T]
	pools   rest.Getter
}

var _ rest.NamedCreater = &BindingREST[Object]{}

// New returns an empty binding request.
func (r *BindingREST[T]) New() runtime.Object { return r.binding.New() }

// Destroy releases nothing: the main store owns the storage.
func (r *BindingREST[T]) Destroy() {}

// Create binds the named object to the request's pool. Binding an object to the pool it is
// already bound to is a no-op; moving it to another pool is a conflict.
func (r *BindingREST[T]) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, _ *metav1.CreateOptions) (runtime.Object, error) {
	requestName, poolName := r.binding.Target(obj)
	var errs field.ErrorList
	if requestName != "" && requestName != name {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), requestName, "must be the name of the object being bound, "+name))
	}
	target := field.NewPath("target", "name")
	if poolName == "" {
		errs = append(errs, field.Required(target, "the pool to bind to"))
	}
	for _, msg := range content.IsPathSegmentName(poolName) {
		errs = append(errs, field.Invalid(target, poolName, msg))
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(r.binding.Kind, name, errs)
	}
	if createValidation != nil {
		if err := createValidation(ctx, obj.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	if r.pools == nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("binding of %s is not wired to its pools", r.store.DefaultQualifiedResource))
	}
	// The pool is read from the watch cache (resourceVersion 0), not with a quorum read from
	// etcd: a bind is the scheduler's hot path, and a pool deleted or re-created a moment before
	// is caught afterwards anyway (controllers/poolbinding marks the object PoolDeleted or
	// PoolReplaced), as it must be for a pool deleted a moment after.
	pool, err := r.pools.Get(genericapirequest.WithNamespace(ctx, ""), poolName, &metav1.GetOptions{ResourceVersion: "0"})
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewInvalid(r.binding.Kind, name, field.ErrorList{field.NotFound(target, poolName)})
	}
	if err != nil {
		return nil, err
	}
	poolMeta, err := meta.Accessor(pool)
	if err != nil {
		return nil, err
	}
	if poolMeta.GetDeletionTimestamp() != nil {
		return nil, apierrors.NewInvalid(r.binding.Kind, name, field.ErrorList{field.Invalid(target, poolName, "the pool is being deleted")})
	}
	want := &PoolRef{Name: poolName, UID: poolMeta.GetUID()}
	bind := func(_ context.Context, _, stored runtime.Object) (runtime.Object, error) {
		o := stored.DeepCopyObject().(T)
		if o.GetDeletionTimestamp() != nil {
			return nil, apierrors.NewConflict(r.store.DefaultQualifiedResource, name, fmt.Errorf("it is being deleted"))
		}
		if current := r.binding.PoolRef(o); current != nil {
			if *current == *want {
				return o, nil
			}
			return nil, apierrors.NewConflict(r.store.DefaultQualifiedResource, name,
				fmt.Errorf("%s is already bound to %s %q", r.binding.Path, r.binding.Pools, current.Name))
		}
		r.binding.SetPoolRef(o, want)
		return o, nil
	}
	out, _, err := r.store.Update(ctx, name, rest.DefaultUpdatedObjectInfo(nil, bind),
		rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	return out, err
}

// bindingStrategy accepts exactly the change the binding function made: the pool reference.
type bindingStrategy[T Object] struct {
	*strategy[T]
}

func (s *bindingStrategy[T]) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	newObj, oldObj := obj.(T), old.(T)
	ref := s.kind.Binding.PoolRef(newObj)
	s.kind.CopySpec(oldObj, newObj)
	s.kind.Binding.SetPoolRef(newObj, ref)
	s.strategy.PrepareForUpdate(ctx, newObj, oldObj)
}

func (s *bindingStrategy[T]) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	newObj, oldObj := obj.(T), old.(T)
	errs := validateMetaUpdate(newObj, oldObj)
	if before := s.kind.Binding.PoolRef(oldObj); before != nil {
		if after := s.kind.Binding.PoolRef(newObj); after == nil || *after != *before {
			errs = append(errs, field.Forbidden(s.kind.Binding.Path, "cannot change once bound"))
		}
	}
	return errs
}

// validateBindingFields keeps the pool reference out of the main resource: it cannot be set at
// create nor set or changed by an update. An update that omits it keeps the stored value (see
// keepBindingFields), so clients that do not know the field cannot unbind an object.
func (k *Kind[T]) validateBindingFields(newObj, oldObj T, update bool) field.ErrorList {
	if k.Binding == nil {
		return nil
	}
	after := k.Binding.PoolRef(newObj)
	if after == nil {
		return nil
	}
	var before *PoolRef
	if update {
		before = k.Binding.PoolRef(oldObj)
	}
	if before != nil && after.Name == before.Name && (after.UID == "" || after.UID == before.UID) {
		return nil
	}
	return field.ErrorList{field.Forbidden(k.Binding.Path,
		fmt.Sprintf("may only be set through the binding subresource (%s/binding), which the scheduler uses", k.Resource.Resource))}
}

// keepBindingFields restores the stored pool reference when an update omits it, and the stored
// UID when an update names the same pool without one.
func (k *Kind[T]) keepBindingFields(newObj, oldObj T) {
	if k.Binding == nil {
		return
	}
	before, after := k.Binding.PoolRef(oldObj), k.Binding.PoolRef(newObj)
	if before != nil && (after == nil || (after.Name == before.Name && after.UID == "")) {
		k.Binding.SetPoolRef(newObj, before)
	}
}
