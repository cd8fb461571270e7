package main

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
)

// benchClass is the machine class and the volume class every object of the run uses.
const benchClass = "bench"

// volumeSize is the storage of every volume; volume pools allocate in units of it.
var volumeSize = resource.MustParse("1Gi")

// kind is what the phases need of one kind of scheduled object and its pools, computed from the
// API objects alone (the benchmark does not import the schedulers).
type kind interface {
	// name is the plural the flags and the output use ("machines").
	name() string
	// create creates the object called name in namespace, of the bench class.
	create(ctx context.Context, namespace, name string) error
	// deleteAll deletes every object of the kind in namespace.
	deleteAll(ctx context.Context, namespace string) error
	// list returns how many objects namespace holds and the list's resourceVersion.
	list(ctx context.Context, namespace string) (int, string, error)
	// watch watches the objects of namespace.
	watch(ctx context.Context, namespace string, o metav1.ListOptions) (watch.Interface, error)
	// boundName returns the object's name and whether it is bound to a pool.
	boundName(obj runtime.Object) (string, bool)
	// createPool creates a Ready pool with a fresh heartbeat that allocates units of the bench
	// class (machines, or volumes of volumeSize).
	createPool(ctx context.Context, name string, units int64) error
	// pools returns every pool of the kind with its ledger.
	pools(ctx context.Context) ([]pool, error)
}

// pool is a pool object with what its ledger says.
type pool struct {
	name string
	// object is the pool as listed, for its encoded size.
	object runtime.Object
	gv     schema.GroupVersion
	// etcdKey is where the apiserver stores the pool.
	etcdKey      string
	reservations int
	// overcommitted describes each class whose used amount exceeds its allocatable.
	overcommitted []string
}

// overcommitted sums a pool's status per class: used(class) = allocated[class] + Σ reservations of the
// class. A class whose used amount exceeds allocatable (zero when absent) is over-committed.
func overcommitted(allocatable, allocated corev1.ResourceList, reserved map[string]*resource.Quantity) []string {
	used := map[string]*resource.Quantity{}
	for class, q := range allocated {
		q := q.DeepCopy()
		used[string(class)] = &q
	}
	for class, q := range reserved {
		if used[class] == nil {
			used[class] = &resource.Quantity{}
		}
		used[class].Add(*q)
	}
	var over []string
	for class, u := range used {
		a := allocatable[corev1.ResourceName(class)]
		if u.Cmp(a) > 0 {
			over = append(over, fmt.Sprintf("%s uses %s of %s", class, u.String(), a.String()))
		}
	}
	sort.Strings(over)
	return over
}

type machines struct{ client versioned.Interface }

func (machines) name() string { return "machines" }

func (k machines) create(ctx context.Context, namespace, name string) error {
	_, err := k.client.ComputeV1alpha1().Machines(namespace).Create(ctx, &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: computev1alpha1.MachineSpec{
			MachineClassRef: corev1.LocalObjectReference{Name: benchClass},
			Image:           "debian-12",
		},
	}, metav1.CreateOptions{})
	return err
}

func (k machines) deleteAll(ctx context.Context, namespace string) error {
	return k.client.ComputeV1alpha1().Machines(namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
}

func (k machines) list(ctx context.Context, namespace string) (int, string, error) {
	list, err := k.client.ComputeV1alpha1().Machines(namespace).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return 0, "", err
	}
	return len(list.Items) + int(remaining(list.RemainingItemCount)), list.ResourceVersion, nil
}

func (k machines) watch(ctx context.Context, namespace string, o metav1.ListOptions) (watch.Interface, error) {
	return k.client.ComputeV1alpha1().Machines(namespace).Watch(ctx, o)
}

func (machines) boundName(obj runtime.Object) (string, bool) {
	m, ok := obj.(*computev1alpha1.Machine)
	if !ok {
		return "", false
	}
	return m.Name, m.Spec.MachinePoolRef != nil
}

