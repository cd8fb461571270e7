package machine

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// setupMachines adds the machine controller. It sees only the pool's Machines (the cache's
// field selector) and is triggered by Machine changes and by the runtime's Watch (machineEvents).
func (p *Poollet) setupMachines(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("machinepoollet-machine").
		For(&computev1alpha1.Machine{}).
		WatchesRawSource(source.Channel(p.machineEvents, &handler.EnqueueRequestForObject{})).
		// Machines are independent and every runtime call is idempotent by ID: one slow create
		// (an image pull, a domain start) must not hold up the others.
		WithOptions(controller.Options{MaxConcurrentReconciles: p.Workers}).
		Complete(reconcile.Func(p.reconcileMachine))
}

// deletionRecheck is how long a Machine waiting for its runtime machine to go waits before it is
// looked at again without a Watch event (a safety net; the Watch's DELETED requeues it first).
const deletionRecheck = 30 * time.Second

func (p *Poollet) reconcileMachine(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	m := &computev1alpha1.Machine{}
	if err := p.Client.Get(ctx, req.NamespacedName, m); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if m.Spec.MachinePoolRef == nil || m.Spec.MachinePoolRef.Name != p.PoolName {
		return reconcile.Result{}, nil
	}
	id := string(m.UID)
	if m.DeletionTimestamp != nil {
		return p.deleteMachine(ctx, m)
	}
	if !slices.Contains(m.Finalizers, Finalizer) {
		m.Finalizers = append(m.Finalizers, Finalizer)
		// The poollet has no spec write: the status subresource accepts metadata.finalizers.
		if err := p.Client.Status().Update(ctx, m); err != nil {
			return reconcile.Result{}, err
		}
	}
	d, err := p.machineDevices(ctx, m)
	if err != nil {
		return reconcile.Result{}, err
	}
	current, err := p.runtimeMachine(ctx, id)
	if err != nil {
		return reconcile.Result{}, err
	}
	if d.bootPending != "" {
		// Nothing to boot from yet: the machine is created once its boot volume is ready (one
		// created already carries on).
		if current == nil {
			rm := &runtimev1alpha1.Machine{Status: &runtimev1alpha1.MachineStatus{
				State: runtimev1alpha1.MachineState_MACHINE_STATE_PENDING, Reason: ReasonBootVolumePending, Message: d.bootPending,
			}}
			// Soon again: the boot volume is usually seconds away, and until then nothing runs.
			return reconcile.Result{RequeueAfter: min(p.DeviceRecheck, bootVolumeRecheck)}, p.writeStatus(ctx, m, rm, d, m.Generation)
		}
	}
	assignDevices(m, d, current)
	spec, err := p.machineSpec(ctx, m, d)
	if err != nil {
		return reconcile.Result{}, err
	}
	generation := m.Generation
	created, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.CreateMachineResponse, error) {
		return p.Runtime.CreateMachine(ctx, &runtimev1alpha1.CreateMachineRequest{Machine: &runtimev1alpha1.Machine{
			Metadata: &runtimev1alpha1.ObjectMetadata{Id: id, Labels: map[string]string{
				LabelMachineUID: id, LabelMachineNamespace: m.Namespace, LabelMachineName: m.Name,
			}},
			Spec: spec,
		}})
	})
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("creating runtime machine %s: %w", id, err)
	}
	rm := created.GetMachine()
	if created.GetCreated() {
		p.Recorder.Eventf(m, nil, corev1.EventTypeNormal, "Created", "CreateMachine", "created runtime machine %s in pool %s", id, p.PoolName)
		p.enqueuePool()
	}
	if rm.GetStatus().GetState() == runtimev1alpha1.MachineState_MACHINE_STATE_TERMINATING {
		return reconcile.Result{RequeueAfter: deletionRecheck}, p.writeStatus(ctx, m, rm, d, m.Status.ObservedGeneration)
	}
	if rm, err = p.syncDevices(ctx, rm, d); err != nil {
		return reconcile.Result{}, err
	}
	if desired := power(m.Spec.Power); rm.GetSpec().GetPower() != desired {
		resp, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.SetMachinePowerResponse, error) {
			return p.Runtime.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{MachineId: id, Power: desired})
		})
		if err != nil {
			return reconcile.Result{}, fmt.Errorf("setting power of runtime machine %s: %w", id, err)
		}
		rm = resp.GetMachine()
	}
	if rm, err = p.reboot(ctx, m, rm); err != nil {
		return reconcile.Result{}, err
	}
	if err := p.writeStatus(ctx, m, rm, d, generation); err != nil {
		return reconcile.Result{}, err
	}
	if waitingFor(d) {
		return reconcile.Result{RequeueAfter: p.DeviceRecheck}, nil
	}
	if hasNetworkDisks(d) {
		// A Volume that grows or gets new credentials is no event of the Machine.
		return reconcile.Result{RequeueAfter: p.VolumeRecheck}, nil
	}
	return reconcile.Result{}, nil
}

