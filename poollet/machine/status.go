package machine

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/controllers/machinecondition"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// ConditionReady is the Machine condition the poollet owns: True when the machine runs with
// every volume and network interface attached; otherwise False with the runtime's reason (for
// example ImagePulling, ImagePullFailed, GuestShutdown) or DevicesPending, and a message.
const ConditionReady = "Ready"

// Reasons of ConditionReady besides the runtime's own.
const (
	// ReasonRunning: the machine runs with everything attached.
	ReasonRunning = "Running"
	// ReasonDevicesPending: a volume or network interface cannot be attached yet.
	ReasonDevicesPending = "DevicesPending"
	// ReasonBootVolumePending: the volume the machine boots from is not ready; the machine is
	// not created yet. The message names the volume and why.
	ReasonBootVolumePending = "BootVolumePending"
)

// fieldOwner is the server-side apply manager of ConditionReady.
const fieldOwner = "machinepoollet"

// State maps a runtime machine state onto the Machine's status.state.
func State(s runtimev1alpha1.MachineState) computev1alpha1.MachineState {
	switch s {
	case runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING:
		return computev1alpha1.MachineStateRunning
	case runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED:
		return computev1alpha1.MachineStateShutdown
	case runtimev1alpha1.MachineState_MACHINE_STATE_TERMINATING:
		return computev1alpha1.MachineStateTerminating
	case runtimev1alpha1.MachineState_MACHINE_STATE_ERROR:
		return computev1alpha1.MachineStateError
	default:
		return computev1alpha1.MachineStatePending
	}
}

func attachmentState(s runtimev1alpha1.AttachmentState) computev1alpha1.AttachmentState {
	switch s {
	case runtimev1alpha1.AttachmentState_ATTACHMENT_STATE_ATTACHED:
		return computev1alpha1.AttachmentAttached
	case runtimev1alpha1.AttachmentState_ATTACHMENT_STATE_DETACHING:
		return computev1alpha1.AttachmentDetached
	default:
		return computev1alpha1.AttachmentPending
	}
}

// observedStatus is the Machine status the runtime machine rm shows, for the spec generation
// the poollet acted on. d is nil when the devices were not read (a machine being deleted).
func observedStatus(m *computev1alpha1.Machine, rm *runtimev1alpha1.Machine, d *devices, generation int64) computev1alpha1.MachineStatus {
	out := computev1alpha1.MachineStatus{
		ObservedGeneration: generation,
		State:              State(rm.GetStatus().GetState()),
		MachineID:          rm.GetMetadata().GetId(),
	}
	volumes := map[string]*runtimev1alpha1.VolumeStatus{}
	for _, v := range rm.GetStatus().GetVolumes() {
		volumes[v.GetName()] = v
	}
	for _, entry := range m.Spec.Volumes {
		status := computev1alpha1.MachineVolumeStatus{Name: entry.Name, State: computev1alpha1.AttachmentPending}
		if v, ok := volumes[entry.Name]; ok {
			status.State, status.Handle = attachmentState(v.GetState()), v.GetHandle()
		}
		out.Volumes = append(out.Volumes, status)
	}
	nics := map[string]*runtimev1alpha1.NetworkInterfaceStatus{}
	for _, n := range rm.GetStatus().GetNetworkInterfaces() {
		nics[n.GetName()] = n
	}
	for _, entry := range m.Spec.NetworkInterfaces {
		status := computev1alpha1.MachineNetworkInterfaceStatus{Name: entry.Name, State: computev1alpha1.AttachmentPending}
		if n, ok := nics[entry.Name]; ok {
			status.State, status.IPs = attachmentState(n.GetState()), n.GetIps()
		}
		if d != nil {
			status.VirtualIP = d.virtualIPs[entry.Name]
		}
		out.NetworkInterfaces = append(out.NetworkInterfaces, status)
	}
	return out
}

// readyCondition is ConditionReady for the runtime machine rm and the devices d.
func readyCondition(rm *runtimev1alpha1.Machine, d *devices, generation int64) metav1.Condition {
	c := metav1.Condition{Type: ConditionReady, ObservedGeneration: generation}
	s := rm.GetStatus()
	switch {
	case s.GetState() == runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING && (d == nil || len(d.waiting) == 0):
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, ReasonRunning, "the machine runs"
	case s.GetState() == runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING:
		entries := make([]string, 0, len(d.waiting))
		for entry, reason := range d.waiting {
			entries = append(entries, entry+": "+reason)
		}
		sort.Strings(entries)
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, ReasonDevicesPending, strings.Join(entries, "; ")
	default:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, s.GetReason(), s.GetMessage()
		if c.Reason == "" {
			c.Reason = string(State(s.GetState()))
		}
		if c.Message == "" {
			c.Message = fmt.Sprintf("the machine is %s", strings.ToLower(string(State(s.GetState()))))
		}
	}
	return c
}

// writeStatus writes the status the runtime machine shows (state, ID, volumes, interfaces,
// observed generation) when it changed, and ConditionReady.
func (p *Poollet) writeStatus(ctx context.Context, m *computev1alpha1.Machine, rm *runtimev1alpha1.Machine, d *devices, generation int64) error {
	want := observedStatus(m, rm, d, generation)
	have := computev1alpha1.MachineStatus{
		ObservedGeneration: m.Status.ObservedGeneration, State: m.Status.State, MachineID: m.Status.MachineID,
		Volumes: m.Status.Volumes, NetworkInterfaces: m.Status.NetworkInterfaces,
	}
	if !equality.Semantic.DeepEqual(want, have) {
		base := m.DeepCopy()
		conditions := m.Status.Conditions
		m.Status = want
		m.Status.Conditions = conditions
		if err := p.Client.Status().Patch(ctx, m, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
	}
	condition := readyCondition(rm, d, generation)
	if machinecondition.Unchanged(m, condition) {
		return nil
	}
	return machinecondition.Apply(ctx, p.Client, m, condition, fieldOwner)
}

// waitingFor reports whether some entry of d waits, so that the Machine is looked at again: a
// Volume becoming available or an address being assigned is not a change of the Machine.
func waitingFor(d *devices) bool { return d != nil && len(d.waiting) > 0 }

// hasNetworkDisks says whether the machine has a Volume attached (a network disk).
func hasNetworkDisks(d *devices) bool {
	if d == nil {
		return false
	}
	for _, v := range d.volumes {
		if v.GetNetworkDisk() != nil {
			return true
		}
	}
	return false
}
