package libvirt

import (
	"context"
	"sort"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// Listing and watching: the history (poollet/runtime/history) holds the changes; a list
// is taken under the same lock the changes are recorded under, so its revision is exact.

// ListMachines lists the machines matching the filter, ordered by ID.
func (p *Provider) ListMachines(_ context.Context, req *runtimev1alpha1.ListMachinesRequest) (*runtimev1alpha1.ListMachinesResponse, error) {
	if err := p.usable(); err != nil {
		return nil, err
	}
	filter := req.GetFilter()
	p.mu.Lock()
	defer p.mu.Unlock()
	resp := &runtimev1alpha1.ListMachinesResponse{Revision: p.history.Revision()}
	for id, m := range p.machines {
		if m.view == nil || (filter.GetId() != "" && filter.GetId() != id) || !matches(m.view.GetMetadata().GetLabels(), filter.GetLabelSelector()) {
			continue
		}
		resp.Machines = append(resp.Machines, proto.Clone(m.view).(*runtimev1alpha1.Machine))
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
func (p *Provider) ListEvents(_ context.Context, req *runtimev1alpha1.ListEventsRequest) (*runtimev1alpha1.ListEventsResponse, error) {
	if err := p.usable(); err != nil {
		return nil, err
	}
	events, revision := p.history.Events(req.GetMachineId(), req.GetAfterRevision())
	return &runtimev1alpha1.ListEventsResponse{Events: events, Revision: revision}, nil
}

// Watch streams the changes after the requested revision.
func (p *Provider) Watch(req *runtimev1alpha1.WatchRequest, stream grpc.ServerStreamingServer[runtimev1alpha1.WatchResponse]) error {
	if err := p.usable(); err != nil {
		return err
	}
	return p.history.Watch(req, stream)
}
