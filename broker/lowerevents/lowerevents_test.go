package lowerevents_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	fakediscovery "k8s.io/client-go/discovery/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/ferrite-dev/ferrite/broker/lowerevents"
)

func event(name, reason string) *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Regarding:  corev1.ObjectReference{APIVersion: "compute.ferrite.dev/v1alpha1", Kind: "Machine", Namespace: "ns", Name: "m-a", UID: "u"},
		Reason:     reason, Type: corev1.EventTypeWarning,
	}
}

// Source hands over Events created after its first list, and once more per count growth, never
// those of the first list, nor updates that keep the count.
func TestSourceOccurrences(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kube := kubefake.NewSimpleClientset(event("old", "Old"))
	got := make(chan string, 10)
	s, err := lowerevents.New(kube, "ns", func(e *eventsv1.Event) { got <- fmt.Sprintf("%s/%d", e.Reason, lowerevents.Count(e)) })
	if err != nil {
		t.Fatal(err)
	}
	s.Start(ctx)
	if !s.WaitForSync(ctx) {
		t.Fatal("not synced")
	}
	events := kube.EventsV1().Events("ns")
	ev, err := events.Create(ctx, event("new", "New"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ev.Labels = map[string]string{"x": "y"} // no count change
	if ev, err = events.Update(ctx, ev, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ev.Series = &eventsv1.EventSeries{Count: 3, LastObservedTime: metav1.NowMicro()}
	if _, err = events.Update(ctx, ev, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	old, err := events.Get(ctx, "old", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	old.DeprecatedCount = 2 // a core/v1 recorder's repeat
	if _, err = events.Update(ctx, old, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"New/1", "New/3", "Old/2"} {
		select {
		case g := <-got:
			if g != want {
				t.Fatalf("handed over %s, want %s", g, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s not handed over", want)
		}
	}
	select {
	case g := <-got:
		t.Fatalf("handed over %s as well", g)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestRegarding(t *testing.T) {
	e := event("e", "R")
	if name, uid, ok := lowerevents.Regarding(e, "ns", "compute.ferrite.dev", "Machine"); !ok || name != "m-a" || uid != "u" {
		t.Errorf("Regarding: %q %q %v", name, uid, ok)
	}
	for _, c := range []struct{ ns, group, kind string }{{"other", "compute.ferrite.dev", "Machine"}, {"ns", "storage.ferrite.dev", "Machine"}, {"ns", "compute.ferrite.dev", "Volume"}} {
		if _, _, ok := lowerevents.Regarding(e, c.ns, c.group, c.kind); ok {
			t.Errorf("Regarding %v: ok", c)
		}
	}
}

func TestServed(t *testing.T) {
	kube := kubefake.NewSimpleClientset()
	disc := kube.Discovery().(*fakediscovery.FakeDiscovery)
	if lowerevents.Served(disc) {
		t.Error("served without the group")
	}
	disc.Resources = []*metav1.APIResourceList{{GroupVersion: "events.k8s.io/v1", APIResources: []metav1.APIResource{{Name: "events", Namespaced: true, Kind: "Event"}}}}
	if !lowerevents.Served(disc) {
		t.Error("not served with the group")
	}
}
