package controllermanager

import (
	"context"
	"fmt"

	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"

	"github.com/ferrite-dev/ferrite/controllers/claim"
	"github.com/ferrite-dev/ferrite/controllers/classprotection"
	"github.com/ferrite-dev/ferrite/controllers/ephemeral"
	"github.com/ferrite-dev/ferrite/controllers/ipam"
	"github.com/ferrite-dev/ferrite/controllers/machinescheduler"
	"github.com/ferrite-dev/ferrite/controllers/networkpeering"
	"github.com/ferrite-dev/ferrite/controllers/networkprotection"
	"github.com/ferrite-dev/ferrite/controllers/poolbinding"
	"github.com/ferrite-dev/ferrite/controllers/poolhealth"
	"github.com/ferrite-dev/ferrite/controllers/publicaddress"
	"github.com/ferrite-dev/ferrite/controllers/quota"
	"github.com/ferrite-dev/ferrite/controllers/scheduler"
	"github.com/ferrite-dev/ferrite/controllers/volumescheduler"
)

// AddControllers adds every controller to mgr.
func AddControllers(ctx context.Context, mgr ctrl.Manager, recorder events.EventRecorder, o *Options) error {
	for _, add := range []func(context.Context, ctrl.Manager, events.EventRecorder, *Options) error{
		AddMachineScheduler,
		AddVolumeScheduler,
		AddPoolHealth,
		AddQuota,
		AddEphemeral,
		AddClaims,
		AddIPAM,
		AddClassProtection,
		AddNetworkProtection,
		AddNetworkPeering,
		AddPublicAddresses,
		AddPoolBinding,
	} {
		if err := add(ctx, mgr, recorder, o); err != nil {
			return err
		}
	}
	return nil
}

// schedulerSettings are the settings both schedulers run with.
func (o *Options) schedulerSettings(mgr ctrl.Manager, recorder events.EventRecorder) scheduler.Settings {
	return scheduler.Settings{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder,
		Policy: o.SchedulerPolicy, RetryInterval: o.RetryInterval, Workers: o.SchedulerWorkers,
		ResyncInterval: o.LedgerResync, MissingGrace: o.LedgerMissingGrace, GrowthGrace: o.LedgerGrowthGrace,
	}
}

// AddMachineScheduler adds the machine scheduler with its ledger keeper.
func AddMachineScheduler(ctx context.Context, mgr ctrl.Manager, recorder events.EventRecorder, o *Options) error {
	if err := machinescheduler.IndexPoolRef(ctx, mgr); err != nil {
		return err
	}
	s := &machinescheduler.Scheduler{Kind: machinescheduler.Kind(), Settings: o.schedulerSettings(mgr, recorder)}
	if err := s.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("machine scheduler: %w", err)
	}
	return nil
}

// AddVolumeScheduler adds the volume scheduler with its ledger keeper.
func AddVolumeScheduler(ctx context.Context, mgr ctrl.Manager, recorder events.EventRecorder, o *Options) error {
	if err := volumescheduler.IndexPoolRef(ctx, mgr); err != nil {
		return err
	}
	s := &volumescheduler.Scheduler{Kind: volumescheduler.Kind(mgr.GetCache()), Settings: o.schedulerSettings(mgr, recorder)}
	if err := s.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("volume scheduler: %w", err)
	}
	// A volume restored from a snapshot waits until the snapshot is on a pool.
	snapshots, err := mgr.GetCache().GetInformer(ctx, &storagev1alpha1.VolumeSnapshot{})
	if err != nil {
		return fmt.Errorf("volume scheduler: %w", err)
	}
	_, err = snapshots.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(interface{}) { s.RequeueUnschedulable() },
		UpdateFunc: func(oldObj, obj interface{}) {
			old, okOld := oldObj.(*storagev1alpha1.VolumeSnapshot)
			snap, ok := obj.(*storagev1alpha1.VolumeSnapshot)
			if ok && okOld && old.Status.VolumePoolRef == nil && snap.Status.VolumePoolRef != nil {
				s.RequeueUnschedulable()
			}
		},
	})
	if err != nil {
		return fmt.Errorf("volume scheduler: %w", err)
	}
	return nil
}

// AddPoolHealth adds the heartbeat checkers of machine and volume pools.
func AddPoolHealth(_ context.Context, mgr ctrl.Manager, _ events.EventRecorder, o *Options) error {
	checker := poolhealth.Checker{Client: mgr.GetClient(), Grace: o.HeartbeatGrace}
	if err := (&poolhealth.MachinePools{Checker: checker}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("machine pool health: %w", err)
	}
	if err := (&poolhealth.VolumePools{Checker: checker}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("volume pool health: %w", err)
	}
	return nil
}

// AddQuota adds the ResourceQuota usage controller (lowering usage after quota.DefaultReleaseGrace).
func AddQuota(_ context.Context, mgr ctrl.Manager, recorder events.EventRecorder, o *Options) error {
	controller := &quota.Controller{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder, ResyncInterval: o.LedgerResync, ReleaseGrace: o.QuotaReleaseGrace}
	if err := controller.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("resource quota: %w", err)
	}
	return nil
}

// AddClaims adds the controllers that claim each Volume and NetworkInterface for the one
// Machine that references it, and release the claim once that machine no longer does.
func AddClaims(ctx context.Context, mgr ctrl.Manager, recorder events.EventRecorder, _ *Options) error {
	if err := claim.Setup(ctx, mgr, recorder); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	return nil
}

