package machine

import (
	"context"
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// machineChanged records an added or changed lower Machine as a runtime change, when its
// runtime view changed.
func (b *Broker) machineChanged(obj any) {
	m, ok := obj.(*computev1alpha1.Machine)
	if !ok {
		return
	}
	rm := runtimeMachine(m)
	if rm == nil {
		return
	}
	id := rm.GetMetadata().GetId()
	b.mu.Lock()
	defer b.mu.Unlock()
	old, existed := b.known[id]
	if existed {
		rm.Metadata.Revision = old.GetMetadata().GetRevision()
		if proto.Equal(old, rm) {
			return
		}
	}
	typ := runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED
	if !existed {
		typ = runtimev1alpha1.ChangeType_CHANGE_TYPE_ADDED
	}
	b.history.Machine(typ, rm)
	b.known[id] = rm
}

// machineDeleted records a lower Machine gone as a runtime deletion and deletes what it used.
func (b *Broker) machineDeleted(obj any) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	m, ok := obj.(*computev1alpha1.Machine)
	if !ok {
		return
	}
	id := m.Annotations[AnnotationID]
	if id == "" {
		return
	}
	b.mu.Lock()
	if rm, ok := b.known[id]; ok {
		delete(b.known, id)
		b.history.Machine(runtimev1alpha1.ChangeType_CHANGE_TYPE_DELETED, rm)
	}
	b.mu.Unlock()
	// Its interfaces and Secret go now; what this misses, the sweep collects.
	go b.deleteParts(context.Background(), id)
}

// ListMachines lists the runtime machines from the informer's view, with the revision the list
// is consistent with.
func (b *Broker) ListMachines(_ context.Context, req *runtimev1alpha1.ListMachinesRequest) (*runtimev1alpha1.ListMachinesResponse, error) {
	filter := req.GetFilter()
	b.mu.Lock()
	defer b.mu.Unlock()
	resp := &runtimev1alpha1.ListMachinesResponse{Revision: b.history.Revision()}
	for _, id := range slices.Sorted(maps.Keys(b.known)) {
		rm := b.known[id]
		if filter.GetId() != "" && filter.GetId() != id {
			continue
		}
		if !hasLabels(rm.GetMetadata().GetLabels(), filter.GetLabelSelector()) {
			continue
		}
		resp.Machines = append(resp.Machines, proto.Clone(rm).(*runtimev1alpha1.Machine))
	}
	return resp, nil
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// Watch streams the changes the informers saw after from_revision.
func (b *Broker) Watch(req *runtimev1alpha1.WatchRequest, stream runtimev1alpha1.MachineRuntime_WatchServer) error {
	return b.history.Watch(req, stream)
}

// ListEvents returns the events the broker retains: the lower Events about its Machines that
// happened since it started (events.go); it records none of its own.
func (b *Broker) ListEvents(_ context.Context, req *runtimev1alpha1.ListEventsRequest) (*runtimev1alpha1.ListEventsResponse, error) {
	events, revision := b.history.Events(req.GetMachineId(), req.GetAfterRevision())
	return &runtimev1alpha1.ListEventsResponse{Events: events, Revision: revision}, nil
}

// cached returns the runtime view of the machine with id, or a fresh read of the lower Machine
// when the informer has not seen it yet (a GET, never a LIST). nil when it does not exist.
func (b *Broker) cached(ctx context.Context, id string) (*computev1alpha1.Machine, error) {
	m, err := b.machines.Machines(b.opts.Namespace).Get(MachineName(id))
	if err == nil {
		return m, nil
	}
	m, err = b.opts.Client.ComputeV1alpha1().Machines(b.opts.Namespace).Get(ctx, MachineName(id), metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return m, nil
}
