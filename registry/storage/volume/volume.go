// Package volume is the REST storage of storage.ferrite.dev Volumes.
package volume

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/ferrite-dev/ferrite/apis/storage"
	"github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/storage/validation"
	"github.com/ferrite-dev/ferrite/registry/columns"
	"github.com/ferrite-dev/ferrite/registry/kind"
)

// Kind describes Volumes to the generic registry.
var Kind = &kind.Kind[*storage.Volume]{
	Resource:             storage.Resource("volumes"),
	Singular:             "volume",
	StorageVersion:       v1alpha1.SchemeGroupVersion,
	Namespaced:           true,
	ShortNames:           []string{"vol"},
	Categories:           []string{"ferrite", "storage"},
	New:                  func() *storage.Volume { return &storage.Volume{} },
	NewList:              func() runtime.Object { return &storage.VolumeList{} },
	Spec:                 func(v *storage.Volume) any { return v.Spec },
	ClearStatus:          func(v *storage.Volume) { v.Status = storage.VolumeStatus{} },
	CopyStatus:           func(from, to *storage.Volume) { to.Status = from.Status },
	CopySpec:             func(from, to *storage.Volume) { to.Spec = from.Spec },
	Validate:             validation.ValidateVolume,
	ValidateUpdate:       validation.ValidateVolumeUpdate,
	ValidateStatusUpdate: validation.ValidateVolumeStatusUpdate,
	Binding: &kind.Binding[*storage.Volume]{
		Path:  field.NewPath("spec", "volumePoolRef"),
		Kind:  storage.Kind("VolumeBinding"),
		Pools: storage.Resource("volumepools"),
		New:   func() runtime.Object { return &storage.VolumeBinding{} },
		Target: func(request runtime.Object) (string, string) {
			b := request.(*storage.VolumeBinding)
			return b.Name, b.Target.Name
		},
		PoolRef: func(v *storage.Volume) *kind.PoolRef {
			if v.Spec.VolumePoolRef == nil {
				return nil
			}
			return &kind.PoolRef{Name: v.Spec.VolumePoolRef.Name, UID: v.Spec.VolumePoolRef.UID}
		},
		SetPoolRef: func(v *storage.Volume, ref *kind.PoolRef) {
			v.Spec.VolumePoolRef = nil
			if ref != nil {
				v.Spec.VolumePoolRef = &storage.VolumePoolReference{Name: ref.Name, UID: ref.UID}
			}
		},
	},
	Claim: &kind.Claim[*storage.Volume]{
		Path:         field.NewPath("spec", "claimRef"),
		ClaimerGroup: "compute.ferrite.dev",
		ClaimerKind:  "Machine",
		Get: func(v *storage.Volume) *kind.ClaimRef {
			if v.Spec.ClaimRef == nil {
				return nil
			}
			return &kind.ClaimRef{Name: v.Spec.ClaimRef.Name, UID: v.Spec.ClaimRef.UID}
		},
		Set: func(v *storage.Volume, ref *kind.ClaimRef) {
			v.Spec.ClaimRef = nil
			if ref != nil {
				v.Spec.ClaimRef = &storage.ClaimReference{Name: ref.Name, UID: ref.UID}
			}
		},
	},
	SelectableFields: func(v *storage.Volume) fields.Set {
		claim := ""
		if v.Spec.ClaimRef != nil {
			claim = v.Spec.ClaimRef.Name
		}
		return fields.Set{
			"spec.volumePoolRef.name":  boundPool(v),
			"spec.volumeClassRef.name": v.Spec.VolumeClassRef.Name,
			"spec.claimRef.name":       claim,
			"status.state":             string(v.Status.State),
		}
	},
	// Each pool's volumepoollet watches spec.volumePoolRef.name=<pool>.
	IndexedField: &kind.IndexedField[*storage.Volume]{Path: "spec.volumePoolRef.name", Value: boundPool},
	Columns: []metav1.TableColumnDefinition{
		columns.Column("Class", "string", "Volume class (performance tier).", false),
		columns.Column("Pool", "string", "Volume pool the volume is bound to.", false),
		columns.Column("Size", "string", "Requested storage.", false),
		columns.Column("State", "string", "Lifecycle state reported by the pool.", false),
		columns.Column("Claim", "string", "Machine using the volume.", true),
		columns.Column("Image", "string", "Image written at create.", true),
	},
	Row: func(v *storage.Volume) []any {
		claim := columns.None
		if v.Spec.ClaimRef != nil {
			claim = v.Spec.ClaimRef.Name
		}
		return []any{
			v.Spec.VolumeClassRef.Name, poolName(v.Spec.VolumePoolRef), columns.Quantity(v.Spec.Resources, corev1.ResourceStorage),
			columns.Text(string(v.Status.State)), claim, columns.Text(v.Spec.Image),
		}
	},
}

// NewStorage returns the storage of volumes and volumes/status.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*kind.Storage, error) {
	return kind.NewStorage(scheme, optsGetter, Kind)
}

// boundPool is the name of the pool the volume is bound to, "" while it is unbound.
func boundPool(v *storage.Volume) string {
	if v.Spec.VolumePoolRef == nil {
		return ""
	}
	return v.Spec.VolumePoolRef.Name
}

func poolName(ref *storage.VolumePoolReference) string {
	if ref == nil {
		return columns.None
	}
	return columns.Text(ref.Name)
}
