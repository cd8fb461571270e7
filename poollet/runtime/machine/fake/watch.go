package fake

import (
	"context"
	"sort"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
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
	resp := &runtimev1alpha1.ListMachinesResponse{Revision: s.revision}
	for id, m := range s.machines {
		if filter.GetId() != "" && filter.GetId() != id {
			continue
		}
		if !matches(m.m.Metadata.Labels, filter.GetLabelSelector()) {
			continue
		}
		resp.Machines = append(resp.Machines, clone(m))
	}
	sort.Slice(resp.Machines, func(i, j int) bool { return resp.Machines[i].Metadata.Id < resp.Machines[j].Metadata.Id })
	return resp, nil
}

func matches(labels, selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// ListEvents lists the retained events.
func (s *Server) ListEvents(_ context.Context, req *runtimev1alpha1.ListEventsRequest) (*runtimev1alpha1.ListEventsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &runtimev1alpha1.ListEventsResponse{Revision: s.revision}
	for _, ev := range s.events {
		if ev.Revision <= req.GetAfterRevision() || (req.GetMachineId() != "" && ev.MachineId != req.GetMachineId()) {
			continue
		}
		resp.Events = append(resp.Events, proto.Clone(ev).(*runtimev1alpha1.Event))
	}
	return resp, nil
}

// Watch streams the changes after the requested revision.
func (s *Server) Watch(req *runtimev1alpha1.WatchRequest, stream grpc.ServerStreamingServer[runtimev1alpha1.WatchResponse]) error {
	var interval time.Duration
	if req.ProgressInterval != nil {
		interval = req.GetProgressInterval().AsDuration()
		if interval < time.Second {
			return status.Errorf(codes.InvalidArgument, "progress_interval: at least 1s, not %s", interval)
		}
	}
	from := req.GetFromRevision()
	ctx := stream.Context()
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return status.Error(codes.Unavailable, "runtime stopped")
		}
		if from < s.compacted || from > s.revision {
			err := runtimev1alpha1.NewRevisionTooOldError(from, s.compacted, s.revision)
			s.mu.Unlock()
			return err
		}
		first := sort.Search(len(s.history), func(i int) bool { return s.history[i].GetRevision() > from })
		batch := s.history[first:len(s.history):len(s.history)]
		changed, current := s.changed, s.revision
		s.mu.Unlock()

		for _, change := range batch {
			// The stored changes are never modified, so they are sent without a copy.
			if err := stream.Send(change); err != nil {
				return err
			}
			from = change.GetRevision()
		}
		if len(batch) > 0 {
			continue
		}
		if err := s.waitForChange(ctx, stream, changed, current, interval); err != nil {
			return err
		}
	}
}

// waitForChange returns when changed is closed, or sends a WatchProgress at current after
// interval (when not 0) without a change.
func (s *Server) waitForChange(ctx context.Context, stream grpc.ServerStreamingServer[runtimev1alpha1.WatchResponse],
	changed <-chan struct{}, current uint64, interval time.Duration) error {
	var tick <-chan time.Time
	if interval > 0 {
		timer := time.NewTimer(interval)
		defer timer.Stop()
		tick = timer.C
	}
	select {
	case <-changed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-tick:
		return stream.Send(&runtimev1alpha1.WatchResponse{
			Revision: current,
			Change:   &runtimev1alpha1.WatchResponse_Progress{Progress: &runtimev1alpha1.WatchProgress{}},
		})
	}
}
