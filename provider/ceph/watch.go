package ceph

import (
	"context"

	api "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// Watch streams the changes after req.from_revision (poollet/runtime/history).
func (p *Provider) Watch(req *api.WatchRequest, stream api.VolumeRuntime_WatchServer) error {
	return p.history.Watch(req, stream)
}

// ListEvents returns the retained events.
func (p *Provider) ListEvents(_ context.Context, req *api.ListEventsRequest) (*api.ListEventsResponse, error) {
	events, rev := p.history.Events(req.GetObjectId(), req.GetAfterRevision())
	return &api.ListEventsResponse{Events: events, Revision: rev}, nil
}
