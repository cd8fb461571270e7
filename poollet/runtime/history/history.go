// Package history is the change log every runtime keeps: a revision counter that only grows, a
// bounded history of changes (object changes and events) that Watch replays, the retained events
// for ListEvents, and Watch itself with resume, progress and RevisionTooOld. The machine runtimes
// (the fake, libvirt-provider) and the volume runtimes (the fake, ceph-provider) share it, so the
// rules of docs/runtime.md ("Revisions and Watch") are written once.
//
// History is generic over a runtime's WatchResponse, Event and EventType types; a Schema tells it
// how to build those messages. Machines and Volumes are the histories of the two runtime APIs,
// with methods that record their object changes.
//
// A runtime records every change through one History. Callers that need an object's stored
// revision and the list's revision to agree (ListMachines, ListVolumes) record changes under their
// own lock and read Revision under the same lock; History locks itself as well, so Watch needs no
// lock of the caller.
package history

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Options configure a History. The zero value is usable.
type Options struct {
	// Limit is how many changes (object changes and events) Watch can replay. Default 1000.
	Limit int
	// EventLimit is how many events Events returns at most. Default 1000.
	EventLimit int
	// InitialRevision is the revision before the first change; the first change gets the next
	// one. A Watch from an older revision is told RevisionTooOld. A runtime that restarts without
	// its history starts above every revision it may have handed out before.
	InitialRevision uint64
	// Now is the clock for event times. Default time.Now.
	Now func() time.Time
}

// Message is a runtime message that carries the revision of its change: a WatchResponse or an
// Event.
type Message interface {
	proto.Message
	GetRevision() uint64
}

// Schema builds a runtime API's messages: R is its WatchResponse, E its Event and T its
// EventType.
type Schema[R, E Message, T any] struct {
	// NewEvent returns an event at revision about the object objectID.
	NewEvent func(revision uint64, objectID string, typ T, reason, message string, time *timestamppb.Timestamp) E
	// EventObjectID returns the ID of the object an event is about.
	EventObjectID func(E) string
	// EventChange returns the watch response that carries an event.
	EventChange func(E) R
	// Progress returns the watch response that says nothing changed up to revision.
	Progress func(revision uint64) R
	// RevisionTooOld returns the error with which Watch ends when it cannot continue from
	// requested.
	RevisionTooOld func(requested, oldest, current uint64) error
}

// WatchRequest is what Watch reads of a runtime's WatchRequest.
type WatchRequest interface {
	GetFromRevision() uint64
	GetProgressInterval() *durationpb.Duration
}

// Stream is the server side of a Watch stream (a grpc.ServerStreamingServer).
type Stream[R any] interface {
	Send(R) error
	Context() context.Context
}

// History is a runtime's revision counter and change history. It is safe for concurrent use.
type History[R, E Message, T any] struct {
	opts   Options
	schema Schema[R, E, T]

	mu       sync.Mutex
	revision uint64
	// compacted is the revision of the newest change dropped from changes (or the initial
	// revision): Watch can continue from any revision at or after it.
	compacted uint64
	changes   []R
	events    []E
	// changed is closed (and replaced) whenever changes grows, and closed for good by Close.
	changed chan struct{}
	closed  bool
}

// New returns an empty history at opts.InitialRevision.
func New[R, E Message, T any](opts Options, schema Schema[R, E, T]) *History[R, E, T] {
	if opts.Limit <= 0 {
		opts.Limit = 1000
	}
	if opts.EventLimit <= 0 {
		opts.EventLimit = 1000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &History[R, E, T]{
		opts:      opts,
		schema:    schema,
		revision:  opts.InitialRevision,
		compacted: opts.InitialRevision,
		changed:   make(chan struct{}),
	}
}

// Revision returns the revision of the last change.
func (h *History[R, E, T]) Revision() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.revision
}

