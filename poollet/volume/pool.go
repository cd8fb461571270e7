package volume

import (
	"context"
	"math"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/poolstatus"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// setupPool adds the pool controller: it creates the pool when missing and keeps
// status.capacity and status.allocatable current. It runs on pool and VolumeClass changes and
// when the runtime's volumes come or go (enqueuePool), never on a timer.
func (p *Poollet) setupPool(mgr ctrl.Manager) error {
	p.poolController = &poolstatus.Controller{
		Name:      "volumepoollet-pool",
		Pool:      p.PoolName,
		PoolType:  &storagev1alpha1.VolumePool{},
		ClassType: &storagev1alpha1.VolumeClass{},
		Reconcile: p.reconcilePool,
	}
	return p.poolController.Setup(mgr)
}

func (p *Poollet) reconcilePool(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	pool, err := p.ensurePool(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	classes := &storagev1alpha1.VolumeClassList{}
	if err := p.Client.List(ctx, classes); err != nil {
		return reconcile.Result{}, err
	}
	req := &runtimev1alpha1.StatusRequest{}
	for _, class := range classes.Items {
		req.Classes = append(req.Classes, class.Name)
	}
	status, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.StatusResponse, error) {
		return p.Runtime.Status(ctx, req)
	})
	if err != nil {
		// The heartbeat reports the runtime as not ready; retry with backoff.
		return reconcile.Result{}, err
	}
	capacity, allocatable := poolResources(status, req.Classes, p.OvercommitRatio)
	if equality.Semantic.DeepEqual(capacity, pool.Status.Capacity) && equality.Semantic.DeepEqual(allocatable, pool.Status.Allocatable) {
		return reconcile.Result{RequeueAfter: p.StatusInterval}, nil
	}
	patch := map[string]any{
		"capacity":    poolstatus.MergeList(pool.Status.Capacity, capacity),
		"allocatable": poolstatus.MergeList(pool.Status.Allocatable, allocatable),
	}
	if err := poolstatus.Patch(ctx, p.Client, pool, patch); err != nil {
		return reconcile.Result{}, err
	}
	logger(ctx).V(1).Info("pool resources updated", "pool", p.PoolName, "allocatable", allocatable)
	return reconcile.Result{RequeueAfter: p.StatusInterval}, nil
}

// poolResources returns, per class, the physical bytes the pool holds for it (capacity) and
// the bytes it may give to volumes (allocatable: physical total times the overcommit ratio).
// Totals, not room left: the scheduler's ledger subtracts what is bound. A class the runtime
// does not report gets the backend's physical figures.
func poolResources(status *runtimev1alpha1.StatusResponse, classes []string, overcommit float64) (corev1.ResourceList, corev1.ResourceList) {
	capacity, allocatable := corev1.ResourceList{}, corev1.ResourceList{}
	byName := map[string]*runtimev1alpha1.ClassCapacity{}
	for _, c := range status.GetClasses() {
		byName[c.GetName()] = c
	}
	for _, name := range classes {
		total := status.GetPhysical().GetTotalBytes()
		if c, ok := byName[name]; ok && c.GetPhysical() != nil {
			total = c.GetPhysical().GetTotalBytes()
		}
		capacity[corev1.ResourceName(name)] = *resource.NewQuantity(clamp(float64(total)), resource.BinarySI)
		allocatable[corev1.ResourceName(name)] = *resource.NewQuantity(clamp(float64(total)*overcommit), resource.BinarySI)
	}
	return capacity, allocatable
}

// clamp converts a byte count to int64, saturating.
func clamp(bytes float64) int64 {
	if bytes >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(bytes)
}

// ensurePool reads the pool, or creates it when it does not exist.
func (p *Poollet) ensurePool(ctx context.Context) (*storagev1alpha1.VolumePool, error) {
	pool, created, err := poolstatus.Ensure(ctx, p.Client, p.APIReader, p.PoolName,
		func() *storagev1alpha1.VolumePool { return &storagev1alpha1.VolumePool{} },
		func() *storagev1alpha1.VolumePool {
			return &storagev1alpha1.VolumePool{
				ObjectMeta: metav1.ObjectMeta{Name: p.PoolName, Labels: p.PoolLabels},
				Spec:       storagev1alpha1.VolumePoolSpec{ProviderID: p.ProviderID},
			}
		})
	if created {
		logger(ctx).Info("registered the volume pool", "pool", p.PoolName)
	}
	return pool, err
}

// heartbeat writes lastHeartbeatTime and the Ready condition every HeartbeatInterval.
func (p *Poollet) heartbeat(ctx context.Context) error {
	return poolstatus.Heartbeat(ctx, p.HeartbeatInterval, p.PoolName, p.beat)
}

// beat writes one heartbeat.
func (p *Poollet) beat(ctx context.Context) error {
	pool, err := p.ensurePool(ctx)
	if err != nil {
		return err
	}
	version, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.VersionResponse, error) {
		return p.Runtime.Version(ctx, &runtimev1alpha1.VersionRequest{Version: "v1alpha1"})
	})
	return poolstatus.Patch(ctx, p.Client, pool, poolstatus.Beat(pool.Status.Conditions, pool.Generation, "volume", version, err))
}
