package fake

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// Test hooks: what a test makes the backend do.

// failure is an injected error for one call of a method.
type failure struct {
	err   error
	after bool
}

// FailCalls makes the next n calls of a method (by its gRPC name, "CreateVolume") fail with err.
// When after is true each call takes effect first and only its response is lost, as when the
// provider or the connection breaks right after the change.
func (s *Server) FailCalls(method string, n int, after bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures[method] = append(s.failures[method], failure{err: err, after: after})
	}
}

// injected returns the next injected error of method for this phase of the call (before or
// after it takes effect), consuming it.
func (s *Server) injected(method string, after bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	queue := s.failures[method]
	if len(queue) == 0 || queue[0].after != after {
		return nil
	}
	s.failures[method] = queue[1:]
	return queue[0].err
}

// call runs fn as the method, with the failures injected for it.
func call[T any](s *Server, method string, fn func() (T, error)) (T, error) {
	var zero T
	if err := s.injected(method, false); err != nil {
		return zero, err
	}
	resp, err := fn()
	if err != nil {
		return zero, err
	}
	if err := s.injected(method, true); err != nil {
		return zero, err
	}
	return resp, nil
}

// FailVolume puts a volume into VOLUME_STATE_ERROR with a reason and message, as a provider does
// when a create fails for good.
func (s *Server) FailVolume(id, reason, message string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.volumes[id]
	if !ok {
		return status.Errorf(codes.NotFound, "volume %q not found", id)
	}
	if v.pending != nil {
		v.pending.Stop()
		v.pending = nil
	}
	st := v.v.Status
	st.State, st.Reason, st.Message, st.Access = runtimev1alpha1.VolumeState_VOLUME_STATE_ERROR, reason, message, nil
	s.history.Volume(runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED, v.v)
	s.volumeEventLocked(id, runtimev1alpha1.EventType_EVENT_TYPE_WARNING, reason, "%s", message)
	return nil
}

// AddImage makes an image available to create volumes from.
func (s *Server) AddImage(ref string, img Image) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.images[ref] = img
}

// SetUsedBytes changes the physical usage Status reports.
func (s *Server) SetUsedBytes(used uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.UsedBytes = used
}

// Revision returns the runtime's current revision.
func (s *Server) Revision() uint64 {
	return s.history.Revision()
}

// VolumeCount returns how many volumes the runtime holds.
func (s *Server) VolumeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.volumes)
}

// Passphrase returns the passphrase of an encrypted volume, as the provider holds it.
func (s *Server) Passphrase(id string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.volumes[id]
	if !ok || v.passphrase == nil {
		return nil, false
	}
	return v.passphrase, true
}