// Record records a change under a new revision and returns that revision. change is called
// with the revision, under the history's lock, and returns the watch response to keep for Watch
// (it sets the object's revision and keeps a copy of it; the response is never modified later).
func (h *History[R, E, T]) Record(change func(revision uint64) R) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.revision++
	h.appendLocked(change(h.revision))
	return h.revision
}

// Event records an event about an object under a new revision and returns it.
func (h *History[R, E, T]) Event(objectID string, typ T, reason, format string, args ...any) E {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.revision++
	ev := h.schema.NewEvent(h.revision, objectID, typ, reason, fmt.Sprintf(format, args...), timestamppb.New(h.opts.Now()))
	h.events = append(h.events, ev)
	if extra := len(h.events) - h.opts.EventLimit; extra > 0 {
		h.events = append([]E(nil), h.events[extra:]...)
	}
	h.appendLocked(h.schema.EventChange(ev))
	return proto.Clone(ev).(E)
}

func (h *History[R, E, T]) appendLocked(change R) {
	h.changes = append(h.changes, change)
	if extra := len(h.changes) - h.opts.Limit; extra > 0 {
		h.compacted = h.changes[extra-1].GetRevision()
		h.changes = append([]R(nil), h.changes[extra:]...)
	}
	if !h.closed {
		close(h.changed)
		h.changed = make(chan struct{})
	}
}

// Events returns the retained events of an object (of all objects when objectID is empty) with
// a revision greater than after, oldest first, and the current revision.
func (h *History[R, E, T]) Events(objectID string, after uint64) ([]E, uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []E
	for _, ev := range h.events {
		if ev.GetRevision() <= after || (objectID != "" && h.schema.EventObjectID(ev) != objectID) {
			continue
		}
		out = append(out, proto.Clone(ev).(E))
	}
	return out, h.revision
}

// Close ends every Watch with UNAVAILABLE; later Watch calls fail the same way. Changes may
// still be recorded (and are kept) after Close.
func (h *History[R, E, T]) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	close(h.changed)
}

// Watch serves a runtime's Watch call: it streams the changes after req.from_revision in order,
// sends a progress response after req.progress_interval without a change, and ends with
// OUT_OF_RANGE and a RevisionTooOld detail when the changes right after the revision the stream
// has reached are no longer retained (also when the revision is newer than the current one), so
// that nothing is skipped silently.
func (h *History[R, E, T]) Watch(req WatchRequest, stream Stream[R]) error {
	var interval time.Duration
	if req.GetProgressInterval() != nil {
		interval = req.GetProgressInterval().AsDuration()
		if interval < time.Second {
			return status.Errorf(codes.InvalidArgument, "progress_interval: at least 1s, not %s", interval)
		}
	}
	from := req.GetFromRevision()
	ctx := stream.Context()
	for {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return status.Error(codes.Unavailable, "runtime stopped")
		}
		if from < h.compacted || from > h.revision {
			err := h.schema.RevisionTooOld(from, h.compacted, h.revision)
			h.mu.Unlock()
			return err
		}
		first := sort.Search(len(h.changes), func(i int) bool { return h.changes[i].GetRevision() > from })
		batch := h.changes[first:len(h.changes):len(h.changes)]
		changed, current := h.changed, h.revision
		h.mu.Unlock()

		for _, change := range batch {
			// The stored changes are never modified, so they are sent without a copy.
			if err := stream.Send(change); err != nil {
				return err
			}
			from = change.GetRevision()
		}
		if len(batch) > 0 {
			continue
		}
		if err := h.waitForChange(ctx, stream, changed, current, interval); err != nil {
			return err
		}
	}
}

// waitForChange returns when changed is closed, or sends a progress response at current after
// interval (when not 0) without a change.
func (h *History[R, E, T]) waitForChange(ctx context.Context, stream Stream[R], changed <-chan struct{}, current uint64, interval time.Duration) error {
	var tick <-chan time.Time
	if interval > 0 {
		timer := time.NewTimer(interval)
		defer timer.Stop()
		tick = timer.C
	}
	select {
	case <-changed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-tick:
		return stream.Send(h.schema.Progress(current))
	}
}
