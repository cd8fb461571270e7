package lowersync_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"
	toolscache "k8s.io/client-go/tools/cache"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/broker/lowerevents"
	"github.com/ferrite-dev/ferrite/broker/lowersync"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned/fake"
	"github.com/ferrite-dev/ferrite/generated/informers/externalversions"
)

// Start runs the factories' informers and the Events informer and returns once both have their
// first list: the listers hold what the lower cluster has, and an Event created afterwards is
// handed over as an occurrence.
func TestStartSyncs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewSimpleClientset(&computev1alpha1.MachineClass{ObjectMeta: metav1.ObjectMeta{Name: "small"}})
	factory := externalversions.NewSharedInformerFactory(client, 0)
	classes := factory.Compute().V1alpha1().MachineClasses()
	kube := kubefake.NewSimpleClientset()
	got := make(chan string, 1)
	events, err := lowerevents.New(kube, "ns", func(e *eventsv1.Event) { got <- e.Reason })
	if err != nil {
		t.Fatal(err)
	}

	if err := lowersync.Start(ctx, events, []toolscache.InformerSynced{classes.Informer().HasSynced}, factory); err != nil {
		t.Fatal(err)
	}
	if _, err := classes.Lister().Get("small"); err != nil {
		t.Fatalf("the lister after Start: %v", err)
	}
	if _, err := kube.EventsV1().Events("ns").Create(ctx, &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "e"}, Reason: "New", Type: corev1.EventTypeNormal,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case reason := <-got:
		if reason != "New" {
			t.Fatalf("handed over %q", reason)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an Event created after Start was not handed over")
	}

	// Without Events.
	if err := lowersync.Start(ctx, nil, []toolscache.InformerSynced{classes.Informer().HasSynced}, factory); err != nil {
		t.Fatal(err)
	}
}

// An informer that never syncs fails Start when the context ends.
func TestStartContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	never := func() bool { return false }
	if err := lowersync.Start(ctx, nil, []toolscache.InformerSynced{never}); err == nil {
		t.Fatal("Start returned without the informers' sync")
	}
}
