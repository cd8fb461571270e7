// Package lowersync starts the informers a broker reads the lower cluster through and waits for
// their first list, the same way for both brokers: the informers a broker answers from, without
// bound (a broker that answered from an empty cache would report the lower objects gone); then
// the lower Events informer, an extra, for at most lowerevents.SyncWait.
package lowersync

import (
	"context"
	"fmt"

	toolscache "k8s.io/client-go/tools/cache"

	"github.com/ferrite-dev/ferrite/broker/lowerevents"
)

// Factory is an informer factory: Ferrite's (externalversions) or client-go's (informers).
type Factory interface {
	Start(stopCh <-chan struct{})
}

// Start runs factories and events (nil: the broker passes no lower events up) until ctx ends,
// and returns once every informer of synced has synced and the events' first list has come or
// lowerevents.SyncWait has passed. It fails only when ctx ends first.
func Start(ctx context.Context, events *lowerevents.Source, synced []toolscache.InformerSynced, factories ...Factory) error {
	for _, f := range factories {
		f.Start(ctx.Done())
	}
	if events != nil {
		events.Start(ctx)
	}
	if !toolscache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("the lower cluster's informers did not sync")
	}
	if events != nil {
		events.WaitForSync(ctx)
	}
	return nil
}
