// Package volumescheduler binds Volumes to VolumePools: the generic scheduler of
// controllers/scheduler over the volume kind, where each volume takes its requested bytes of its
// class.
package volumescheduler

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/controllers/scheduler"
)

// PoolRefField indexes Volumes in the cache by spec.volumePoolRef.name.
const PoolRefField = "spec.volumePoolRef.name"

// Scheduler is the volume scheduler.
type Scheduler = scheduler.Scheduler[*storagev1alpha1.Volume, *storagev1alpha1.VolumePool]

// Kind adapts Volumes and VolumePools to the scheduler. Snapshots and their Volumes are read
// through reader (the manager's cache) to place a restored volume on its snapshot's pool.
func Kind(reader client.Reader) scheduler.Kind[*storagev1alpha1.Volume, *storagev1alpha1.VolumePool] {
	return scheduler.Kind[*storagev1alpha1.Volume, *storagev1alpha1.VolumePool]{
		Name: "volume", PoolKind: "volume pool",
		NewObject: func() *storagev1alpha1.Volume { return &storagev1alpha1.Volume{} },
		NewPool:   func() *storagev1alpha1.VolumePool { return &storagev1alpha1.VolumePool{} },
		PoolRef: func(v *storagev1alpha1.Volume) (string, types.UID) {
			if ref := v.Spec.VolumePoolRef; ref != nil {
				return ref.Name, ref.UID
			}
			return "", ""
		},
		Class:        func(v *storagev1alpha1.Volume) string { return v.Spec.VolumeClassRef.Name },
		Demand:       Requested,
		PoolSelector: func(v *storagev1alpha1.Volume) map[string]string { return v.Spec.VolumePoolSelector },
		Tolerations:  func(v *storagev1alpha1.Volume) []corev1.Toleration { return v.Spec.Tolerations },
		Spread:       func(*storagev1alpha1.Volume) []computev1alpha1.TopologySpreadConstraint { return nil },
		SourcePool:   func(v *storagev1alpha1.Volume) (string, string) { return snapshotPool(context.Background(), reader, v) },
		Conditions:   func(v *storagev1alpha1.Volume) *[]metav1.Condition { return &v.Status.Conditions },
		NewBinding: func(v *storagev1alpha1.Volume, pool string) client.Object {
			return &storagev1alpha1.VolumeBinding{
				ObjectMeta: metav1.ObjectMeta{Namespace: v.Namespace, Name: v.Name},
				Target:     corev1.LocalObjectReference{Name: pool},
			}
		},
		Taints:         func(p *storagev1alpha1.VolumePool) []corev1.Taint { return p.Spec.Taints },
		PoolConditions: func(p *storagev1alpha1.VolumePool) []metav1.Condition { return p.Status.Conditions },
		Allocatable:    func(p *storagev1alpha1.VolumePool) corev1.ResourceList { return p.Status.Allocatable },
		Ledger:         Ledger,
		SetLedger: func(p *storagev1alpha1.VolumePool, l scheduler.Ledger) {
			p.Status.Allocated = scheduler.ResourceList(l.Allocated, resource.BinarySI)
			p.Status.AllocatedRevision = l.Revision
			p.Status.Reservations = make([]storagev1alpha1.VolumePoolReservation, len(l.Entries))
			for i, e := range l.Entries {
				p.Status.Reservations[i] = storagev1alpha1.VolumePoolReservation{
					VolumeUID: e.UID, VolumeClass: e.Class, Storage: *resource.NewQuantity(e.Amount, resource.BinarySI),
				}
			}
		},
	}
}

// Requested returns the bytes a volume asks for.
func Requested(v *storagev1alpha1.Volume) int64 {
	q := v.Spec.Resources[corev1.ResourceStorage]
	return q.Value()
}

// Ledger reads a volume pool's ledger in bytes.
func Ledger(p *storagev1alpha1.VolumePool) scheduler.Ledger {
	l := scheduler.Ledger{Allocated: scheduler.Counts(p.Status.Allocated), Revision: p.Status.AllocatedRevision}
	l.Entries = make([]scheduler.Entry, len(p.Status.Reservations))
	for i, r := range p.Status.Reservations {
		l.Entries[i] = scheduler.Entry{UID: r.VolumeUID, Class: r.VolumeClass, Amount: r.Storage.Value()}
	}
	return l
}

// IndexPoolRef registers the spec.volumePoolRef.name index other controllers list by.
func IndexPoolRef(ctx context.Context, mgr ctrl.Manager) error {
	return mgr.GetFieldIndexer().IndexField(ctx, &storagev1alpha1.Volume{}, PoolRefField, func(obj client.Object) []string {
		if ref := obj.(*storagev1alpha1.Volume).Spec.VolumePoolRef; ref != nil {
			return []string{ref.Name}
		}
		return nil
	})
}

// snapshotPool returns the pool a volume restored from a snapshot must go to: the pool holding
// the snapshot (status.volumePoolRef, written by the poollet that took it), or before that is
// written, the pool of the snapshotted Volume. A snapshot lives in its pool's backend, so a
// restore anywhere else could never start. It returns "" for a volume without a snapshot, and
// why the pool is not known otherwise.
func snapshotPool(ctx context.Context, reader client.Reader, v *storagev1alpha1.Volume) (pool, waiting string) {
	if v.Spec.SnapshotRef == nil {
		return "", ""
	}
	name := v.Spec.SnapshotRef.Name
	snap := &storagev1alpha1.VolumeSnapshot{}
	if err := reader.Get(ctx, types.NamespacedName{Namespace: v.Namespace, Name: name}, snap); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Sprintf("VolumeSnapshot %s does not exist", name)
		}
		return "", fmt.Sprintf("reading VolumeSnapshot %s: %v", name, err)
	}
	if ref := snap.Status.VolumePoolRef; ref != nil {
		return ref.Name, ""
	}
	source := &storagev1alpha1.Volume{}
	err := reader.Get(ctx, types.NamespacedName{Namespace: v.Namespace, Name: snap.Spec.VolumeRef.Name}, source)
	if err == nil && source.Spec.VolumePoolRef != nil {
		return source.Spec.VolumePoolRef.Name, ""
	}
	return "", fmt.Sprintf("VolumeSnapshot %s is not on a volume pool yet", name)
}
