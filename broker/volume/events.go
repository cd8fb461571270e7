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
// (ID label and name agree, and the UID when e has one), else "".
func (b *Broker) volumeEventID(e *eventsv1.Event) string {
	return regardingID(b, e, "Volume", volumeName,
		func(name string) (*storagev1alpha1.Volume, error) {
			return b.volumes.Volumes(b.opts.Namespace).Get(name)
		},
		func(ctx context.Context, name string) (*storagev1alpha1.Volume, error) {
			return b.client.StorageV1alpha1().Volumes(b.opts.Namespace).Get(ctx, name, metav1.GetOptions{})
		})
}

// snapshotEventID is volumeEventID for VolumeSnapshots.
func (b *Broker) snapshotEventID(e *eventsv1.Event) string {
	return regardingID(b, e, "VolumeSnapshot", snapshotName,
		func(name string) (*storagev1alpha1.VolumeSnapshot, error) {
			return b.snapshots.VolumeSnapshots(b.opts.Namespace).Get(name)
		},
		func(ctx context.Context, name string) (*storagev1alpha1.VolumeSnapshot, error) {
			return b.client.StorageV1alpha1().VolumeSnapshots(b.opts.Namespace).Get(ctx, name, metav1.GetOptions{})
		})
}

// regardingID returns the runtime ID of the lower object of kind that e is about, when the
// broker made it. It reads the informer (cached), and the API (get) when the informer has not
// seen the object yet.
func regardingID[T metav1.Object](b *Broker, e *eventsv1.Event, kind string, nameOf func(string) string,
	cached func(name string) (T, error), get func(ctx context.Context, name string) (T, error)) string {
	name, uid, ok := lowerevents.Regarding(e, b.opts.Namespace, storagev1alpha1.GroupName, kind)
	if !ok {
		return ""
	}
	obj, err := cached(name)
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if obj, err = get(ctx, name); err != nil {
			return ""
		}
	}
	return ownID(obj, uid, nameOf)
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
