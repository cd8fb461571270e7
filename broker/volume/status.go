package volume

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/volume/validation"
)

// Status reports, per requested class the broker exposes, the sum over the served lower
// VolumePools (those matching Options.VolumePoolSelector) of their allocatable bytes as the
// class's total, of their allocated bytes as used, and the sizes of the broker's volumes of the
// class as provisioned. A class the broker does not expose reports zeros. The backend-wide
// physical figures are, per pool, its largest exposed class, summed.
func (b *Broker) Status(_ context.Context, req *runtimev1alpha1.StatusRequest) (*runtimev1alpha1.StatusResponse, error) {
	if err := validation.Status(req); err != nil {
		return nil, err
	}
	pools, err := b.pools.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	exposed := b.exposedClasses()
	resp := &runtimev1alpha1.StatusResponse{Physical: &runtimev1alpha1.PhysicalCapacity{}}
	for _, pool := range pools {
		var largest, largestUsed uint64
		for _, class := range exposed {
			if total := bytesOf(pool.Status.Allocatable, class); total > largest {
				largest, largestUsed = total, bytesOf(pool.Status.Allocated, class)
			}
		}
		resp.Physical.TotalBytes += largest
		resp.Physical.UsedBytes += min(largestUsed, largest)
	}
	resp.Physical.AvailableBytes = resp.Physical.TotalBytes - resp.Physical.UsedBytes

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, class := range req.GetClasses() {
		c := &runtimev1alpha1.ClassCapacity{Name: class, Physical: &runtimev1alpha1.PhysicalCapacity{}}
		if b.exposes(class) {
			for _, pool := range pools {
				c.Physical.TotalBytes += bytesOf(pool.Status.Allocatable, class)
				c.Physical.UsedBytes += bytesOf(pool.Status.Allocated, class)
			}
			c.Physical.UsedBytes = min(c.Physical.UsedBytes, c.Physical.TotalBytes)
			c.Physical.AvailableBytes = c.Physical.TotalBytes - c.Physical.UsedBytes
		}
		for _, e := range b.mirror.volumes {
			if e.runtime.GetSpec().GetClass() == class {
				c.ProvisionedBytes += e.runtime.GetStatus().GetSizeBytes()
				c.VolumeCount++
			}
		}
		resp.Classes = append(resp.Classes, c)
	}
	resp.VolumeCount = uint32(len(b.mirror.volumes))
	resp.SnapshotCount = uint32(len(b.mirror.snapshots))
	resp.Revision = b.history.Revision()
	return resp, nil
}

// bytesOf is a resource list's entry for class, in bytes (0 when absent).
func bytesOf(list corev1.ResourceList, class string) uint64 {
	q, ok := list[corev1.ResourceName(class)]
	if !ok || q.Sign() <= 0 {
		return 0
	}
	return uint64(q.Value())
}

// ListEvents returns the events the broker retains: the lower Events about its Volumes and
// VolumeSnapshots that happened since it started (events.go); it records none of its own.
func (b *Broker) ListEvents(_ context.Context, req *runtimev1alpha1.ListEventsRequest) (*runtimev1alpha1.ListEventsResponse, error) {
	if id := req.GetObjectId(); id != "" {
		if err := validation.ID("object_id", id); err != nil {
			return nil, err
		}
	}
	events, revision := b.history.Events(req.GetObjectId(), req.GetAfterRevision())
	return &runtimev1alpha1.ListEventsResponse{Events: events, Revision: revision}, nil
}

// Watch streams the broker's changes: the informers' events for its lower objects, as runtime
// volumes and snapshots, and the lower Events about them, as runtime events.
func (b *Broker) Watch(req *runtimev1alpha1.WatchRequest, stream runtimev1alpha1.VolumeRuntime_WatchServer) error {
	return b.history.Watch(req, stream)
}
