package scheduler_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
	"github.com/ferrite-dev/ferrite/controllers/machinescheduler"
	"github.com/ferrite-dev/ferrite/controllers/scheduler"
	"github.com/ferrite-dev/ferrite/controllers/volumescheduler"
)

var gi = resource.MustParse("1Gi")

// machines is the machine fixture: one unit is one machine.
type machines struct{}

func (machines) kind() string { return "machine" }

func (machines) add(ctx context.Context, mgr ctrl.Manager, recorder events.EventRecorder, o *controllermanager.Options) error {
	return controllermanager.AddMachineScheduler(ctx, mgr, recorder, o)
}

func (machines) createPool(t *testing.T, spec poolSpec) types.UID {
	t.Helper()
	ctx := context.Background()
	pools := server.Client.ComputeV1alpha1().MachinePools()
	created, err := pools.Create(ctx, &computev1alpha1.MachinePool{
		ObjectMeta: metav1.ObjectMeta{Name: spec.name, Labels: spec.labels},
		Spec:       computev1alpha1.MachinePoolSpec{Taints: spec.taints},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	retryConflicts(t, func() error {
		pool, err := pools.Get(ctx, spec.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		pool.Status.Allocatable, pool.Status.Conditions, pool.Status.LastHeartbeatTime = readyStatus(spec, resource.MustParse("1"), resource.DecimalSI)
		pool.Status.Capacity = pool.Status.Allocatable
		_, err = pools.UpdateStatus(ctx, pool, metav1.UpdateOptions{})
		return err
	})
	return created.UID
}

func (machines) createObject(t *testing.T, spec objectSpec) types.UID {
	t.Helper()
	created, err := server.Client.ComputeV1alpha1().Machines(spec.namespace).Create(context.Background(), &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Namespace: spec.namespace, Name: spec.name, Labels: spec.labels},
		Spec: computev1alpha1.MachineSpec{
			MachineClassRef:           corev1.LocalObjectReference{Name: spec.class},
			MachinePoolSelector:       spec.selector,
			Tolerations:               spec.tolerations,
			TopologySpreadConstraints: spec.spread,
			Image:                     "debian-12",
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return created.UID
}

func (machines) list(t *testing.T, namespace string) []object {
	t.Helper()
	list, err := server.Client.ComputeV1alpha1().Machines(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []object
	for _, m := range list.Items {
		o := object{name: m.Name, uid: m.UID, scheduled: meta.FindStatusCondition(m.Status.Conditions, scheduler.ConditionScheduled)}
		if ref := m.Spec.MachinePoolRef; ref != nil {
			o.pool = ref.Name
		}
		out = append(out, o)
	}
	return out
}

func (machines) ledger(t *testing.T, name string) (scheduler.Ledger, map[string]int64) {
	t.Helper()
	pool, err := server.Client.ComputeV1alpha1().MachinePools().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return machinescheduler.Ledger(pool), scheduler.Counts(pool.Status.Allocatable)
}

func (machines) plant(t *testing.T, name string, entries ...scheduler.Entry) {
	t.Helper()
	ctx := context.Background()
	pools := server.Client.ComputeV1alpha1().MachinePools()
	retryConflicts(t, func() error {
		pool, err := pools.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, e := range entries {
			pool.Status.Reservations = append(pool.Status.Reservations, computev1alpha1.MachinePoolReservation{MachineUID: e.UID, MachineClass: e.Class})
		}
		_, err = pools.UpdateStatus(ctx, pool, metav1.UpdateOptions{})
		return err
	})
}

func (machines) bindByHand(t *testing.T, namespace, name, pool string) {
	t.Helper()
	_, err := server.Client.ComputeV1alpha1().Machines(namespace).Bind(context.Background(), name, &computev1alpha1.MachineBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Target: corev1.LocalObjectReference{Name: pool},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func (machines) deleteObject(t *testing.T, namespace, name string) {
	t.Helper()
	err := server.Client.ComputeV1alpha1().Machines(namespace).Delete(context.Background(), name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}

func (machines) deleteAll(t *testing.T, namespace string) {
	err := server.Client.ComputeV1alpha1().Machines(namespace).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
	if err != nil {
		t.Errorf("cleaning %s: %v", namespace, err)
	}
}

// volumes is the volume fixture: one unit is 1Gi.
type volumes struct{}

func (volumes) kind() string { return "volume" }

func (volumes) add(ctx context.Context, mgr ctrl.Manager, recorder events.EventRecorder, o *controllermanager.Options) error {
	return controllermanager.AddVolumeScheduler(ctx, mgr, recorder, o)
}

func (volumes) createPool(t *testing.T, spec poolSpec) types.UID {
	t.Helper()
	ctx := context.Background()
	pools := server.Client.StorageV1alpha1().VolumePools()
	created, err := pools.Create(ctx, &storagev1alpha1.VolumePool{
		ObjectMeta: metav1.ObjectMeta{Name: spec.name, Labels: spec.labels},
		Spec:       storagev1alpha1.VolumePoolSpec{Taints: spec.taints},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	retryConflicts(t, func() error {
		pool, err := pools.Get(ctx, spec.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		pool.Status.Allocatable, pool.Status.Conditions, pool.Status.LastHeartbeatTime = readyStatus(spec, gi, resource.BinarySI)
		pool.Status.Capacity = pool.Status.Allocatable
		_, err = pools.UpdateStatus(ctx, pool, metav1.UpdateOptions{})
		return err
	})
	return created.UID
}

func (volumes) createObject(t *testing.T, spec objectSpec) types.UID {
	t.Helper()
	created, err := server.Client.StorageV1alpha1().Volumes(spec.namespace).Create(context.Background(), &storagev1alpha1.Volume{
		ObjectMeta: metav1.ObjectMeta{Namespace: spec.namespace, Name: spec.name, Labels: spec.labels},
		Spec: storagev1alpha1.VolumeSpec{
			VolumeClassRef:     corev1.LocalObjectReference{Name: spec.class},
			VolumePoolSelector: spec.selector,
			Tolerations:        spec.tolerations,
			Resources:          corev1.ResourceList{corev1.ResourceStorage: gi},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return created.UID
}

func (volumes) list(t *testing.T, namespace string) []object {
	t.Helper()
	list, err := server.Client.StorageV1alpha1().Volumes(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []object
	for _, v := range list.Items {
		o := object{name: v.Name, uid: v.UID, scheduled: meta.FindStatusCondition(v.Status.Conditions, scheduler.ConditionScheduled)}
		if ref := v.Spec.VolumePoolRef; ref != nil {
			o.pool = ref.Name
		}
		out = append(out, o)
	}
	return out
}

func (volumes) ledger(t *testing.T, name string) (scheduler.Ledger, map[string]int64) {
	t.Helper()
	pool, err := server.Client.StorageV1alpha1().VolumePools().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ledger := volumescheduler.Ledger(pool)
	for class, bytes := range ledger.Allocated {
		ledger.Allocated[class] = bytes / gi.Value()
	}
	for i := range ledger.Entries {
		ledger.Entries[i].Amount /= gi.Value()
	}
	allocatable := scheduler.Counts(pool.Status.Allocatable)
	for class, bytes := range allocatable {
		allocatable[class] = bytes / gi.Value()
	}
	return ledger, allocatable
}

func (volumes) plant(t *testing.T, name string, entries ...scheduler.Entry) {
	t.Helper()
	ctx := context.Background()
	pools := server.Client.StorageV1alpha1().VolumePools()
	retryConflicts(t, func() error {
		pool, err := pools.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, e := range entries {
			size := gi.DeepCopy()
			size.Mul(e.Amount)
			pool.Status.Reservations = append(pool.Status.Reservations, storagev1alpha1.VolumePoolReservation{VolumeUID: e.UID, VolumeClass: e.Class, Storage: size})
		}
		_, err = pools.UpdateStatus(ctx, pool, metav1.UpdateOptions{})
		return err
	})
}

func (volumes) bindByHand(t *testing.T, namespace, name, pool string) {
	t.Helper()
	_, err := server.Client.StorageV1alpha1().Volumes(namespace).Bind(context.Background(), name, &storagev1alpha1.VolumeBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Target: corev1.LocalObjectReference{Name: pool},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func (volumes) deleteObject(t *testing.T, namespace, name string) {
	t.Helper()
	err := server.Client.StorageV1alpha1().Volumes(namespace).Delete(context.Background(), name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}

func (volumes) deleteAll(t *testing.T, namespace string) {
	err := server.Client.StorageV1alpha1().Volumes(namespace).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
	if err != nil {
		t.Errorf("cleaning %s: %v", namespace, err)
	}
}
