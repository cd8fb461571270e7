package machine_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// lowerEvent is an Event about the lower object ref, as a lower component records it.
func lowerEvent(ref corev1.ObjectReference, typ, reason, note string) *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Namespace: ref.Namespace, Name: ref.Name + "." + string(uuid.NewUUID())[:8]},
		EventTime:           metav1.NowMicro(),
		Regarding:           ref,
		Type:                typ,
		Reason:              reason,
		Note:                note,
		Action:              "Test",
		ReportingController: "test",
		ReportingInstance:   "test",
	}
}

// machineRef refers to the lower Machine name with uid.
func machineRef(ns, name string, uid types.UID) corev1.ObjectReference {
	return corev1.ObjectReference{APIVersion: computev1alpha1.SchemeGroupVersion.String(), Kind: "Machine", Namespace: ns, Name: name, UID: uid}
}

// eventsOf lists the broker's events with reason.
func (e *env) eventsOf(reason string) []*runtimev1alpha1.Event {
	e.t.Helper()
	resp, err := e.client.ListEvents(context.Background(), &runtimev1alpha1.ListEventsRequest{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*runtimev1alpha1.Event
	for _, ev := range resp.GetEvents() {
		if ev.GetReason() == reason {
			out = append(out, ev)
		}
	}
	return out
}

// The lower Events about the broker's Machines pass up as runtime events: those the real lower
// machinepoollet records, and Events written below, once more each time their series grows.
// Events about objects the broker did not make, and those recorded before the broker started,
// do not.
func TestLowerEventsPassUp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := string(uuid.NewUUID())
	if _, err := e.client.CreateMachine(ctx, &runtimev1alpha1.CreateMachineRequest{Machine: &runtimev1alpha1.Machine{
		Metadata: &runtimev1alpha1.ObjectMetadata{Id: id}, Spec: spec()}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the machine running", func() bool { return e.state(id) == runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING })
	lower := e.lowerMachines(id)[0]

	// The lower poollet passes the fake runtime's Created event onto the lower Machine; the
	// broker passes it up.
	waitFor(t, "the lower runtime's Created event passed up", func() bool {
		for _, ev := range e.eventsOf("Created") {
			if ev.GetMachineId() == id && ev.GetMessage() == "created machine "+string(lower.UID) {
				return true
			}
		}
		return false
	})

	// What was recorded while no broker ran is old news to the next one.
	events := e.secrets.EventsV1().Events(e.ns)
	ref := machineRef(e.ns, lower.Name, lower.UID)
	e.stopBroker()
	if _, err := events.Create(ctx, lowerEvent(ref, corev1.EventTypeWarning, "OldNews", "before the broker started"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.startBroker()
	list, err := e.client.ListEvents(ctx, &runtimev1alpha1.ListEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetEvents()) != 0 {
		t.Fatalf("a restarted broker lists events that happened before it started: %v", list.GetEvents())
	}
	watchCtx, stopWatch := context.WithTimeout(ctx, time.Minute)
	defer stopWatch()
	watch, err := e.client.Watch(watchCtx, &runtimev1alpha1.WatchRequest{FromRevision: list.GetRevision()})
	if err != nil {
		t.Fatal(err)
	}

	// Events about what the broker did not make, then one about its Machine.
	other := machineRef(e.ns, lower.Name, "another-uid") // an earlier Machine of that name
	notOurs := machineRef(e.ns, "m-not-made-by-the-broker", "")
	volume := ref
	volume.APIVersion, volume.Kind = "storage.ferrite.dev/v1alpha1", "Volume"
	for _, foreign := range []corev1.ObjectReference{other, notOurs, volume} {
		if _, err := events.Create(ctx, lowerEvent(foreign, corev1.EventTypeWarning, "Foreign", "not the broker's"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	fresh, err := events.Create(ctx, lowerEvent(ref, corev1.EventTypeWarning, "DiskSlow", "disk latency above 2s"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The informer hands Events over in order: the foreign ones came first and were dropped.
	got := awaitEvent(t, watch, "DiskSlow")
	if got.GetMachineId() != id || got.GetType() != runtimev1alpha1.EventType_EVENT_TYPE_WARNING || got.GetMessage() != "disk latency above 2s" {
		t.Fatalf("passed up: %v", got)
	}

	// A series that grows is one more occurrence each time; an update that leaves the count
	// (a resync, a label) is none.
	fresh.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NowMicro()}
	if fresh, err = events.Update(ctx, fresh, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	fresh.Labels = map[string]string{"touched": "yes"}
	if fresh, err = events.Update(ctx, fresh, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	fresh.Series = &eventsv1.EventSeries{Count: 7, LastObservedTime: metav1.NowMicro()}
	if _, err = events.Update(ctx, fresh, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := events.Create(ctx, lowerEvent(ref, corev1.EventTypeNormal, "Marker", "last"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := awaitEvent(t, watch, "Marker"); got.GetType() != runtimev1alpha1.EventType_EVENT_TYPE_NORMAL {
		t.Fatalf("a Normal Event passed up as %v", got.GetType())
	}
	if n := len(e.eventsOf("DiskSlow")); n != 3 {
		t.Fatalf("DiskSlow passed up %d times, want 3 (created, series 2, series 7)", n)
	}
	for _, reason := range []string{"OldNews", "Foreign"} {
		if got := e.eventsOf(reason); len(got) != 0 {
			t.Fatalf("%s passed up: %v", reason, got)
		}
	}
	resp, err := e.client.ListEvents(ctx, &runtimev1alpha1.ListEventsRequest{MachineId: id})
	if err != nil || len(resp.GetEvents()) != 4 {
		t.Fatalf("ListEvents of the machine: %v, %v; want the 3 DiskSlow and the Marker", resp.GetEvents(), err)
	}
}

// awaitEvent reads watch until an event with reason, and fails on an event passed up that no
// one should see.
func awaitEvent(t *testing.T, watch runtimev1alpha1.MachineRuntime_WatchClient, reason string) *runtimev1alpha1.Event {
	t.Helper()
	for {
		resp, err := watch.Recv()
		if err != nil {
			t.Fatalf("watch for %s: %v", reason, err)
		}
		ev := resp.GetEvent()
		if ev.GetReason() == "OldNews" || ev.GetReason() == "Foreign" {
			t.Fatalf("passed up: %v", ev)
		}
		if ev != nil && ev.GetReason() == reason {
			return ev
		}
	}
}
