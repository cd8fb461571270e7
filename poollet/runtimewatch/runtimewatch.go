// Package runtimewatch keeps a poollet in step with its runtime (machine or volume): collect
// orphans once, list, then follow the runtime's Watch from the list's revision, resuming from
// the last revision received after a disconnect and listing again when the runtime answers
// RevisionTooOld. Both poollets run this loop, so its rules are written once.
package runtimewatch

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
)

// Loop is what one poollet does at each step of the loop.
type Loop struct {
	// Collect deletes runtime objects whose API object is gone; it runs (until it succeeds)
	// before the first list.
	Collect func(context.Context) error
	// List lists the runtime's objects, requeues their API objects and returns the list's
	// revision.
	List func(context.Context) (uint64, error)
	// Follow consumes one Watch stream from *revision, advancing it, until the stream fails.
	Follow func(ctx context.Context, revision *uint64) error
	// RevisionTooOld reports whether err is the runtime's RevisionTooOld: list again.
	RevisionTooOld func(error) bool
}

// Run runs the loop until ctx ends.
func (l Loop) Run(ctx context.Context) error {
	log := klog.FromContext(ctx).WithName("runtime-watch")
	newBackoff := func() wait.Backoff {
		return wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Cap: 10 * time.Second, Steps: 1 << 30}
	}
	backoff := newBackoff()
	collected := false
	var revision uint64
	listed := false
	for ctx.Err() == nil {
		if !collected {
			if err := l.Collect(ctx); err != nil {
				log.Error(err, "collecting runtime objects of deleted API objects")
				Sleep(ctx, backoff.Step())
				continue
			}
			collected = true
		}
		if !listed {
			rev, err := l.List(ctx)
			if err != nil {
				log.Error(err, "listing the runtime's objects")
				Sleep(ctx, backoff.Step())
				continue
			}
			revision, listed = rev, true
		}
		before := revision
		err := l.Follow(ctx, &revision)
		if ctx.Err() != nil {
			return nil
		}
		if revision != before {
			backoff = newBackoff() // the stream worked for a while
		}
		if l.RevisionTooOld(err) {
			log.Info("the runtime cannot continue the watch from this revision (history too short, or it lost its state); listing again", "revision", revision)
			listed = false
			continue
		}
		log.Error(err, "runtime watch ended; resuming", "revision", revision)
		Sleep(ctx, backoff.Step())
	}
	return nil
}

// Sleep waits for d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Every calls fn every interval (not at once) until ctx ends, logging its errors as what.
func Every(ctx context.Context, interval time.Duration, what string, fn func(context.Context) error) error {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			if err := fn(ctx); err != nil {
				klog.FromContext(ctx).Error(err, what)
			}
		}
	}
}
