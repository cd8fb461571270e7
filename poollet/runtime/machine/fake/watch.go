package fake

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/objectmeta"
)

// Listing and watching machines and events, resumable by revision.

// ListMachines lists the machines matching the filter, ordered by ID.
func (s *Server) ListMachines(_ context.Context, req *runtimev1alpha1.ListMachinesRequest) (*runtimev1alpha1.ListMachinesResponse, error) {
	filter := req.GetFilter()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, status.Error(codes.Unavailable, "runtime stopped")
	}
	resp := &runtimev1alpha1.ListMachinesResponse{Revision: s.history.Revision()}
	for _, m := range objectmeta.Select(s.machines, filter, func(m *machine) objectmeta.Metadata { return m.m.Metadata }) {
		resp.Machines = append(resp.Machines, clone(m))
	}
	return resp, nil
}

// ListEvents lists the retained events.
func (s *Server) ListEvents(_ context.Context, req *runtimev1alpha1.ListEventsRequest) (*runtimev1alpha1.ListEventsResponse, error) {
	events, revision := s.history.Events(req.GetMachineId(), req.GetAfterRevision())
	return &runtimev1alpha1.ListEventsResponse{Events: events, Revision: revision}, nil
}

// Watch streams the changes after the requested revision.
func (s *Server) Watch(req *runtimev1alpha1.WatchRequest, stream grpc.ServerStreamingServer[runtimev1alpha1.WatchResponse]) error {
	return s.history.Watch(req, stream)
}
