// Package volumeclass is the REST storage of storage.ferrite.dev VolumeClasses.
package volumeclass

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/ferrite-dev/ferrite/apis/storage"
	"github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/storage/validation"
	"github.com/ferrite-dev/ferrite/registry/columns"
	"github.com/ferrite-dev/ferrite/registry/kind"
)

// classSpec is the desired state of a VolumeClass; a change bumps its generation. Fields are
// exported so that semantic equality can compare the quantities inside.
type classSpec struct {
	Capabilities corev1.ResourceList
	ResizePolicy storage.ResizePolicy
}

// Kind describes VolumeClasses to the generic registry. They have no status.
var Kind = &kind.Kind[*storage.VolumeClass]{
	Resource:       storage.Resource("volumeclasses"),
	Singular:       "volumeclass",
	StorageVersion: v1alpha1.SchemeGroupVersion,
	ShortNames:     []string{"vc"},
	Categories:     []string{"ferrite", "storage"},
	New:            func() *storage.VolumeClass { return &storage.VolumeClass{} },
	NewList:        func() runtime.Object { return &storage.VolumeClassList{} },
	Spec:           func(c *storage.VolumeClass) any { return classSpec{c.Capabilities, c.ResizePolicy} },
	Validate:       validation.ValidateVolumeClass,
	ValidateUpdate: validation.ValidateVolumeClassUpdate,
	Columns: []metav1.TableColumnDefinition{
		columns.Column("IOPS", "string", "I/O operations per second of a volume of the class.", false),
		columns.Column("TPS", "string", "Throughput in bytes per second.", false),
		columns.Column("ResizePolicy", "string", "Whether volumes may grow.", false),
	},
	Row: func(c *storage.VolumeClass) []any {
		return []any{columns.Quantity(c.Capabilities, validation.ResourceIOPS), columns.Quantity(c.Capabilities, validation.ResourceTPS), string(c.ResizePolicy)}
	},
}

// NewStorage returns the storage of volumeclasses.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*kind.Storage, error) {
	return kind.NewStorage(scheme, optsGetter, Kind)
}
