package machine

import (
	"context"
	"net"
	"net/url"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/poolstatus"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/capacity"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// setupPool adds the pool controller: it creates the pool when missing and keeps
// status.capacity and status.allocatable current. It runs on pool and MachineClass changes and
// when the runtime's machines change (enqueuePool), never on a timer.
func (p *Poollet) setupPool(mgr ctrl.Manager) error {
	p.poolController = &poolstatus.Controller{
		Name:      "machinepoollet-pool",
		Pool:      p.PoolName,
		PoolType:  &computev1alpha1.MachinePool{},
		ClassType: &computev1alpha1.MachineClass{},
		Reconcile: p.reconcilePool,
	}
	return p.poolController.Setup(mgr)
}

func (p *Poollet) reconcilePool(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	pool, err := p.ensurePool(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	classes := &computev1alpha1.MachineClassList{}
	if err := p.Client.List(ctx, classes); err != nil {
		return reconcile.Result{}, err
	}
	req := &runtimev1alpha1.StatusRequest{}
	for i := range classes.Items {
		if res, ok := classResources(&classes.Items[i]); ok {
			req.Classes = append(req.Classes, &runtimev1alpha1.MachineClass{Name: classes.Items[i].Name, Resources: res})
		}
	}
	callCtx, cancel := p.call(ctx)
	status, err := p.Runtime.Status(callCtx, req)
	cancel()
	if err != nil {
		// The heartbeat reports the runtime as not ready; retry with backoff.
		return reconcile.Result{}, err
	}
	capacityList, allocatable := poolResources(status, req.Classes)
	addresses := p.poolAddresses()
	if equality.Semantic.DeepEqual(capacityList, pool.Status.Capacity) &&
		equality.Semantic.DeepEqual(allocatable, pool.Status.Allocatable) &&
		pool.Status.RuntimeEndpoint == p.RuntimeEndpoint &&
		equality.Semantic.DeepEqual(addresses, pool.Status.Addresses) {
		return reconcile.Result{RequeueAfter: p.StatusInterval}, nil
	}
	// A merge patch of these fields only: null removes classes that disappeared, and the
	// endpoint of a poollet that no longer serves one (the apiserver then refuses consoles).
	patch := map[string]any{
		"capacity":        poolstatus.MergeList(pool.Status.Capacity, capacityList),
		"allocatable":     poolstatus.MergeList(pool.Status.Allocatable, allocatable),
		"runtimeEndpoint": nil,
		"addresses":       nil,
	}
	if p.RuntimeEndpoint != "" {
		patch["runtimeEndpoint"] = p.RuntimeEndpoint
	}
	if len(addresses) > 0 {
		patch["addresses"] = addresses
	}
	if err := poolstatus.Patch(ctx, p.Client, pool, patch); err != nil {
		return reconcile.Result{}, err
	}
	logger(ctx).V(1).Info("pool resources updated", "pool", p.PoolName, "allocatable", allocatable)
	return reconcile.Result{RequeueAfter: p.StatusInterval}, nil
}

// poolAddresses are the pool's status.addresses: this host's name and the host of
// RuntimeEndpoint (the console endpoint's advertised address), an InternalIP when it is an IP.
func (p *Poollet) poolAddresses() []computev1alpha1.MachinePoolAddress {
	var addresses []computev1alpha1.MachinePoolAddress
	hostname, _ := os.Hostname()
	if hostname != "" {
		addresses = append(addresses, computev1alpha1.MachinePoolAddress{Type: computev1alpha1.MachinePoolHostName, Address: hostname})
	}
	endpoint, err := url.Parse(p.RuntimeEndpoint)
	if err != nil || (endpoint.Scheme != "https" && endpoint.Scheme != "http") {
		return addresses
	}
	if host := endpoint.Hostname(); net.ParseIP(host) != nil {
		addresses = append(addresses, computev1alpha1.MachinePoolAddress{Type: computev1alpha1.MachinePoolInternalIP, Address: host})
	} else if host != "" && host != hostname {
		addresses = append(addresses, computev1alpha1.MachinePoolAddress{Type: computev1alpha1.MachinePoolHostName, Address: host})
	}
	return addresses
}

// classResources converts a MachineClass's capabilities (cpu, memory) into runtime resources.
func classResources(class *computev1alpha1.MachineClass) (*runtimev1alpha1.MachineResources, bool) {
	cpu, okCPU := class.Capabilities[corev1.ResourceCPU]
	mem, okMem := class.Capabilities[corev1.ResourceMemory]
	if !okCPU || !okMem || cpu.Sign() <= 0 || mem.Sign() <= 0 {
		return nil, false
	}
	vcpus := cpu.Value() // rounds up fractional CPUs
	return &runtimev1alpha1.MachineResources{Vcpus: uint32(vcpus), MemoryBytes: uint64(mem.Value())}, true
}

// poolResources returns, per class, how many machines fit the host's raw capacity and its
// allocatable resources. The scheduler's ledger subtracts what is bound, so allocatable counts
// machines in total, not the room left.
func poolResources(status *runtimev1alpha1.StatusResponse, classes []*runtimev1alpha1.MachineClass) (corev1.ResourceList, corev1.ResourceList) {
	capacityList, allocatable := corev1.ResourceList{}, corev1.ResourceList{}
	hostCapacity, hostAllocatable := capacity.FromHost(status.GetCapacity()), capacity.FromHost(status.GetAllocatable())
	for _, class := range classes {
		need := capacity.OfMachine(class.Resources)
		capacityList[corev1.ResourceName(class.Name)] = *resource.NewQuantity(clamp(hostCapacity.Count(need)), resource.DecimalSI)
		allocatable[corev1.ResourceName(class.Name)] = *resource.NewQuantity(clamp(hostAllocatable.Count(need)), resource.DecimalSI)
	}
	return capacityList, allocatable
}

func clamp(n uint64) int64 {
	const maxCount = 1 << 40
	if n > maxCount {
		return maxCount
	}
	return int64(n)
}

// ensurePool reads the pool, or creates it when it does not exist.
func (p *Poollet) ensurePool(ctx context.Context) (*computev1alpha1.MachinePool, error) {
	pool, created, err := poolstatus.Ensure(ctx, p.Client, p.APIReader, p.PoolName,
		func() *computev1alpha1.MachinePool { return &computev1alpha1.MachinePool{} },
		func() *computev1alpha1.MachinePool {
			return &computev1alpha1.MachinePool{
				ObjectMeta: metav1.ObjectMeta{Name: p.PoolName, Labels: p.PoolLabels},
				Spec:       computev1alpha1.MachinePoolSpec{ProviderID: p.ProviderID},
			}
		})
	if created {
		logger(ctx).Info("registered the machine pool", "pool", p.PoolName)
	}
	return pool, err
}

// heartbeat registers the pool and then, every HeartbeatInterval, writes lastHeartbeatTime and
// the Ready condition with a merge patch of status (never touching the scheduler's ledger).
func (p *Poollet) heartbeat(ctx context.Context) error {
	return poolstatus.Heartbeat(ctx, p.HeartbeatInterval, p.PoolName, p.beat)
}

// beat writes one heartbeat.
func (p *Poollet) beat(ctx context.Context) error {
	pool, err := p.ensurePool(ctx)
	if err != nil {
		return err
	}
	callCtx, cancel := p.call(ctx)
	version, err := p.Runtime.Version(callCtx, &runtimev1alpha1.VersionRequest{Version: "v1alpha1"})
	cancel()
	return poolstatus.Patch(ctx, p.Client, pool, poolstatus.Beat(pool.Status.Conditions, pool.Generation, "machine", version, err))
}
