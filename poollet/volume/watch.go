package volume

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtimewatch"
)

// watchRuntime collects orphans, then lists the runtime's volumes and snapshots and follows its
// Watch (poollet/runtimewatch), requeueing the API object of every change and recording
// runtime events on it.
func (p *Poollet) watchRuntime(ctx context.Context) error {
	return runtimewatch.Loop{
		Collect: p.collectOrphans,
		List:    p.resync,
		Follow:  p.follow,
		RevisionTooOld: func(err error) bool {
			_, ok := runtimev1alpha1.AsRevisionTooOld(err)
			return ok
		},
	}.Run(ctx)
}

// resync lists the runtime's volumes and snapshots, requeues their API objects and every Volume
// and VolumeSnapshot in the cache (one whose runtime object vanished unseen is then recreated),
// and returns the revision both lists are consistent with (the older one: Watch replays what
// came after it).
func (p *Poollet) resync(ctx context.Context) (uint64, error) {
	volumes, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.ListVolumesResponse, error) {
		return p.Runtime.ListVolumes(ctx, &runtimev1alpha1.ListVolumesRequest{})
	})
	if err != nil {
		return 0, err
	}
	snapshots, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.ListSnapshotsResponse, error) {
		return p.Runtime.ListSnapshots(ctx, &runtimev1alpha1.ListSnapshotsRequest{})
	})
	if err != nil {
		return 0, err
	}
	clear(p.names)
	for _, rv := range volumes.GetVolumes() {
		p.enqueue(ctx, p.remember(rv.GetMetadata(), false))
	}
	for _, rs := range snapshots.GetSnapshots() {
		p.enqueue(ctx, p.remember(rs.GetMetadata(), true))
	}
	if list := (&storagev1alpha1.VolumeList{}); p.Client.List(ctx, list) == nil {
		for _, v := range list.Items {
			p.enqueue(ctx, object{key: types.NamespacedName{Namespace: v.Namespace, Name: v.Name}})
		}
	}
	if list := (&storagev1alpha1.VolumeSnapshotList{}); p.Client.List(ctx, list) == nil {
		for _, s := range list.Items {
			p.enqueue(ctx, object{key: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}, snapshot: true})
		}
	}
	p.enqueuePool()
	return min(volumes.GetRevision(), snapshots.GetRevision()), nil
}

// follow consumes one Watch stream from *revision, advancing it, until the stream fails.
func (p *Poollet) follow(ctx context.Context, revision *uint64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := p.Runtime.Watch(ctx, &runtimev1alpha1.WatchRequest{FromRevision: *revision})
	if err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		switch change := resp.GetChange().(type) {
		case *runtimev1alpha1.WatchResponse_Volume:
			p.enqueue(ctx, p.remember(change.Volume.GetVolume().GetMetadata(), false))
			if t := change.Volume.GetType(); t == runtimev1alpha1.ChangeType_CHANGE_TYPE_ADDED || t == runtimev1alpha1.ChangeType_CHANGE_TYPE_DELETED {
				p.enqueuePool()
			}
		case *runtimev1alpha1.WatchResponse_Snapshot:
			p.enqueue(ctx, p.remember(change.Snapshot.GetSnapshot().GetMetadata(), true))
		case *runtimev1alpha1.WatchResponse_Event:
			p.recordEvent(ctx, change.Event)
		}
		if resp.GetRevision() > *revision {
			*revision = resp.GetRevision()
		}
	}
}

// remember notes which API object a runtime volume or snapshot belongs to (its labels), for
// recordEvent, and returns it. Only the watch goroutine uses the map; entries of deleted objects
// stay until the next resync, so that their last events still find the object.
func (p *Poollet) remember(md *runtimev1alpha1.ObjectMetadata, snapshot bool) object {
	labels := md.GetLabels()
	o := object{key: types.NamespacedName{Namespace: labels[LabelVolumeNamespace], Name: labels[LabelVolumeName]}}
	if snapshot {
		o = object{key: types.NamespacedName{Namespace: labels[LabelSnapshotNamespace], Name: labels[LabelSnapshotName]}, snapshot: true}
	}
	if o.key.Namespace != "" && o.key.Name != "" {
		p.names[md.GetId()] = o
	}
	return o
}

// recordEvent records a runtime event on the Volume or VolumeSnapshot it is about (read from
// the cache and checked by UID).
func (p *Poollet) recordEvent(ctx context.Context, e *runtimev1alpha1.Event) {
	o, ok := p.names[e.GetObjectId()]
	if !ok {
		return
	}
	var obj client.Object = &storagev1alpha1.Volume{}
	if o.snapshot {
		obj = &storagev1alpha1.VolumeSnapshot{}
	}
	if err := p.Client.Get(ctx, o.key, obj); err != nil || string(obj.GetUID()) != e.GetObjectId() {
		return
	}
	eventType := corev1.EventTypeNormal
	if e.GetType() == runtimev1alpha1.EventType_EVENT_TYPE_WARNING {
		eventType = corev1.EventTypeWarning
	}
	p.Recorder.Eventf(obj, nil, eventType, e.GetReason(), "Runtime", "%s", e.GetMessage())
}
