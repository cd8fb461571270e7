package controllermanager

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
)

// LogRecorder is the event recorder used when the cluster serves no Events API (a standalone
// ferrite-apiserver): events go to the log, Warnings always, Normal ones at verbosity 1.
type LogRecorder struct {
	// Logger receives the events.
	Logger klog.Logger
}

var _ events.EventRecorder = LogRecorder{}

// Eventf logs the event.
func (r LogRecorder) Eventf(regarding runtime.Object, _ runtime.Object, eventtype, reason, action, note string, args ...interface{}) {
	object := "unknown"
	if accessor, err := meta.Accessor(regarding); err == nil {
		object = accessor.GetNamespace() + "/" + accessor.GetName()
		if accessor.GetNamespace() == "" {
			object = accessor.GetName()
		}
	}
	logger := r.Logger
	if eventtype == corev1.EventTypeNormal {
		logger = logger.V(1)
	}
	logger.Info("event", "object", object, "type", eventtype, "reason", reason, "action", action, "note", fmt.Sprintf(note, args...))
}
