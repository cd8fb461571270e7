package kind

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Object is an internal API object: a runtime.Object with object metadata.
type Object interface {
	runtime.Object
	metav1.Object
}

// Kind describes one resource. T is the pointer to its internal type (for example
// *compute.Machine). Functions that a kind does not need stay nil.
type Kind[T Object] struct {
	// Resource is the plural, group-qualified resource name ("machines.compute.ferrite.dev").
	Resource schema.GroupResource
	// Singular is the singular resource name ("machine").
	Singular string
	// StorageVersion is the served version whose field paths GetResetFields reports.
	StorageVersion schema.GroupVersion
	// Namespaced is true for namespace-scoped kinds.
	Namespaced bool
	// ShortNames are the kubectl aliases ("mach").
	ShortNames []string
	// Categories group kinds for `kubectl get <category>` ("ferrite", "compute").
	Categories []string

	// New returns an empty object; NewList an empty list.
	New     func() T
	NewList func() runtime.Object

	// Spec returns the user-owned desired state; a change of it bumps metadata.generation.
	Spec func(T) any
	// ClearStatus empties the status at create. Nil for kinds without status.
	ClearStatus func(T)
	// CopyStatus copies the status of from into to (an update keeps the stored status).
	CopyStatus func(from, to T)
	// CopySpec copies everything but metadata and status of from into to (a status update keeps
	// the stored spec).
	CopySpec func(from, to T)

	// Validate checks a new object; ValidateUpdate an update of the main resource; and
	// ValidateStatusUpdate an update through the status subresource. Object metadata is
	// validated here, they check the rest.
	Validate             func(T) field.ErrorList
	ValidateUpdate       func(newObj, oldObj T) field.ErrorList
	ValidateStatusUpdate func(newObj, oldObj T) field.ErrorList

	// SelectableFields returns the fields usable in field selectors besides metadata.name and
	// metadata.namespace, for example spec.machinePoolRef.name.
	SelectableFields func(T) fields.Set
	// IndexedField, for kinds whose agents each watch only their own share of the objects (a
	// pool's poollet watches spec.machinePoolRef.name=<pool>), is the one selectable field the
	// watch cache indexes. Nil for other kinds.
	IndexedField *IndexedField[T]

	// Binding, for kinds the scheduler places on a pool, serves <resource>/binding and keeps
	// the pool reference out of the main resource's reach. Nil for other kinds.
	Binding *Binding[T]
	// Claim, for kinds one machine at a time may use, serves <resource>/claim and keeps the
	// claim out of the main resource's reach. Nil for other kinds.
	Claim *Claim[T]

	// Columns are the table columns after Name (Age is added last); priority 1 shows with -o wide.
	Columns []metav1.TableColumnDefinition
	// Row returns the cells of Columns for one object.
	Row func(T) []any
}

// IndexedField is a selectable field that the apiserver's watch cache indexes. A watch whose
// field selector requires an exact value of it (path=value) is registered under that value, and
// an event is offered only to the watchers of the object's old and new value instead of being
// filtered by every watcher of the kind; a list with such a selector reads only the objects of
// that value from the cache.
type IndexedField[T Object] struct {
	// Path is the field selector label ("spec.machinePoolRef.name"), one of SelectableFields.
	Path string
	// Value reads the field. It must return what SelectableFields gives for Path: a watcher
	// registered under a value that Value never returns would miss its events.
	Value func(T) string
}

// HasStatus reports whether the kind has a status subresource.
func (k *Kind[T]) HasStatus() bool { return k.ClearStatus != nil }
