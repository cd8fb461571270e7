// Package resourcequota is the REST storage of core.ferrite.dev ResourceQuotas.
package resourcequota

import (
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/ferrite-dev/ferrite/apis/core"
	"github.com/ferrite-dev/ferrite/apis/core/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/core/validation"
	"github.com/ferrite-dev/ferrite/registry/columns"
	"github.com/ferrite-dev/ferrite/registry/kind"
)

// Kind describes ResourceQuotas to the generic registry.
var Kind = &kind.Kind[*core.ResourceQuota]{
	Resource:       core.Resource("resourcequotas"),
	Singular:       "resourcequota",
	StorageVersion: v1alpha1.SchemeGroupVersion,
	Namespaced:     true,
	// "quota" belongs to Kubernetes' own ResourceQuota.
	ShortNames:           []string{"fquota"},
	Categories:           []string{"ferrite"},
	New:                  func() *core.ResourceQuota { return &core.ResourceQuota{} },
	NewList:              func() runtime.Object { return &core.ResourceQuotaList{} },
	Spec:                 func(q *core.ResourceQuota) any { return q.Spec },
	ClearStatus:          func(q *core.ResourceQuota) { q.Status = core.ResourceQuotaStatus{} },
	CopyStatus:           func(from, to *core.ResourceQuota) { to.Status = from.Status },
	CopySpec:             func(from, to *core.ResourceQuota) { to.Spec = from.Spec },
	Validate:             validation.ValidateResourceQuota,
	ValidateUpdate:       validation.ValidateResourceQuotaUpdate,
	ValidateStatusUpdate: validation.ValidateResourceQuotaStatusUpdate,
	Columns: []metav1.TableColumnDefinition{
		columns.Column("Used/Hard", "string", "Use against each limit.", false),
	},
	Row: func(q *core.ResourceQuota) []any {
		var parts []string
		for name, hard := range q.Spec.Hard {
			used := "0"
			if u, ok := q.Status.Used[name]; ok {
				used = u.String()
			}
			parts = append(parts, string(name)+": "+used+"/"+hard.String())
		}
		sort.Strings(parts)
		return []any{columns.Text(strings.Join(parts, ", "))}
	},
}

// NewStorage returns the storage of resourcequotas and resourcequotas/status.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*kind.Storage, error) {
	return kind.NewStorage(scheme, optsGetter, Kind)
}
