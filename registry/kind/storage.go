package kind

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// REST is the storage of a kind's main resource.
type REST struct {
	*genericregistry.Store
	shortNames []string
	categories []string
}

var (
	_ rest.ShortNamesProvider = &REST{}
	_ rest.CategoriesProvider = &REST{}
)

// ShortNames implements rest.ShortNamesProvider.
func (r *REST) ShortNames() []string { return r.shortNames }

// Categories implements rest.CategoriesProvider.
func (r *REST) Categories() []string { return r.categories }

// StatusREST is the storage of a subresource that updates part of an object (status, claim):
// GET, and PUT or PATCH of the whole object of which the subresource's strategy keeps its part.
type StatusREST struct {
	store *genericregistry.Store
}

// New returns an empty object.
func (r *StatusREST) New() runtime.Object { return r.store.New() }

// Destroy releases nothing: the main store owns the storage.
func (r *StatusREST) Destroy() {}

// Get returns the object, for the subresource's GET.
func (r *StatusREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return r.store.Get(ctx, name, options)
}

// Update changes the part of an object the subresource owns.
func (r *StatusREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	// Subresource updates never create.
	return r.store.Update(ctx, name, objInfo, createValidation, updateValidation, false, options)
}

// GetResetFields implements rest.ResetFieldsStrategy.
func (r *StatusREST) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return r.store.GetResetFields()
}

// ConvertToTable renders the object as a table row.
func (r *StatusREST) ConvertToTable(ctx context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return r.store.ConvertToTable(ctx, object, tableOptions)
}

// Storage is the REST storage of one kind: the main resource and, if the kind has them, its
// status, binding and claim subresources.
type Storage struct {
	REST    *REST
	Status  *StatusREST
	Binding rest.Storage
	Claim   *StatusREST

	// setPools wires the binding subresource to the pool storage it checks targets against.
	setPools func(rest.Getter)
}

// SetPools gives the binding subresource the storage of the pools it binds to.
func (s *Storage) SetPools(pools rest.Getter) {
	if s.setPools != nil {
		s.setPools(pools)
	}
}

// NewStorage builds the storage of a kind on the generic registry.
func NewStorage[T Object](scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, k *Kind[T]) (*Storage, error) {
	if err := k.checkIndexedField(); err != nil {
		return nil, err
	}
	strat := newStrategy(scheme, k)
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return k.New() },
		NewListFunc:               k.NewList,
		PredicateFunc:             k.predicate,
		DefaultQualifiedResource:  k.Resource,
		SingularQualifiedResource: schema.GroupResource{Group: k.Resource.Group, Resource: k.Singular},
		CreateStrategy:            strat,
		UpdateStrategy:            strat,
		DeleteStrategy:            strat,
		ResetFieldsStrategy:       strat,
		TableConvertor:            &tableConvertor[T]{kind: k},
	}
	options := &generic.StoreOptions{
		RESTOptions: optsGetter,
		AttrFunc:    k.attrs,
		TriggerFunc: k.triggerFuncs(),
		Indexers:    k.indexers(),
	}
	if err := store.CompleteWithOptions(options); err != nil {
		return nil, err
	}
	storage := &Storage{REST: &REST{Store: store, shortNames: k.ShortNames, categories: k.Categories}}
	if k.HasStatus() {
		statusStore := *store
		status := &statusStrategy[T]{strategy: strat}
		statusStore.UpdateStrategy = status
		statusStore.ResetFieldsStrategy = status
		storage.Status = &StatusREST{store: &statusStore}
	}
	if k.Binding != nil {
		bindingStore := *store
		binding := &bindingStrategy[T]{strategy: strat}
		bindingStore.UpdateStrategy = binding
		b := &BindingREST[T]{store: &bindingStore, binding: k.Binding}
		storage.Binding = b
		storage.setPools = func(pools rest.Getter) { b.pools = pools }
	}
	if k.Claim != nil {
		claimStore := *store
		claim := &claimStrategy[T]{strategy: strat}
		claimStore.UpdateStrategy = claim
		claimStore.ResetFieldsStrategy = claim
		storage.Claim = &StatusREST{store: &claimStore}
	}
	return storage, nil
}

// Resources returns the storage map entries for the kind: "<resource>" and "<resource>/status".
func (s *Storage) Resources(resource string) map[string]rest.Storage {
	out := map[string]rest.Storage{resource: s.REST}
	if s.Status != nil {
		out[resource+"/status"] = s.Status
	}
	if s.Binding != nil {
		out[resource+"/binding"] = s.Binding
	}
	if s.Claim != nil {
		out[resource+"/claim"] = s.Claim
	}
	return out
}
