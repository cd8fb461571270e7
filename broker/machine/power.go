package machine

import (
	"context"
	"encoding/json"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/validation"
)

// DeleteMachine deletes the lower Machine; its interfaces and Secret follow once it is gone
// (machineDeleted, or the sweep). The lower poollet shuts the machine down with its own timeout:
// the request's shutdown_timeout does not pass through.
func (b *Broker) DeleteMachine(ctx context.Context, req *runtimev1alpha1.DeleteMachineRequest) (*runtimev1alpha1.DeleteMachineResponse, error) {
	if err := validation.ID("machine_id", req.GetMachineId()); err != nil {
		return nil, err
	}
	id := req.GetMachineId()
	machines := b.opts.Client.ComputeV1alpha1().Machines(b.opts.Namespace)
	err := machines.Delete(ctx, MachineName(id), metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return &runtimev1alpha1.DeleteMachineResponse{}, nil
	}
	if err != nil {
		return nil, apiStatus(err)
	}
	m, err := machines.Get(ctx, MachineName(id), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return &runtimev1alpha1.DeleteMachineResponse{}, nil
	}
	if err != nil {
		return nil, apiStatus(err)
	}
	rm := runtimeMachine(m)
	if rm != nil {
		rm.Status.State = runtimev1alpha1.MachineState_MACHINE_STATE_TERMINATING
	}
	return &runtimev1alpha1.DeleteMachineResponse{Machine: rm}, nil
}

// SetMachinePower sets the lower Machine's spec.power. The lower poollet's shutdown timeout
// applies: the request's does not pass through.
func (b *Broker) SetMachinePower(ctx context.Context, req *runtimev1alpha1.SetMachinePowerRequest) (*runtimev1alpha1.SetMachinePowerResponse, error) {
	m, err := b.machineFor(ctx, req.GetMachineId())
	if err != nil {
		return nil, err
	}
	power := computev1alpha1.PowerOn
	if req.GetPower() == runtimev1alpha1.Power_POWER_OFF {
		power = computev1alpha1.PowerOff
	}
	if m.Spec.Power != power {
		patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"power": power}})
		if m, err = b.patch(ctx, m, patch); err != nil {
			return nil, err
		}
	}
	return &runtimev1alpha1.SetMachinePowerResponse{Machine: runtimeMachine(m)}, nil
}

// RebootMachine sets the lower reboot annotation: the lower poollet reboots the machine once
// when it booted before that time. reboot_id goes into AnnotationLastRebootID, so a repeated
// request does nothing. A reboot_id that is an RFC 3339 time is the requested time (the upper
// poollet's annotation value); any other is now.
func (b *Broker) RebootMachine(ctx context.Context, req *runtimev1alpha1.RebootMachineRequest) (*runtimev1alpha1.RebootMachineResponse, error) {
	m, err := b.machineFor(ctx, req.GetMachineId())
	if err != nil {
		return nil, err
	}
	if req.GetRebootId() != "" && m.Annotations[AnnotationLastRebootID] == req.GetRebootId() {
		return &runtimev1alpha1.RebootMachineResponse{Machine: runtimeMachine(m)}, nil
	}
	if machineState(m) != runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING {
		return nil, status.Errorf(codes.FailedPrecondition, "machine %s is not running", req.GetMachineId())
	}
	at := time.Now().UTC().Format(time.RFC3339)
	if t, err := time.Parse(time.RFC3339, req.GetRebootId()); err == nil {
		at = t.UTC().Format(time.RFC3339)
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		AnnotationRebootRequest: at, AnnotationLastRebootID: req.GetRebootId(),
	}}})
	if m, err = b.patch(ctx, m, patch); err != nil {
		return nil, err
	}
	return &runtimev1alpha1.RebootMachineResponse{Machine: runtimeMachine(m)}, nil
}

// machineFor returns the lower Machine of a runtime machine that may change: NOT_FOUND when
// there is none, FAILED_PRECONDITION when it is being deleted.
func (b *Broker) machineFor(ctx context.Context, id string) (*computev1alpha1.Machine, error) {
	if err := validation.ID("machine_id", id); err != nil {
		return nil, err
	}
	m, err := b.cached(ctx, id)
	if apierrors.IsNotFound(err) || (err == nil && m.Annotations[AnnotationID] != id) {
		return nil, status.Errorf(codes.NotFound, "machine %s not found", id)
	}
	if err != nil {
		return nil, apiStatus(err)
	}
	if m.DeletionTimestamp != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "machine %s is terminating", id)
	}
	return m, nil
}

// patch applies a merge patch to the lower Machine, guarded by its UID.
func (b *Broker) patch(ctx context.Context, m *computev1alpha1.Machine, patch []byte) (*computev1alpha1.Machine, error) {
	out, err := b.opts.Client.ComputeV1alpha1().Machines(b.opts.Namespace).Patch(ctx, m.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return nil, apiStatus(err)
	}
	if out.UID != m.UID {
		return nil, status.Errorf(codes.NotFound, "machine %s was replaced", m.Annotations[AnnotationID])
	}
	return out, nil
}

// deleteParts deletes the interfaces and the user-data Secret of runtime ID id.
func (b *Broker) deleteParts(ctx context.Context, id string) {
	ns := b.opts.Namespace
	nics, _ := b.nics.NetworkInterfaces(ns).List(labels.SelectorFromSet(labels.Set{LabelID: Ref(id)}))
	for _, nic := range nics {
		if err := b.opts.Client.NetworkingV1alpha1().NetworkInterfaces(ns).Delete(ctx, nic.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			log.Error(err, "deleting the interface of a deleted machine", "networkInterface", nic.Name)
		}
	}
	if b.opts.Secrets != nil {
		if err := b.opts.Secrets.CoreV1().Secrets(ns).Delete(ctx, SecretName(id), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			log.Error(err, "deleting the user data of a deleted machine", "secret", SecretName(id))
		}
	}
}
