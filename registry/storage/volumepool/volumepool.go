// Package volumepool is the REST storage of storage.ferrite.dev VolumePools.
package volumepool

import (
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/ferrite-dev/ferrite/apis/storage"
	"github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/storage/validation"
	"github.com/ferrite-dev/ferrite/registry/columns"
	"github.com/ferrite-dev/ferrite/registry/kind"
)

// Kind describes VolumePools to the generic registry.
var Kind = &kind.Kind[*storage.VolumePool]{
	Resource:             storage.Resource("volumepools"),
	Singular:             "volumepool",
	StorageVersion:       v1alpha1.SchemeGroupVersion,
	ShortNames:           []string{"vp"},
	Categories:           []string{"ferrite", "storage"},
	New:                  func() *storage.VolumePool { return &storage.VolumePool{} },
	NewList:              func() runtime.Object { return &storage.VolumePoolList{} },
	Spec:                 func(p *storage.VolumePool) any { return p.Spec },
	ClearStatus:          func(p *storage.VolumePool) { p.Status = storage.VolumePoolStatus{} },
	CopyStatus:           func(from, to *storage.VolumePool) { to.Status = from.Status },
	CopySpec:             func(from, to *storage.VolumePool) { to.Spec = from.Spec },
	Validate:             validation.ValidateVolumePool,
	ValidateUpdate:       validation.ValidateVolumePoolUpdate,
	ValidateStatusUpdate: validation.ValidateVolumePoolStatusUpdate,
	Columns: []metav1.TableColumnDefinition{
		columns.Column("Ready", "string", "Whether the pool's poollet is heartbeating.", false),
		columns.Column("Classes", "string", "Volume classes the pool offers: bytes placed (counted and in flight) / allocatable.", false),
		columns.Column("ProviderID", "string", "Identifier of the pool at its provider.", true),
	},
	Row: func(p *storage.VolumePool) []any {
		var classes []string
		for name, bytes := range p.Status.Allocatable {
			used := p.Status.Allocated[name].DeepCopy()
			for _, r := range p.Status.Reservations {
				if r.VolumeClass == string(name) {
					used.Add(r.Storage)
				}
			}
			classes = append(classes, string(name)+"="+used.String()+"/"+bytes.String())
		}
		sort.Strings(classes)
		return []any{
			columns.ConditionStatus(p.Status.Conditions, storage.VolumePoolConditionReady),
			columns.Text(strings.Join(classes, ",")), columns.Text(p.Spec.ProviderID),
		}
	},
}

// NewStorage returns the storage of volumepools and volumepools/status.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*kind.Storage, error) {
	return kind.NewStorage(scheme, optsGetter, Kind)
}
