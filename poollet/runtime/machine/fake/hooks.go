package fake

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// Test hooks: what a test makes the guest or the host do.

// IgnoreShutdown makes the guest of a machine ignore (or again obey) shutdown and reboot requests,
// so that they are forced after their timeout.
func (s *Server) IgnoreShutdown(id string, ignore bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.lookupLocked(id)
	if err != nil {
		return err
	}
	m.ignoreShutdown = ignore
	return nil
}

// GuestShutdown makes a running guest power itself off: STOPPED with reason GuestShutdown, while
// spec.power stays POWER_ON.
func (s *Server) GuestShutdown(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.lookupMutableLocked(id)
	if err != nil {
		return err
	}
	if m.m.Status.State != runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING {
		return status.Errorf(codes.FailedPrecondition, "machine %q is not running", id)
	}
	s.stopLocked(m, "GuestShutdown", "the guest powered itself off")
	s.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "GuestShutdown", "the guest of machine %s powered itself off", id)
	return nil
}

// Fail puts a machine into MACHINE_STATE_ERROR with a reason and message, as a provider does when
// it cannot reach the desired state. SetMachinePower recovers it.
func (s *Server) Fail(id, reason, message string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.lookupMutableLocked(id)
	if err != nil {
		return err
	}
	m.cancelPending()
	st := m.m.Status
	st.State = runtimev1alpha1.MachineState_MACHINE_STATE_ERROR
	st.Reason, st.Message = reason, message
	s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
	s.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_WARNING, reason, "%s", message)
	return nil
}

// WriteConsole makes the guest of a machine print data on its console.
func (s *Server) WriteConsole(id string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.lookupLocked(id)
	if err != nil {
		return err
	}
	m.console.write(data)
	return nil
}

// Revision returns the runtime's current revision.
func (s *Server) Revision() uint64 {
	return s.history.Revision()
}

// Secret returns the data of a secret a machine's disk uses, as the provider holds it (for tests
// of credential rotation).
func (s *Server) Secret(machineID, secretID string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.machines[machineID]
	if !ok {
		return nil, false
	}
	data, ok := m.keys[secretID]
	return data, ok
}
