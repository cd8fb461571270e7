package volume_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	kubefake "k8s.io/client-go/kubernetes/fake"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	brokervolume "github.com/ferrite-dev/ferrite/broker/volume"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// lowerEvent is an Event about the lower object of kind, name and uid in ns, as a lower component
// records it.
func lowerEvent(ns, kind, name, uid, typ, reason, note string) *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "." + string(uuid.NewUUID())[:8]},
		EventTime:  metav1.NowMicro(),
		Regarding: corev1.ObjectReference{APIVersion: storagev1alpha1.SchemeGroupVersion.String(), Kind: kind,
			Namespace: ns, Name: name, UID: types.UID(uid)},
		Type: typ, Reason: reason, Note: note,
		Action: "Test", ReportingController: "test", ReportingInstance: "test",
	}
}

// The lower Events about the broker's Volumes and VolumeSnapshots pass up as runtime events of
// their IDs, once more each time their series grows; Events about objects the broker did not
// make, and those recorded before the broker started, do not.
func TestLowerEventsPassUp(t *testing.T) {
	ctx := context.Background()
	ns := unique("ev")
	createClass(t, lower, "ev-plain", storagev1alpha1.ResizePolicyExpandOnly, false)
	secrets := newSecrets()
	selector := map[string]string{"broker-test": ns}
	startLowerPool(t, ns+"-a", selector, 100*gib, secrets)
	startScheduler(t, lower)
	kube := kubefake.NewSimpleClientset()
	events := kube.EventsV1().Events(ns)
	opts := brokervolume.Options{Namespace: ns, VolumePoolSelector: selector, KeyNamespace: keyNamespace, Events: kube}
	first, _ := startBroker(t, opts, secrets)

	id, snapID := unique("3c4d-vol"), unique("3c4d-snap")
	if _, err := first.CreateVolume(ctx, &runtimev1alpha1.CreateVolumeRequest{Volume: &runtimev1alpha1.Volume{
		Metadata: &runtimev1alpha1.ObjectMetadata{Id: id}, Spec: &runtimev1alpha1.VolumeSpec{Class: "ev-plain", SizeBytes: gib}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the volume Available", func() bool {
		l, err := first.ListVolumes(ctx, &runtimev1alpha1.ListVolumesRequest{Filter: &runtimev1alpha1.ObjectFilter{Id: id}})
		return err == nil && len(l.GetVolumes()) == 1 && l.GetVolumes()[0].GetStatus().GetState() == runtimev1alpha1.VolumeState_VOLUME_STATE_AVAILABLE
	})
	if _, err := first.CreateSnapshot(ctx, &runtimev1alpha1.CreateSnapshotRequest{Snapshot: &runtimev1alpha1.Snapshot{
		Metadata: &runtimev1alpha1.ObjectMetadata{Id: snapID}, Spec: &runtimev1alpha1.SnapshotSpec{VolumeId: id}}}); err != nil {
		t.Fatal(err)
	}
	lv := lowerVolumes(t, ns, id)[0]
	ls, err := lower.Client.StorageV1alpha1().VolumeSnapshots(ns).Get(ctx, "s-"+snapID, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Recorded before the second broker starts: old news to it.
	if _, err := events.Create(ctx, lowerEvent(ns, "Volume", lv.Name, string(lv.UID), corev1.EventTypeWarning, "OldNews", "before"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rt, _ := startBroker(t, opts, secrets)
	list, err := rt.ListEvents(ctx, &runtimev1alpha1.ListEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetEvents()) != 0 {
		t.Fatalf("a new broker lists events that happened before it started: %v", list.GetEvents())
	}
	changes := watchChanges(t, rt, list.GetRevision())

	// Events about what the broker did not make, then about its volume and snapshot.
	for _, foreign := range []*eventsv1.Event{
		lowerEvent(ns, "Volume", lv.Name, "another-uid", corev1.EventTypeWarning, "Foreign", "an earlier Volume of that name"),
		lowerEvent(ns, "Volume", "v-not-made-by-the-broker", "", corev1.EventTypeWarning, "Foreign", "unknown"),
		lowerEvent(ns, "VolumeSnapshot", lv.Name, string(lv.UID), corev1.EventTypeWarning, "Foreign", "wrong kind"),
	} {
		if _, err := events.Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	slow, err := events.Create(ctx, lowerEvent(ns, "Volume", lv.Name, string(lv.UID), corev1.EventTypeWarning, "Degraded", "one replica down"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.Create(ctx, lowerEvent(ns, "VolumeSnapshot", ls.Name, string(ls.UID), corev1.EventTypeNormal, "Flattened", "snapshot flattened"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := awaitEvent(t, changes, "Degraded"); got.GetObjectId() != id || got.GetType() != runtimev1alpha1.EventType_EVENT_TYPE_WARNING || got.GetMessage() != "one replica down" {
		t.Fatalf("passed up: %v", got)
	}
	if got := awaitEvent(t, changes, "Flattened"); got.GetObjectId() != snapID || got.GetType() != runtimev1alpha1.EventType_EVENT_TYPE_NORMAL || got.GetMessage() != "snapshot flattened" {
		t.Fatalf("passed up: %v", got)
	}

	// A growing series is one more occurrence; an update that keeps the count is none.
	slow.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NowMicro()}
	if slow, err = events.Update(ctx, slow, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	slow.Labels = map[string]string{"touched": "yes"}
	if _, err = events.Update(ctx, slow, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := events.Create(ctx, lowerEvent(ns, "Volume", lv.Name, string(lv.UID), corev1.EventTypeNormal, "Marker", "last"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	awaitEvent(t, changes, "Marker")
	resp, err := rt.ListEvents(ctx, &runtimev1alpha1.ListEventsRequest{ObjectId: id})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, ev := range resp.GetEvents() {
		reasons = append(reasons, ev.GetReason())
	}
	if len(reasons) != 3 || reasons[0] != "Degraded" || reasons[1] != "Degraded" || reasons[2] != "Marker" {
		t.Fatalf("ListEvents of the volume: %v, want Degraded (created), Degraded (series 2), Marker", reasons)
	}
}

// awaitEvent reads changes until an event with reason, and fails on an event passed up that no
// one should see.
func awaitEvent(t *testing.T, changes <-chan *runtimev1alpha1.WatchResponse, reason string) *runtimev1alpha1.Event {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case c, ok := <-changes:
			if !ok {
				t.Fatalf("watch ended while waiting for %s", reason)
			}
			ev := c.GetEvent()
			if ev.GetReason() == "OldNews" || ev.GetReason() == "Foreign" {
				t.Fatalf("passed up: %v", ev)
			}
			if ev != nil && ev.GetReason() == reason {
				return ev
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %s", reason)
		}
	}
}
