package volume

import (
	"context"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/broker/lowerevents"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// lowerEvent passes an occurrence of a lower Event about one of the broker's Volumes or
// VolumeSnapshots up as a runtime event of that volume or snapshot (reason unchanged, the note
// as message). Events about anything else are dropped.
func (b *Broker) lowerEvent(e *eventsv1.Event) {
	id := b.volumeEventID(e)
	if id == "" {
		id = b.snapshotEventID(e)
	}
	if id == "" {
		return
	}
	typ := runtimev1alpha1.EventType_EVENT_TYPE_NORMAL
	if lowerevents.Warning(e) {
		typ = runtimev1alpha1.EventType_EVENT_TYPE_WARNING
	}
	b.history.Event(id, typ, e.Reason, "%s", e.Note)
}

// volumeEventID returns the runtime ID of the lower Volume e is about when the broker made it
// (ID label and name agree, and the UID when e has one), else "". It reads the informer, and the
// API when the informer has not seen the Volume yet.
func (b *Broker) volumeEventID(e *eventsv1.Event) string {
	name, uid, ok := lowerevents.Regarding(e, b.opts.Namespace, storagev1alpha1.GroupName, "Volume")
	if !ok {
		return ""
	}
	lv, err := b.volumes.Volumes(b.opts.Namespace).Get(name)
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if lv, err = b.client.StorageV1alpha1().Volumes(b.opts.Namespace).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return ""
		}
	}
	return ownID(lv, uid, volumeName)
}

// snapshotEventID is volumeEventID for VolumeSnapshots.
func (b *Broker) snapshotEventID(e *eventsv1.Event) string {
	name, uid, ok := lowerevents.Regarding(e, b.opts.Namespace, storagev1alpha1.GroupName, "VolumeSnapshot")
	if !ok {
		return ""
	}
	ls, err := b.snapshots.VolumeSnapshots(b.opts.Namespace).Get(name)
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if ls, err = b.client.StorageV1alpha1().VolumeSnapshots(b.opts.Namespace).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return ""
		}
	}
	return ownID(ls, uid, snapshotName)
}

// ownID returns the runtime ID of obj when the broker made it: it carries the ID label, is named
// after it, and has uid (when not empty).
func ownID(obj metav1.Object, uid types.UID, nameOf func(string) string) string {
	id := obj.GetLabels()[LabelID]
	if id == "" || obj.GetName() != nameOf(id) || (uid != "" && obj.GetUID() != uid) {
		return ""
	}
	return id
}