// machineSpec is the runtime spec of m: class resources, root disk image, power, ignition, and
// the volumes and network interfaces of d that are ready.
func (p *Poollet) machineSpec(ctx context.Context, m *computev1alpha1.Machine, d *devices) (*runtimev1alpha1.MachineSpec, error) {
	class := &computev1alpha1.MachineClass{}
	if err := p.Client.Get(ctx, types.NamespacedName{Name: m.Spec.MachineClassRef.Name}, class); err != nil {
		return nil, fmt.Errorf("reading machine class %q: %w", m.Spec.MachineClassRef.Name, err)
	}
	resources, ok := classResources(class)
	if !ok {
		return nil, fmt.Errorf("machine class %q has no cpu and memory", class.Name)
	}
	spec := &runtimev1alpha1.MachineSpec{
		Power:             power(m.Spec.Power),
		Class:             class.Name,
		Resources:         resources,
		RootDisk:          rootDisk(m, d),
		Volumes:           d.volumes,
		NetworkInterfaces: d.nics,
	}
	if ref := m.Spec.IgnitionRef; ref != nil {
		key := ref.Key
		if key == "" {
			key = DefaultIgnitionKey
		}
		secret := &corev1.Secret{}
		if err := p.APIReader.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: ref.Name}, secret); err != nil {
			return nil, fmt.Errorf("reading ignition secret %q: %w", ref.Name, err)
		}
		data, ok := secret.Data[key]
		if !ok {
			return nil, fmt.Errorf("ignition secret %q has no key %q", ref.Name, key)
		}
		spec.UserData = &runtimev1alpha1.UserData{Data: data, Format: runtimev1alpha1.UserDataFormat_USER_DATA_FORMAT_IGNITION}
	}
	return spec, nil
}

func power(p computev1alpha1.Power) runtimev1alpha1.Power {
	if p == computev1alpha1.PowerOff {
		return runtimev1alpha1.Power_POWER_OFF
	}
	return runtimev1alpha1.Power_POWER_ON
}

// deleteMachine deletes the runtime machine of a Machine being deleted, and removes the
// finalizer once the runtime says the machine is gone.
func (p *Poollet) deleteMachine(ctx context.Context, m *computev1alpha1.Machine) (reconcile.Result, error) {
	if !slices.Contains(m.Finalizers, Finalizer) {
		return reconcile.Result{}, nil
	}
	id := string(m.UID)
	callCtx, cancel := p.call(ctx)
	list, err := p.Runtime.ListMachines(callCtx, &runtimev1alpha1.ListMachinesRequest{Filter: &runtimev1alpha1.MachineFilter{Id: id}})
	cancel()
	if err != nil {
		return reconcile.Result{}, err
	}
	if len(list.GetMachines()) > 0 {
		rm := list.GetMachines()[0]
		if rm.GetStatus().GetState() != runtimev1alpha1.MachineState_MACHINE_STATE_TERMINATING {
			callCtx, cancel := p.call(ctx)
			resp, err := p.Runtime.DeleteMachine(callCtx, &runtimev1alpha1.DeleteMachineRequest{MachineId: id})
			cancel()
			if err != nil {
				return reconcile.Result{}, fmt.Errorf("deleting runtime machine %s: %w", id, err)
			}
			if resp.GetMachine() == nil { // already gone
				return p.removeFinalizer(ctx, m)
			}
			rm = resp.GetMachine()
			p.Recorder.Eventf(m, nil, corev1.EventTypeNormal, "Deleting", "DeleteMachine", "deleting runtime machine %s", id)
		}
		// Wait for the Watch's DELETED; the state says Terminating meanwhile.
		if err := p.writeStatus(ctx, m, rm, nil, m.Status.ObservedGeneration); err != nil {
			return reconcile.Result{}, err
		}
		return reconcile.Result{RequeueAfter: deletionRecheck}, nil
	}
	return p.removeFinalizer(ctx, m)
}

