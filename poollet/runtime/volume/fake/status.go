package fake

import (
	"context"

	"google.golang.org/grpc"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/volume/validation"
)

// Status reports the backend's physical capacity and what each requested class provisioned.
func (s *Server) Status(_ context.Context, req *runtimev1alpha1.StatusRequest) (*runtimev1alpha1.StatusResponse, error) {
	return call(s, "Status", func() (*runtimev1alpha1.StatusResponse, error) {
		if err := validation.Status(req); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.openLocked(); err != nil {
			return nil, err
		}
		used := min(s.opts.UsedBytes, s.opts.TotalBytes)
		physical := func() *runtimev1alpha1.PhysicalCapacity {
			return &runtimev1alpha1.PhysicalCapacity{TotalBytes: s.opts.TotalBytes, UsedBytes: used, AvailableBytes: s.opts.TotalBytes - used}
		}
		resp := &runtimev1alpha1.StatusResponse{
			Physical:      physical(),
			VolumeCount:   uint32(len(s.volumes)),
			SnapshotCount: uint32(len(s.snapshots)),
			Revision:      s.history.Revision(),
		}
		for _, class := range req.GetClasses() {
			c := &runtimev1alpha1.ClassCapacity{Name: class, Physical: physical()}
			for _, v := range s.volumes {
				if v.v.Spec.Class == class {
					c.ProvisionedBytes += v.v.Status.SizeBytes
					c.VolumeCount++
				}
			}
			resp.Classes = append(resp.Classes, c)
		}
		return resp, nil
	})
}

// ListEvents lists the retained events.
func (s *Server) ListEvents(_ context.Context, req *runtimev1alpha1.ListEventsRequest) (*runtimev1alpha1.ListEventsResponse, error) {
	return call(s, "ListEvents", func() (*runtimev1alpha1.ListEventsResponse, error) {
		events, revision := s.history.Events(req.GetObjectId(), req.GetAfterRevision())
		return &runtimev1alpha1.ListEventsResponse{Events: events, Revision: revision}, nil
	})
}

// Watch streams the changes after the requested revision.
func (s *Server) Watch(req *runtimev1alpha1.WatchRequest, stream grpc.ServerStreamingServer[runtimev1alpha1.WatchResponse]) error {
	if err := s.injected("Watch", false); err != nil {
		return err
	}
	return s.history.Watch(req, stream)
}