// AddEphemeral adds the ephemeral volume and network interface controllers.
func AddEphemeral(ctx context.Context, mgr ctrl.Manager, recorder events.EventRecorder, o *Options) error {
	if err := ephemeral.IndexOwners(ctx, mgr); err != nil {
		return err
	}
	machines := &ephemeral.Machines{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder, RetryInterval: o.RetryInterval}
	if err := machines.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("ephemeral: %w", err)
	}
	volumes := ephemeral.VolumeOrphans(mgr.GetClient(), mgr.GetAPIReader())
	if err := volumes.SetupWithManager(mgr, "ephemeral-volume-orphans", func() client.ObjectList { return &storagev1alpha1.VolumeList{} }); err != nil {
		return fmt.Errorf("ephemeral volume orphans: %w", err)
	}
	nics := ephemeral.NetworkInterfaceOrphans(mgr.GetClient(), mgr.GetAPIReader())
	if err := nics.SetupWithManager(mgr, "ephemeral-networkinterface-orphans", func() client.ObjectList { return &networkingv1alpha1.NetworkInterfaceList{} }); err != nil {
		return fmt.Errorf("ephemeral network interface orphans: %w", err)
	}
	return nil
}

// AddClassProtection adds the MachineClass and VolumeClass protection controllers: a class in
// use keeps its finalizer until nothing uses it.
func AddClassProtection(ctx context.Context, mgr ctrl.Manager, recorder events.EventRecorder, o *Options) error {
	for _, class := range []classprotection.Class{classprotection.MachineClasses, classprotection.VolumeClasses} {
		if err := class.Index(ctx, mgr); err != nil {
			return err
		}
		r := &classprotection.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder, Class: class, RecheckInterval: o.LedgerResync}
		if err := r.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("%s protection: %w", class.Kind, err)
		}
	}
	return nil
}

// AddNetworkProtection adds the controller that keeps a Network while NetworkInterfaces use it.
func AddNetworkProtection(ctx context.Context, mgr ctrl.Manager, recorder events.EventRecorder, _ *Options) error {
	if err := networkprotection.IndexNetworkRef(ctx, mgr); err != nil {
		return err
	}
	r := &networkprotection.Controller{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("network protection: %w", err)
	}
	return nil
}

// AddNetworkPeering adds the controller that records which peerings of a Network both sides
// agreed to.
func AddNetworkPeering(ctx context.Context, mgr ctrl.Manager, _ events.EventRecorder, _ *Options) error {
	if err := networkpeering.Index(ctx, mgr); err != nil {
		return err
	}
	if err := (&networkpeering.Controller{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("network peering: %w", err)
	}
	return nil
}

// AddPublicAddresses adds the controllers that bind VirtualIPs to NetworkInterfaces, give
// NATGateways and LoadBalancers their VirtualIPs (the addresses come from AddIPAM) and hold
// deleted VirtualIPs' addresses in quarantine.
func AddPublicAddresses(ctx context.Context, mgr ctrl.Manager, recorder events.EventRecorder, o *Options) error {
	if err := publicaddress.Index(ctx, mgr); err != nil {
		return err
	}
	if err := (&publicaddress.Binding{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("virtual ip binding: %w", err)
	}
	if err := (&publicaddress.NATGateways{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("nat gateway: %w", err)
	}
	if err := (&publicaddress.LoadBalancers{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("load balancer: %w", err)
	}
	if err := (&publicaddress.Quarantine{Client: mgr.GetClient(), Duration: o.PublicAddressQuarantine}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("virtual ip quarantine: %w", err)
	}
	return nil
}

// AddIPAM adds the prefix, network interface address and virtual IP controllers, sharing one
// ledger writer.
func AddIPAM(_ context.Context, mgr ctrl.Manager, recorder events.EventRecorder, o *Options) error {
	ledger := &ipam.Ledger{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), RecordWithin: o.IPAMReleaseGrace / 3}
	pools := ipam.PublicPools{Namespace: o.PublicPrefixNamespace}
	releaser := &ipam.Releaser{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Ledger: ledger, Grace: o.IPAMReleaseGrace, Pools: pools}
	if err := (&ipam.Prefixes{Client: mgr.GetClient(), Ledger: ledger, Releaser: releaser, Pools: pools, Recorder: recorder}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("prefix ipam: %w", err)
	}
	if err := (&ipam.NetworkInterfaces{Client: mgr.GetClient(), Ledger: ledger, Recorder: recorder}).SetupWithManager(mgr, o.IPAMWorkers); err != nil {
		return fmt.Errorf("network interface ipam: %w", err)
	}
	if err := (&ipam.VirtualIPs{Client: mgr.GetClient(), Ledger: ledger, Recorder: recorder, Pools: pools}).SetupWithManager(mgr, o.IPAMWorkers); err != nil {
		return fmt.Errorf("virtual ip ipam: %w", err)
	}
	return nil
}

// AddPoolBinding adds the controllers that mark machines and volumes whose pool was deleted or
// replaced. It relies on the schedulers' pool reference indexes.
func AddPoolBinding(_ context.Context, mgr ctrl.Manager, recorder events.EventRecorder, _ *Options) error {
	machines := &poolbinding.Reconciler[*computev1alpha1.Machine, *computev1alpha1.MachinePool]{
		Kind: poolbinding.Machines(machinescheduler.PoolRefField), Client: mgr.GetClient(), Recorder: recorder,
	}
	if err := machines.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("machine pool binding: %w", err)
	}
	volumes := &poolbinding.Reconciler[*storagev1alpha1.Volume, *storagev1alpha1.VolumePool]{
		Kind: poolbinding.Volumes(volumescheduler.PoolRefField), Client: mgr.GetClient(), Recorder: recorder,
	}
	if err := volumes.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("volume pool binding: %w", err)
	}
	return nil
}