func (p *Poollet) removeFinalizer(ctx context.Context, m *computev1alpha1.Machine) (reconcile.Result, error) {
	if err := p.releaseNetworkInterfaces(ctx, m); err != nil {
		return reconcile.Result{}, err
	}
	m.Finalizers = slices.DeleteFunc(m.Finalizers, func(f string) bool { return f == Finalizer })
	if err := p.Client.Status().Update(ctx, m); err != nil {
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	p.enqueuePool()
	return reconcile.Result{}, nil
}

// rootDisk is the boot from a volume when the first volume has an image (that image lends the
// kernel; spec.image is not used), else the boot disk made from spec.image; nil when there is
// neither.
func rootDisk(m *computev1alpha1.Machine, d *devices) *runtimev1alpha1.RootDisk {
	switch {
	case d.rootDisk != nil:
		return d.rootDisk
	case m.Spec.Image == "":
		return nil
	}
	return &runtimev1alpha1.RootDisk{Image: m.Spec.Image}
}

// bootVolumeRecheck is how soon a Machine waiting for the volume it boots from is looked at
// again (one read of the Volume and one runtime lookup, for the machines of this host that wait).
const bootVolumeRecheck = 2 * time.Second

// runtimeMachine is the runtime machine id, nil when the runtime has none.
func (p *Poollet) runtimeMachine(ctx context.Context, id string) (*runtimev1alpha1.Machine, error) {
	resp, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.ListMachinesResponse, error) {
		return p.Runtime.ListMachines(ctx, &runtimev1alpha1.ListMachinesRequest{Filter: &runtimev1alpha1.MachineFilter{Id: id}})
	})
	if err != nil {
		return nil, fmt.Errorf("listing runtime machine %s: %w", id, err)
	}
	if len(resp.GetMachines()) == 0 {
		return nil, nil
	}
	return resp.GetMachines()[0], nil
}

// AnnotationRebootRequest asks the poollet to reboot a running Machine: its value is an RFC 3339
// time (for example `date -u +%FT%TZ`). The machine is rebooted once when it has been running
// since before that time; the value is the runtime's reboot_id, so a retried request never
// reboots twice, and a machine started after the time is not rebooted.
const AnnotationRebootRequest = "compute.ferrite.dev/reboot-requested-at"

// reboot reboots rm when m asks for a reboot that the current boot predates.
func (p *Poollet) reboot(ctx context.Context, m *computev1alpha1.Machine, rm *runtimev1alpha1.Machine) (*runtimev1alpha1.Machine, error) {
	value := m.Annotations[AnnotationRebootRequest]
	if value == "" || rm.GetStatus().GetState() != runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING || rm.GetStatus().GetLastRebootId() == value {
		return rm, nil
	}
	requested, err := time.Parse(time.RFC3339, value)
	if err != nil {
		p.Recorder.Eventf(m, nil, corev1.EventTypeWarning, "InvalidRebootRequest", "RebootMachine", "annotation %s: %q is not an RFC 3339 time", AnnotationRebootRequest, value)
		return rm, nil
	}
	if boot := rm.GetStatus().GetBootTime(); boot != nil && !boot.AsTime().Before(requested) {
		return rm, nil // started after the request: that boot is the reboot
	}
	resp, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.RebootMachineResponse, error) {
		return p.Runtime.RebootMachine(ctx, &runtimev1alpha1.RebootMachineRequest{MachineId: rm.GetMetadata().GetId(), RebootId: value})
	})
	if err != nil {
		return rm, fmt.Errorf("rebooting runtime machine %s: %w", rm.GetMetadata().GetId(), err)
	}
	p.Recorder.Eventf(m, nil, corev1.EventTypeNormal, "Rebooting", "RebootMachine", "reboot requested at %s", value)
	return resp.GetMachine(), nil
}
