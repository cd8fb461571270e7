// Package machinescheduler binds Machines to MachinePools: the generic scheduler of
// controllers/scheduler over the machine kind, where each machine takes one slot of its class.
package machinescheduler

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/controllers/scheduler"
)

// PoolRefField indexes Machines in the cache by spec.machinePoolRef.name.
const PoolRefField = "spec.machinePoolRef.name"

// Scheduler is the machine scheduler.
type Scheduler = scheduler.Scheduler[*computev1alpha1.Machine, *computev1alpha1.MachinePool]

// Kind adapts Machines and MachinePools to the scheduler.
func Kind() scheduler.Kind[*computev1alpha1.Machine, *computev1alpha1.MachinePool] {
	return scheduler.Kind[*computev1alpha1.Machine, *computev1alpha1.MachinePool]{
		Name: "machine", PoolKind: "machine pool",
		NewObject: func() *computev1alpha1.Machine { return &computev1alpha1.Machine{} },
		NewPool:   func() *computev1alpha1.MachinePool { return &computev1alpha1.MachinePool{} },
		PoolRef: func(m *computev1alpha1.Machine) (string, types.UID) {
			if ref := m.Spec.MachinePoolRef; ref != nil {
				return ref.Name, ref.UID
			}
			return "", ""
		},
		Class:        func(m *computev1alpha1.Machine) string { return m.Spec.MachineClassRef.Name },
		Demand:       func(*computev1alpha1.Machine) int64 { return 1 },
		PoolSelector: func(m *computev1alpha1.Machine) map[string]string { return m.Spec.MachinePoolSelector },
		Tolerations:  func(m *computev1alpha1.Machine) []corev1.Toleration { return m.Spec.Tolerations },
		Spread: func(m *computev1alpha1.Machine) []computev1alpha1.TopologySpreadConstraint {
			return m.Spec.TopologySpreadConstraints
		},
		Conditions: func(m *computev1alpha1.Machine) *[]metav1.Condition { return &m.Status.Conditions },
		NewBinding: func(m *computev1alpha1.Machine, pool string) client.Object {
			return &computev1alpha1.MachineBinding{
				ObjectMeta: metav1.ObjectMeta{Namespace: m.Namespace, Name: m.Name},
				Target:     corev1.LocalObjectReference{Name: pool},
			}
		},
		Taints:         func(p *computev1alpha1.MachinePool) []corev1.Taint { return p.Spec.Taints },
		PoolConditions: func(p *computev1alpha1.MachinePool) []metav1.Condition { return p.Status.Conditions },
		Allocatable:    func(p *computev1alpha1.MachinePool) corev1.ResourceList { return p.Status.Allocatable },
		Ledger:         Ledger,
		SetLedger: func(p *computev1alpha1.MachinePool, l scheduler.Ledger) {
			p.Status.Allocated = scheduler.ResourceList(l.Allocated, resource.DecimalSI)
			p.Status.AllocatedRevision = l.Revision
			p.Status.Reservations = make([]computev1alpha1.MachinePoolReservation, len(l.Entries))
			for i, e := range l.Entries {
				p.Status.Reservations[i] = computev1alpha1.MachinePoolReservation{MachineUID: e.UID, MachineClass: e.Class}
			}
		},
	}
}

// Ledger reads a machine pool's ledger; each machine counts one.
func Ledger(p *computev1alpha1.MachinePool) scheduler.Ledger {
	l := scheduler.Ledger{Allocated: scheduler.Counts(p.Status.Allocated), Revision: p.Status.AllocatedRevision}
	l.Entries = make([]scheduler.Entry, len(p.Status.Reservations))
	for i, r := range p.Status.Reservations {
		l.Entries[i] = scheduler.Entry{UID: r.MachineUID, Class: r.MachineClass, Amount: 1}
	}
	return l
}

// IndexPoolRef registers the spec.machinePoolRef.name index other controllers list by.
func IndexPoolRef(ctx context.Context, mgr ctrl.Manager) error {
	return mgr.GetFieldIndexer().IndexField(ctx, &computev1alpha1.Machine{}, PoolRefField, func(obj client.Object) []string {
		if ref := obj.(*computev1alpha1.Machine).Spec.MachinePoolRef; ref != nil {
			return []string{ref.Name}
		}
		return nil
	})
}
