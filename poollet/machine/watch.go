package machine

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtimewatch"
)

// watchRuntime collects runtime machines whose Machine no longer exists, then lists the
// runtime's machines and follows its Watch from the list's revision, requeueing the Machine of
// every change and recording runtime events on it. On RevisionTooOld it lists again; on other
// errors it resumes from the last revision it received.
func (p *Poollet) watchRuntime(ctx context.Context) error {
	return runtimewatch.Loop{
		Collect: p.collectOrphans,
		List:    p.resync,
		Follow:  p.follow,
		RevisionTooOld: func(err error) bool {
			_, ok := runtimev1alpha1.AsRevisionTooOld(err)
			return ok
		},
	}.Run(ctx)
}

// resync lists the runtime's machines, requeues their Machines and every Machine of the pool
// (one whose runtime machine vanished unseen is then recreated or released), and returns the
// list's revision.
func (p *Poollet) resync(ctx context.Context) (uint64, error) {
	callCtx, cancel := p.call(ctx)
	list, err := p.Runtime.ListMachines(callCtx, &runtimev1alpha1.ListMachinesRequest{})
	cancel()
	if err != nil {
		return 0, err
	}
	clear(p.names)
	for _, rm := range list.GetMachines() {
		p.remember(rm)
		labels := rm.GetMetadata().GetLabels()
		p.enqueueMachine(ctx, labels[LabelMachineNamespace], labels[LabelMachineName])
	}
	machines := &computev1alpha1.MachineList{}
	if err := p.Client.List(ctx, machines); err == nil {
		for i := range machines.Items {
			p.enqueueMachine(ctx, machines.Items[i].Namespace, machines.Items[i].Name)
		}
	}
	p.enqueuePool()
	return list.GetRevision(), nil
}

// follow consumes one Watch stream from *revision, advancing it, until the stream fails.
func (p *Poollet) follow(ctx context.Context, revision *uint64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := p.Runtime.Watch(ctx, &runtimev1alpha1.WatchRequest{FromRevision: *revision})
	if err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		switch change := resp.GetChange().(type) {
		case *runtimev1alpha1.WatchResponse_Machine:
			p.remember(change.Machine.GetMachine())
			labels := change.Machine.GetMachine().GetMetadata().GetLabels()
			p.enqueueMachine(ctx, labels[LabelMachineNamespace], labels[LabelMachineName])
			if t := change.Machine.GetType(); t == runtimev1alpha1.ChangeType_CHANGE_TYPE_ADDED || t == runtimev1alpha1.ChangeType_CHANGE_TYPE_DELETED {
				p.enqueuePool()
			}
		case *runtimev1alpha1.WatchResponse_Event:
			p.recordEvent(ctx, change.Event)
		}
		if resp.GetRevision() > *revision {
			*revision = resp.GetRevision()
		}
	}
}

// remember notes which Machine a runtime machine belongs to (its labels), for recordEvent. Only
// the watch goroutine uses the map; entries of deleted machines stay until the next resync, so
// that their last events still find the Machine.
func (p *Poollet) remember(rm *runtimev1alpha1.Machine) {
	labels := rm.GetMetadata().GetLabels()
	if labels[LabelMachineNamespace] != "" && labels[LabelMachineName] != "" {
		p.names[rm.GetMetadata().GetId()] = types.NamespacedName{Namespace: labels[LabelMachineNamespace], Name: labels[LabelMachineName]}
	}
}

// recordEvent records a runtime event on the Machine it is about, when that is one of the pool's
// (read from the cache and checked by UID).
func (p *Poollet) recordEvent(ctx context.Context, e *runtimev1alpha1.Event) {
	key, ok := p.names[e.GetMachineId()]
	if !ok {
		return
	}
	m := &computev1alpha1.Machine{}
	if err := p.Client.Get(ctx, key, m); err != nil || string(m.UID) != e.GetMachineId() {
		return
	}
	eventType := corev1.EventTypeNormal
	if e.GetType() == runtimev1alpha1.EventType_EVENT_TYPE_WARNING {
		eventType = corev1.EventTypeWarning
	}
	p.Recorder.Eventf(m, nil, eventType, e.GetReason(), "Runtime", "%s", e.GetMessage())
}

// sweepOrphans collects orphans every OrphanSweepInterval (the first collection is the runtime
// watcher's, before its first list): a runtime machine can lose its Machine at any time, for
// example when someone removes the finalizer, or a domain is defined by hand with Ferrite's
// labels.
func (p *Poollet) sweepOrphans(ctx context.Context) error {
	return runtimewatch.Every(ctx, p.OrphanSweepInterval, "collecting runtime machines of deleted Machines", p.collectOrphans)
}

// collectOrphans deletes the runtime machines whose Machine (by UID) no longer exists: Machines
// deleted while the poollet was down, whose finalizer someone removed.
func (p *Poollet) collectOrphans(ctx context.Context) error {
	callCtx, cancel := p.call(ctx)
	list, err := p.Runtime.ListMachines(callCtx, &runtimev1alpha1.ListMachinesRequest{})
	cancel()
	if err != nil {
		return err
	}
	for _, rm := range list.GetMachines() {
		labels := rm.GetMetadata().GetLabels()
		uid, namespace, name := labels[LabelMachineUID], labels[LabelMachineNamespace], labels[LabelMachineName]
		if uid == "" || rm.GetStatus().GetState() == runtimev1alpha1.MachineState_MACHINE_STATE_TERMINATING {
			continue // not the poollet's, or already going
		}
		m := &computev1alpha1.Machine{}
		err := p.APIReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, m)
		switch {
		case err == nil && string(m.UID) == uid && m.Spec.MachinePoolRef != nil && m.Spec.MachinePoolRef.Name == p.PoolName:
			continue
		case err != nil && !apierrors.IsNotFound(err):
			return err
		}
		callCtx, cancel := p.call(ctx)
		_, err = p.Runtime.DeleteMachine(callCtx, &runtimev1alpha1.DeleteMachineRequest{MachineId: rm.GetMetadata().GetId()})
		cancel()
		if err != nil {
			return err
		}
		logger(ctx).Info("deleted the runtime machine of a Machine that no longer exists", "id", rm.GetMetadata().GetId(), "machine", namespace+"/"+name)
	}
	return nil
}
