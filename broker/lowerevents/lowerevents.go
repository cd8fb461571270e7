// Package lowerevents watches the Kubernetes Events (events.k8s.io/v1) of a broker's namespace in
// the lower cluster and hands the broker each new occurrence, so that the broker can pass those
// about the objects it made up as runtime events. Both brokers use it; each decides which
// objects are its own.
//
// An occurrence is an Event created after the informer's first list (what happened before the
// broker started is old news), or an Event whose count (series.count, or deprecatedCount for
// Events recorded through core/v1) grew: one more occurrence, handed over once per change.
package lowerevents

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	eventsinformers "k8s.io/client-go/informers/events/v1"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// SyncWait is how long Source.WaitForSync waits for the first list. A broker that may not list
// Events (a missing RBAC rule) still serves, later than usual, and passes no events up until it
// may.
const SyncWait = 10 * time.Second

// Source is an informer on the Events of one namespace.
type Source struct {
	namespace string
	informer  toolscache.SharedIndexInformer
	synced    toolscache.InformerSynced
}

// New returns a Source over client's Events in namespace. handle is called on the informer's
// goroutine, once per occurrence (see the package comment), with the informer's copy of the
// Event, which it must not modify.
func New(client kubernetes.Interface, namespace string, handle func(*eventsv1.Event)) (*Source, error) {
	// No resync: a resync hands over unchanged Events, which are no occurrence.
	informer := eventsinformers.NewEventInformer(client, namespace, 0, toolscache.Indexers{})
	reg, err := informer.AddEventHandler(toolscache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, isInInitialList bool) {
			if e, ok := obj.(*eventsv1.Event); ok && !isInInitialList {
				handle(e)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, okOld := oldObj.(*eventsv1.Event)
			e, okNew := newObj.(*eventsv1.Event)
			if okOld && okNew && Count(e) > Count(old) {
				handle(e)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	return &Source{namespace: namespace, informer: informer, synced: reg.HasSynced}, nil
}

// Start runs the informer until ctx ends.
func (s *Source) Start(ctx context.Context) {
	go s.informer.RunWithContext(ctx)
}

// WaitForSync waits up to SyncWait for the informer's first list (Events recorded before it
// completes count as old news) and reports whether it completed. Events are an extra: when the
// list does not come, the broker goes on, and the informer keeps trying.
func (s *Source) WaitForSync(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, SyncWait)
	defer cancel()
	if toolscache.WaitForCacheSync(ctx.Done(), s.synced) {
		return true
	}
	klog.FromContext(ctx).Info("the lower Events were not listed in time; lower events pass up once they are (the broker needs list and watch on events.k8s.io events in its namespace)", "namespace", s.namespace)
	return false
}

// Count is how many times an Event happened: series.count, else deprecatedCount, at least 1.
func Count(e *eventsv1.Event) int32 {
	n := int32(1)
	if e.Series != nil {
		n = max(n, e.Series.Count)
	}
	return max(n, e.DeprecatedCount)
}

// Regarding returns the name and UID of the object e is about when it is of group and kind and
// lives in namespace (any version of group counts: a lower cluster may serve a newer one).
func Regarding(e *eventsv1.Event, namespace, group, kind string) (name string, uid types.UID, ok bool) {
	r := e.Regarding
	gv, err := schema.ParseGroupVersion(r.APIVersion)
	if err != nil || gv.Group != group || r.Kind != kind || r.Namespace != namespace || r.Name == "" {
		return "", "", false
	}
	return r.Name, r.UID, true
}

// Warning reports whether e is a warning (type Warning); every other type counts as normal.
func Warning(e *eventsv1.Event) bool { return e.Type == corev1.EventTypeWarning }

// Served reports whether the cluster behind client serves events.k8s.io/v1 events. It answers
// false only when discovery says so; on any other error the broker tries anyway.
func Served(client discovery.DiscoveryInterface) bool {
	resources, err := client.ServerResourcesForGroupVersion(eventsv1.SchemeGroupVersion.String())
	if err != nil {
		return !apierrors.IsNotFound(err)
	}
	for _, r := range resources.APIResources {
		if r.Name == "events" {
			return true
		}
	}
	return false
}
