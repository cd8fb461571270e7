package machine

import (
	"context"
	"strings"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/broker/lowerevents"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// lowerEvent passes an occurrence of a lower Event about one of the broker's Machines up as a
// runtime event of that machine (reason unchanged, the note as message). Events about anything
// else are dropped.
func (b *Broker) lowerEvent(e *eventsv1.Event) {
	name, uid, ok := lowerevents.Regarding(e, b.opts.Namespace, computev1alpha1.GroupName, "Machine")
	if !ok || !strings.HasPrefix(name, "m-") {
		return
	}
	m := b.ownMachine(name)
	if m == nil || (uid != "" && m.UID != uid) {
		return
	}
	typ := runtimev1alpha1.EventType_EVENT_TYPE_NORMAL
	if lowerevents.Warning(e) {
		typ = runtimev1alpha1.EventType_EVENT_TYPE_WARNING
	}
	b.history.Event(m.Annotations[AnnotationID], typ, e.Reason, "%s", e.Note)
}

// ownMachine returns the lower Machine name when the broker made it (its ID annotation, label
// and name agree), nil otherwise. It reads the informer, and the API when the informer has not
// seen the Machine yet (an Event may arrive before its Machine does).
func (b *Broker) ownMachine(name string) *computev1alpha1.Machine {
	m, err := b.machines.Machines(b.opts.Namespace).Get(name)
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if m, err = b.opts.Client.ComputeV1alpha1().Machines(b.opts.Namespace).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return nil
		}
	}
	id := m.Annotations[AnnotationID]
	if id == "" || m.Labels[LabelID] != Ref(id) || m.Name != MachineName(id) {
		return nil
	}
	return m
}
