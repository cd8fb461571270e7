package volume

import (
	"context"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// mirror is the runtime view of the broker's lower objects, by runtime ID, as last recorded in
// the history. It is what List answers from.
type mirror struct {
	volumes   map[string]*volumeEntry
	snapshots map[string]*snapshotEntry
}

// volumeEntry is one runtime volume and the lower Volume it was made from.
type volumeEntry struct {
	lower   *storagev1alpha1.Volume
	runtime *runtimev1alpha1.Volume
}

// snapshotEntry is one runtime snapshot and the lower VolumeSnapshot it was made from.
type snapshotEntry struct {
	lower   *storagev1alpha1.VolumeSnapshot
	runtime *runtimev1alpha1.Snapshot
}

func newMirror() mirror {
	return mirror{volumes: map[string]*volumeEntry{}, snapshots: map[string]*snapshotEntry{}}
}

// observeVolume records a lower Volume the informer (or one of the broker's own writes)
// delivered: ADDED, MODIFIED when its runtime view changed, DELETED when it is gone. A copy older
// than the one already recorded is ignored, so a write's result is not undone by a lagging
// informer.
func (b *Broker) observeVolume(obj any, deleted bool) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj, deleted = tomb.Obj, true
	}
	lv, ok := obj.(*storagev1alpha1.Volume)
	if !ok {
		return
	}
	id := lv.Labels[LabelID]
	if id == "" {
		return
	}
	var rv *runtimev1alpha1.Volume
	if !deleted {
		// Credentials are read outside the lock: a GET of the lower Secrets.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		rv = b.runtimeVolume(ctx, lv)
		cancel()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	current := b.mirror.volumes[id]
	if deleted {
		b.credentials.forget(string(lv.UID))
		if current == nil || current.lower.UID != lv.UID {
			return
		}
		delete(b.mirror.volumes, id)
		b.history.Volume(runtimev1alpha1.ChangeType_CHANGE_TYPE_DELETED, current.runtime)
		return
	}
	typ := runtimev1alpha1.ChangeType_CHANGE_TYPE_ADDED
	if current != nil {
		if current.lower.UID == lv.UID && older(lv.ResourceVersion, current.lower.ResourceVersion) {
			return
		}
		if current.lower.UID != lv.UID {
			// The ID's earlier Volume is gone and its deletion was missed.
			b.history.Volume(runtimev1alpha1.ChangeType_CHANGE_TYPE_DELETED, current.runtime)
		} else {
			typ = runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED
			keepConfirmedSize(rv, current.runtime, lv)
			rv.Metadata.Revision = current.runtime.GetMetadata().GetRevision()
			if proto.Equal(rv, current.runtime) {
				current.lower = lv
				return
			}
		}
	}
	b.history.Volume(typ, rv)
	b.mirror.volumes[id] = &volumeEntry{lower: lv, runtime: rv}
	if typ == runtimev1alpha1.ChangeType_CHANGE_TYPE_ADDED {
		klog.V(2).InfoS("volume observed", "id", id, "state", rv.GetStatus().GetState())
	}
}

// observeSnapshot records a lower VolumeSnapshot, as observeVolume does a Volume.
func (b *Broker) observeSnapshot(obj any, deleted bool) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj, deleted = tomb.Obj, true
	}
	ls, ok := obj.(*storagev1alpha1.VolumeSnapshot)
	if !ok {
		return
	}
	id := ls.Labels[LabelID]
	if id == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	current := b.mirror.snapshots[id]
	if deleted {
		if current == nil || current.lower.UID != ls.UID {
			return
		}
		delete(b.mirror.snapshots, id)
		b.history.Snapshot(runtimev1alpha1.ChangeType_CHANGE_TYPE_DELETED, current.runtime)
		return
	}
	rs := runtimeSnapshot(ls)
	typ := runtimev1alpha1.ChangeType_CHANGE_TYPE_ADDED
	if current != nil {
		if current.lower.UID == ls.UID && older(ls.ResourceVersion, current.lower.ResourceVersion) {
			return
		}
		if current.lower.UID != ls.UID {
			b.history.Snapshot(runtimev1alpha1.ChangeType_CHANGE_TYPE_DELETED, current.runtime)
		} else {
			typ = runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED
			rs.Metadata.Revision = current.runtime.GetMetadata().GetRevision()
			if proto.Equal(rs, current.runtime) {
				current.lower = ls
				return
			}
		}
	}
	b.history.Snapshot(typ, rs)
	b.mirror.snapshots[id] = &snapshotEntry{lower: ls, runtime: rs}
}

// older reports whether resource version a is older than b. Ferrite's resource versions are
// etcd revisions; anything else counts as newer.
func older(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	return errA == nil && errB == nil && x < y
}

// volume returns a copy of the runtime volume id and its lower Volume, or nil.
func (b *Broker) volume(id string) (*runtimev1alpha1.Volume, *storagev1alpha1.Volume) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.mirror.volumes[id]
	if e == nil {
		return nil, nil
	}
	return proto.Clone(e.runtime).(*runtimev1alpha1.Volume), e.lower
}

// snapshot returns a copy of the runtime snapshot id and its lower VolumeSnapshot, or nil.
func (b *Broker) snapshot(id string) (*runtimev1alpha1.Snapshot, *storagev1alpha1.VolumeSnapshot) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.mirror.snapshots[id]
	if e == nil {
		return nil, nil
	}
	return proto.Clone(e.runtime).(*runtimev1alpha1.Snapshot), e.lower
}
