package machine

import (
	"encoding/json"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// conditionReady is the lower machinepoollet's condition whose reason and message explain a
// machine that does not run.
const conditionReady = "Ready"

// runtimeMachine converts a lower Machine the broker made into the runtime machine it stands
// for. The spec is the one the caller created (kept in AnnotationSpec) with the lower power; the
// status is the lower Machine's. nil when m carries no runtime ID.
func runtimeMachine(m *computev1alpha1.Machine) *runtimev1alpha1.Machine {
	id := m.Annotations[AnnotationID]
	if id == "" {
		return nil
	}
	out := &runtimev1alpha1.Machine{
		Metadata: &runtimev1alpha1.ObjectMetadata{
			Id:         id,
			Generation: m.Generation,
			CreateTime: timestamppb.New(m.CreationTimestamp.Time),
		},
		Spec:   &runtimev1alpha1.MachineSpec{},
		Status: &runtimev1alpha1.MachineStatus{ObservedGeneration: m.Status.ObservedGeneration},
	}
	if raw := m.Annotations[AnnotationLabels]; raw != "" {
		_ = json.Unmarshal([]byte(raw), &out.Metadata.Labels)
	}
	if m.DeletionTimestamp != nil {
		out.Metadata.DeleteTime = timestamppb.New(m.DeletionTimestamp.Time)
	}
	if raw := m.Annotations[AnnotationSpec]; raw != "" {
		_ = protojson.Unmarshal([]byte(raw), out.Spec)
	}
	out.Spec.Power = runtimev1alpha1.Power_POWER_ON
	if m.Spec.Power == computev1alpha1.PowerOff {
		out.Spec.Power = runtimev1alpha1.Power_POWER_OFF
	}
	s := out.Status
	s.State = machineState(m)
	s.LastRebootId = m.Annotations[AnnotationLastRebootID]
	if c := meta.FindStatusCondition(m.Status.Conditions, conditionReady); c != nil && c.Status != metav1.ConditionTrue &&
		s.State != runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING {
		s.Reason, s.Message = c.Reason, c.Message
	}
	for _, v := range out.Spec.GetVolumes() {
		vs := &runtimev1alpha1.VolumeStatus{Name: v.GetName(), Device: v.GetDevice()}
		for _, lower := range m.Status.Volumes {
			if lower.Name == v.GetName() {
				vs.State, vs.Handle = attachmentState(lower.State), lower.Handle
			}
		}
		s.Volumes = append(s.Volumes, vs)
	}
	for _, n := range out.Spec.GetNetworkInterfaces() {
		ns := &runtimev1alpha1.NetworkInterfaceStatus{Name: n.GetName(), MacAddress: n.GetMacAddress(), TapName: n.GetTapName()}
		for _, lower := range m.Status.NetworkInterfaces {
			if lower.Name == n.GetName() {
				ns.State, ns.Ips = attachmentState(lower.State), append([]string(nil), lower.IPs...)
			}
		}
		s.NetworkInterfaces = append(s.NetworkInterfaces, ns)
	}
	return out
}

// machineState maps the lower Machine's state onto the runtime's; a Machine being deleted is
// TERMINATING, and one without a state yet (not scheduled) PENDING.
func machineState(m *computev1alpha1.Machine) runtimev1alpha1.MachineState {
	if m.DeletionTimestamp != nil {
		return runtimev1alpha1.MachineState_MACHINE_STATE_TERMINATING
	}
	switch m.Status.State {
	case computev1alpha1.MachineStateRunning:
		return runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING
	case computev1alpha1.MachineStateShutdown:
		return runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED
	case computev1alpha1.MachineStateTerminating:
		return runtimev1alpha1.MachineState_MACHINE_STATE_TERMINATING
	case computev1alpha1.MachineStateError:
		return runtimev1alpha1.MachineState_MACHINE_STATE_ERROR
	default:
		return runtimev1alpha1.MachineState_MACHINE_STATE_PENDING
	}
}

func attachmentState(s computev1alpha1.AttachmentState) runtimev1alpha1.AttachmentState {
	if s == computev1alpha1.AttachmentAttached {
		return runtimev1alpha1.AttachmentState_ATTACHMENT_STATE_ATTACHED
	}
	return runtimev1alpha1.AttachmentState_ATTACHMENT_STATE_PENDING
}

// storedSpec is the spec kept in AnnotationSpec: the request's spec without user data and
// without secret key data (write-only, never stored below in the clear).
func storedSpec(spec *runtimev1alpha1.MachineSpec) (string, error) {
	s := proto.Clone(spec).(*runtimev1alpha1.MachineSpec)
	s.UserData = nil
	for _, v := range s.GetVolumes() {
		if rbd := v.GetNetworkDisk().GetRbd(); rbd != nil {
			if rbd.Key != nil {
				rbd.Key.Data = nil
			}
			if p := rbd.GetEncryption().GetPassphrase(); p != nil {
				p.Data = nil
			}
		}
	}
	raw, err := protojson.Marshal(s)
	return string(raw), err
}

// volumeAccessKeys indexes a lower Volume by the driver and handle of its status.access.
func volumeAccessKeys(obj any) ([]string, error) {
	v, ok := obj.(*storagev1alpha1.Volume)
	if !ok || v.Status.Access == nil {
		return nil, nil
	}
	return []string{accessKey(v.Status.Access.Driver, v.Status.Access.Handle)}, nil
}

func accessKey(driver, handle string) string { return driver + "/" + handle }