func (k machines) createPool(ctx context.Context, name string, units int64) error {
	p, err := k.client.ComputeV1alpha1().MachinePools().Create(ctx, &computev1alpha1.MachinePool{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	now := metav1.Now()
	p.Status.Allocatable = corev1.ResourceList{benchClass: *resource.NewQuantity(units, resource.DecimalSI)}
	p.Status.Capacity = p.Status.Allocatable
	p.Status.LastHeartbeatTime = &now
	p.Status.Conditions = []metav1.Condition{{Type: computev1alpha1.MachinePoolConditionReady, Status: metav1.ConditionTrue, Reason: "Heartbeat", LastTransitionTime: now}}
	_, err = k.client.ComputeV1alpha1().MachinePools().UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return err
}

func (k machines) pools(ctx context.Context) ([]pool, error) {
	list, err := k.client.ComputeV1alpha1().MachinePools().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]pool, 0, len(list.Items))
	for i := range list.Items {
		p := &list.Items[i]
		reserved := map[string]*resource.Quantity{}
		for _, r := range p.Status.Reservations {
			if reserved[r.MachineClass] == nil {
				reserved[r.MachineClass] = resource.NewQuantity(0, resource.DecimalSI)
			}
			reserved[r.MachineClass].Add(*resource.NewQuantity(1, resource.DecimalSI))
		}
		out = append(out, pool{
			name:          p.Name,
			object:        p,
			gv:            computev1alpha1.SchemeGroupVersion,
			etcdKey:       "/compute.ferrite.dev/machinepools/" + p.Name,
			reservations:  len(p.Status.Reservations),
			overcommitted: overcommitted(p.Status.Allocatable, p.Status.Allocated, reserved),
		})
	}
	return out, nil
}

type volumes struct{ client versioned.Interface }

func (volumes) name() string { return "volumes" }

func (k volumes) create(ctx context.Context, namespace, name string) error {
	_, err := k.client.StorageV1alpha1().Volumes(namespace).Create(ctx, &storagev1alpha1.Volume{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: storagev1alpha1.VolumeSpec{
			VolumeClassRef: corev1.LocalObjectReference{Name: benchClass},
			Resources:      corev1.ResourceList{corev1.ResourceStorage: volumeSize},
		},
	}, metav1.CreateOptions{})
	return err
}

func (k volumes) deleteAll(ctx context.Context, namespace string) error {
	return k.client.StorageV1alpha1().Volumes(namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
}

func (k volumes) list(ctx context.Context, namespace string) (int, string, error) {
	list, err := k.client.StorageV1alpha1().Volumes(namespace).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return 0, "", err
	}
	return len(list.Items) + int(remaining(list.RemainingItemCount)), list.ResourceVersion, nil
}

func (k volumes) watch(ctx context.Context, namespace string, o metav1.ListOptions) (watch.Interface, error) {
	return k.client.StorageV1alpha1().Volumes(namespace).Watch(ctx, o)
}

func (volumes) boundName(obj runtime.Object) (string, bool) {
	v, ok := obj.(*storagev1alpha1.Volume)
	if !ok {
		return "", false
	}
	return v.Name, v.Spec.VolumePoolRef != nil
}

func (k volumes) createPool(ctx context.Context, name string, units int64) error {
	p, err := k.client.StorageV1alpha1().VolumePools().Create(ctx, &storagev1alpha1.VolumePool{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	now := metav1.Now()
	bytes := *resource.NewQuantity(units*volumeSize.Value(), resource.BinarySI)
	p.Status.Allocatable = corev1.ResourceList{benchClass: bytes}
	p.Status.Capacity = p.Status.Allocatable
	p.Status.LastHeartbeatTime = &now
	p.Status.Conditions = []metav1.Condition{{Type: storagev1alpha1.VolumePoolConditionReady, Status: metav1.ConditionTrue, Reason: "Heartbeat", LastTransitionTime: now}}
	_, err = k.client.StorageV1alpha1().VolumePools().UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return err
}

func (k volumes) pools(ctx context.Context) ([]pool, error) {
	list, err := k.client.StorageV1alpha1().VolumePools().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]pool, 0, len(list.Items))
	for i := range list.Items {
		p := &list.Items[i]
		reserved := map[string]*resource.Quantity{}
		for _, r := range p.Status.Reservations {
			if reserved[r.VolumeClass] == nil {
				reserved[r.VolumeClass] = resource.NewQuantity(0, resource.BinarySI)
			}
			reserved[r.VolumeClass].Add(r.Storage)
		}
		out = append(out, pool{
			name:          p.Name,
			object:        p,
			gv:            storagev1alpha1.SchemeGroupVersion,
			etcdKey:       "/storage.ferrite.dev/volumepools/" + p.Name,
			reservations:  len(p.Status.Reservations),
			overcommitted: overcommitted(p.Status.Allocatable, p.Status.Allocated, reserved),
		})
	}
	return out, nil
}

func remaining(count *int64) int64 {
	if count == nil {
		return 0
	}
	return *count
}
