// Package history is the change log every machine runtime keeps: a revision counter that only
// grows, a bounded history of changes (machine changes and events) that Watch replays, the
// retained events for ListEvents, and Watch itself with resume, progress and RevisionTooOld.
// The fake runtime and libvirt-provider share it, so the rules of docs/runtime.md ("Revisions
// and Watch") are written once.
//
// A runtime records every change through one History. Callers that need a machine's stored
// revision and the list's revision to agree (ListMachines) record changes under their own lock
// and read Revision under the same lock; History locks itself as well, so Watch needs no lock of
// the caller.
package history

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// Options configure a History. The zero value is usable.
type Options struct {
	// Limit is how many changes (machine changes and events) Watch can replay. Default 1000.
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

// History is a runtime's revision counter and change history. It is safe for concurrent use.
type History struct {
	opts Options

	mu       sync.Mutex
	revision uint64
	// compacted is the revision of the newest change dropped from changes (or the initial
	// revision): Watch can continue from any revision at or after it.
	compacted uint64
	changes   []*runtimev1alpha1.WatchResponse
	events    []*runtimev1alpha1.Event
	// changed is closed (and replaced) whenever changes grows, and closed for good by Close.
	changed chan struct{}
	closed  bool
}

// New returns an empty history at opts.InitialRevision.
func New(opts Options) *History {
	if opts.Limit <= 0 {
		opts.Limit = 1000
	}
	if opts.EventLimit <= 0 {
		opts.EventLimit = 1000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &History{
		opts:      opts,
		revision:  opts.InitialRevision,
		compacted: opts.InitialRevision,
		changed:   make(chan struct{}),
	}
}

// Revision returns the revision of the last change.
func (h *History) Revision() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.revision
}

// Machine records a change of m under a new revision: it sets m.metadata.revision to that
// revision and keeps a copy of m for Watch. It returns the revision.
func (h *History) Machine(typ runtimev1alpha1.ChangeType, m *runtimev1alpha1.Machine) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.revision++
	if m.Metadata == nil {
		m.Metadata = &runtimev1alpha1.ObjectMetadata{}
	}
	m.Metadata.Revision = h.revision
	h.appendLocked(&runtimev1alpha1.WatchResponse{
		Revision: h.revision,
		Change: &runtimev1alpha1.WatchResponse_Machine{Machine: &runtimev1alpha1.MachineChange{
			Type:    typ,
			Machine: proto.Clone(m).(*runtimev1alpha1.Machine),
		}},
	})
	return h.revision
}

// Event records an event about a machine under a new revision and returns it.
func (h *History) Event(machineID string, typ runtimev1alpha1.EventType, reason, format string, args ...any) *runtimev1alpha1.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.revision++
	ev := &runtimev1alpha1.Event{
		Revision:  h.revision,
		MachineId: machineID,
		Type:      typ,
		Reason:    reason,
		Message:   fmt.Sprintf(format, args...),
		Time:      timestamppb.New(h.opts.Now()),
	}
	h.events = append(h.events, ev)
	if extra := len(h.events) - h.opts.EventLimit; extra > 0 {
		h.events = append([]*runtimev1alpha1.Event(nil), h.events[extra:]...)
	}
	h.appendLocked(&runtimev1alpha1.WatchResponse{
		Revision: h.revision,
		Change:   &runtimev1alpha1.WatchResponse_Event{Event: ev},
	})
	return proto.Clone(ev).(*runtimev1alpha1.Event)
}

func (h *History) appendLocked(change *runtimev1alpha1.WatchResponse) {
	h.changes = append(h.changes, change)
	if extra := len(h.changes) - h.opts.Limit; extra > 0 {
		h.compacted = h.changes[extra-1].GetRevision()
		h.changes = append([]*runtimev1alpha1.WatchResponse(nil), h.changes[extra:]...)
	}
	if !h.closed {
		close(h.changed)
		h.changed = make(chan struct{})
	}
}

// Events returns the retained events of a machine (of all machines when machineID is empty)
// with a revision greater than after, oldest first, and the current revision.
func (h *History) Events(machineID string, after uint64) ([]*runtimev1alpha1.Event, uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*runtimev1alpha1.Event
	for _, ev := range h.events {
		if ev.Revision <= after || (machineID != "" && ev.MachineId != machineID) {
			continue
		}
		out = append(out, proto.Clone(ev).(*runtimev1alpha1.Event))
	}
	return out, h.revision
}

// Close ends every Watch with UNAVAILABLE; later Watch calls fail the same way. Changes may
// still be recorded (and are kept) after Close.
func (h *History) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	close(h.changed)
}

// Watch serves the MachineRuntime Watch call: it streams the changes after req.from_revision in
// order, sends a WatchProgress after req.progress_interval without a change, and ends with
// OUT_OF_RANGE and a RevisionTooOld detail when the changes right after the revision the stream
// has reached are no longer retained (also when the revision is newer than the current one), so
// that nothing is skipped silently.
func (h *History) Watch(req *runtimev1alpha1.WatchRequest, stream grpc.ServerStreamingServer[runtimev1alpha1.WatchResponse]) error {
	var interval time.Duration
	if req.ProgressInterval != nil {
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
			err := runtimev1alpha1.NewRevisionTooOldError(from, h.compacted, h.revision)
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
		if err := waitForChange(ctx, stream, changed, current, interval); err != nil {
			return err
		}
	}
}

// waitForChange returns when changed is closed, or sends a WatchProgress at current after
// interval (when not 0) without a change.
func waitForChange(ctx context.Context, stream grpc.ServerStreamingServer[runtimev1alpha1.WatchResponse],
	changed <-chan struct{}, current uint64, interval time.Duration) error {
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
		return stream.Send(&runtimev1alpha1.WatchResponse{
			Revision: current,
			Change:   &runtimev1alpha1.WatchResponse_Progress{Progress: &runtimev1alpha1.WatchProgress{}},
		})
	}
}
