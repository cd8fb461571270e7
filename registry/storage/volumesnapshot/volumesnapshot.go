// Package volumesnapshot is the REST storage of storage.ferrite.dev VolumeSnapshots.
package volumesnapshot

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/ferrite-dev/ferrite/apis/storage"
	"github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/storage/validation"
	"github.com/ferrite-dev/ferrite/registry/columns"
	"github.com/ferrite-dev/ferrite/registry/kind"
)

// Kind describes VolumeSnapshots to the generic registry.
var Kind = &kind.Kind[*storage.VolumeSnapshot]{
	Resource:             storage.Resource("volumesnapshots"),
	Singular:             "volumesnapshot",
	StorageVersion:       v1alpha1.SchemeGroupVersion,
	Namespaced:           true,
	ShortNames:           []string{"volsnap"},
	Categories:           []string{"ferrite", "storage"},
	New:                  func() *storage.VolumeSnapshot { return &storage.VolumeSnapshot{} },
	NewList:              func() runtime.Object { return &storage.VolumeSnapshotList{} },
	Spec:                 func(s *storage.VolumeSnapshot) any { return s.Spec },
	ClearStatus:          func(s *storage.VolumeSnapshot) { s.Status = storage.VolumeSnapshotStatus{} },
	CopyStatus:           func(from, to *storage.VolumeSnapshot) { to.Status = from.Status },
	CopySpec:             func(from, to *storage.VolumeSnapshot) { to.Spec = from.Spec },
	Validate:             validation.ValidateVolumeSnapshot,
	ValidateUpdate:       validation.ValidateVolumeSnapshotUpdate,
	ValidateStatusUpdate: validation.ValidateVolumeSnapshotStatusUpdate,
	SelectableFields: func(s *storage.VolumeSnapshot) fields.Set {
		return fields.Set{"spec.volumeRef.name": s.Spec.VolumeRef.Name}
	},
	Columns: []metav1.TableColumnDefinition{
		columns.Column("Volume", "string", "Snapshotted volume.", false),
		columns.Column("State", "string", "Lifecycle state.", false),
		columns.Column("RestoreSize", "string", "Smallest size of a volume restored from the snapshot.", false),
	},
	Row: func(s *storage.VolumeSnapshot) []any {
		size := columns.None
		if s.Status.RestoreSize != nil {
			size = s.Status.RestoreSize.String()
		}
		return []any{s.Spec.VolumeRef.Name, columns.Text(string(s.Status.State)), size}
	},
}

// NewStorage returns the storage of volumesnapshots and volumesnapshots/status.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*kind.Storage, error) {
	return kind.NewStorage(scheme, optsGetter, Kind)
}
