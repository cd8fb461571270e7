package fake

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// Power: start, graceful and forced stop, reboot.

// startLocked boots the guest: RUNNING, one more boot.
func (s *Server) startLocked(m *machine, reason, message string) {
	m.cancelPending()
	markAttached(m)
	st := m.m.Status
	st.State = runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING
	st.Reason, st.Message = "", ""
	s.bootLocked(m)
	s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
	s.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, reason, "%s machine %s", message, m.m.Metadata.Id)
}

func (s *Server) bootLocked(m *machine) {
	st := m.m.Status
	st.BootCount++
	st.BootTime = s.now()
	m.console.write(fmt.Appendf(nil, "[fake] machine %s booting (boot %d)\r\n", m.m.Metadata.Id, st.BootCount))
}

// stopLocked powers the guest off: STOPPED with reason.
func (s *Server) stopLocked(m *machine, reason, message string) {
	m.cancelPending()
	st := m.m.Status
	if st.State != runtimev1alpha1.MachineState_MACHINE_STATE_TERMINATING {
		st.State = runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED
		st.Reason, st.Message = reason, message
	}
	m.console.write(fmt.Appendf(nil, "[fake] machine %s powered off\r\n", m.m.Metadata.Id))
	s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
}

// shutdownLocked powers a running guest off: at once when the guest cooperates, forced after the
// timeout when it ignores the request, forced at once for a zero timeout.
func (s *Server) shutdownLocked(m *machine, timeout time.Duration) {
	id := m.m.Metadata.Id
	switch {
	case timeout == 0:
		s.stopLocked(m, "ForcedOff", "forced off at the caller's request")
		s.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "ForcedOff", "forced machine %s off at once", id)
	case !m.ignoreShutdown:
		s.stopLocked(m, "PoweredOff", "shut down")
		s.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "Stopped", "machine %s shut down", id)
	default:
		s.scheduleLocked(m, "off", timeout, func() {
			s.stopLocked(m, "ForcedOff", fmt.Sprintf("did not shut down within %s", timeout))
			s.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_WARNING, "ShutdownTimeout",
				"machine %s did not shut down within %s: forced off", id, timeout)
		})
	}
}

// scheduleLocked runs fn under the lock after d, unless another operation replaces it, the
// machine goes, or the server closes.
func (s *Server) scheduleLocked(m *machine, op string, d time.Duration, fn func()) {
	m.cancelPending()
	var timer *time.Timer
	timer = time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed || m.gone || m.pending != timer {
			return
		}
		m.pending, m.pendingOp = nil, ""
		fn()
	})
	m.pending, m.pendingOp = timer, op
}

func (m *machine) cancelPending() {
	if m.pending != nil {
		m.pending.Stop()
		m.pending, m.pendingOp = nil, ""
	}
}

// shutdownTimeout is the timeout a request asks for: the default when unset, 0 for "at once".
func (s *Server) shutdownTimeout(d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return s.opts.ShutdownTimeout, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, status.Errorf(codes.InvalidArgument, "shutdown_timeout: %v", err)
	}
	if t := d.AsDuration(); t >= 0 {
		return t, nil
	}
	return 0, status.Errorf(codes.InvalidArgument, "shutdown_timeout: negative")
}

// SetMachinePower sets the desired power state and acts on it.
func (s *Server) SetMachinePower(_ context.Context, req *runtimev1alpha1.SetMachinePowerRequest) (*runtimev1alpha1.SetMachinePowerResponse, error) {
	power := req.GetPower()
	if _, ok := runtimev1alpha1.Power_name[int32(power)]; !ok {
		return nil, status.Errorf(codes.InvalidArgument, "power: unknown value %d", power)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.lookupMutableLocked(req.GetMachineId())
	if err != nil {
		return nil, err
	}
	id := m.m.Metadata.Id
	specChanged := m.m.Spec.Power != power
	if specChanged {
		m.m.Spec.Power = power
		specChangedLocked(m)
	}
	state := m.m.Status.State
	switch power {
	case runtimev1alpha1.Power_POWER_ON:
		switch {
		case state == runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED || state == runtimev1alpha1.MachineState_MACHINE_STATE_ERROR:
			if specChanged {
				s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
			}
			s.startLocked(m, "Started", "started")
		case state == runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING && m.pendingOp == "off":
			// A shutdown the guest has not finished yet is called off.
			m.cancelPending()
			s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
			s.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "ShutdownCancelled", "machine %s stays on", id)
		case specChanged:
			// Pending: the start after the pending phase sees POWER_ON.
			s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
		}
	case runtimev1alpha1.Power_POWER_OFF:
		timeout, err := s.shutdownTimeout(req.GetShutdownTimeout())
		if err != nil {
			return nil, err
		}
		switch {
		case state == runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING && m.pendingOp == "off":
			// A shutdown is under way already; a repeated request does not restart its timeout.
			if specChanged {
				s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
			}
		case state == runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING:
			if specChanged {
				s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
			}
			s.shutdownLocked(m, timeout)
		case state == runtimev1alpha1.MachineState_MACHINE_STATE_ERROR:
			m.m.Status.State = runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED
			m.m.Status.Reason, m.m.Status.Message = "PoweredOff", "powered off after an error"
			s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
		case specChanged:
			s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
		}
	}
	return &runtimev1alpha1.SetMachinePowerResponse{Machine: clone(m)}, nil
}

// RebootMachine reboots a running machine, once per reboot_id.
func (s *Server) RebootMachine(_ context.Context, req *runtimev1alpha1.RebootMachineRequest) (*runtimev1alpha1.RebootMachineResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.lookupMutableLocked(req.GetMachineId())
	if err != nil {
		return nil, err
	}
	st := m.m.Status
	if id := req.GetRebootId(); id != "" && id == st.LastRebootId {
		return &runtimev1alpha1.RebootMachineResponse{Machine: clone(m)}, nil
	}
	if st.State != runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING || m.pendingOp == "off" {
		return nil, status.Errorf(codes.FailedPrecondition, "machine %q is not running (%s)", m.m.Metadata.Id, st.State)
	}
	if m.pendingOp == "reboot" {
		// A reboot is waiting for the guest already: this one is folded into it.
		st.LastRebootId = req.GetRebootId()
		s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
		return &runtimev1alpha1.RebootMachineResponse{Machine: clone(m)}, nil
	}
	timeout, err := s.shutdownTimeout(req.GetShutdownTimeout())
	if err != nil {
		return nil, err
	}
	st.LastRebootId = req.GetRebootId()
	id := m.m.Metadata.Id
	switch {
	case timeout == 0:
		s.bootLocked(m)
		s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
		s.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "Reset", "reset machine %s at once", id)
	case !m.ignoreShutdown:
		s.bootLocked(m)
		s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
		s.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "Rebooted", "rebooted machine %s", id)
	default:
		s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
		s.scheduleLocked(m, "reboot", timeout, func() {
			s.bootLocked(m)
			s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
			s.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_WARNING, "RebootTimeout",
				"machine %s did not reboot within %s: reset", id, timeout)
		})
	}
	return &runtimev1alpha1.RebootMachineResponse{Machine: clone(m)}, nil
}
