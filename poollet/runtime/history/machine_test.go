package history_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ferrite-dev/ferrite/poollet/runtime/history"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// stream is a Watch stream that hands every change to a channel.
type stream struct {
	grpc.ServerStream
	ctx  context.Context
	sent chan *runtimev1alpha1.WatchResponse
}

func (s *stream) Context() context.Context { return s.ctx }

func (s *stream) Send(c *runtimev1alpha1.WatchResponse) error {
	s.sent <- c
	return nil
}

func watch(t *testing.T, h history.Machines, req *runtimev1alpha1.WatchRequest) (*stream, chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	s := &stream{ctx: ctx, sent: make(chan *runtimev1alpha1.WatchResponse, 100)}
	result := make(chan error, 1)
	go func() { result <- h.Watch(req, s) }()
	return s, result
}

func machine(id string) *runtimev1alpha1.Machine {
	return &runtimev1alpha1.Machine{Metadata: &runtimev1alpha1.ObjectMetadata{Id: id}}
}

func TestRevisionsEventsAndResume(t *testing.T) {
	h := history.NewMachines(history.Options{InitialRevision: 100, EventLimit: 2})
	m := machine("a")
	if rev := h.Machine(runtimev1alpha1.ChangeType_CHANGE_TYPE_ADDED, m); rev != 101 || m.Metadata.Revision != 101 {
		t.Fatalf("first change at %d (machine says %d), want 101", rev, m.Metadata.Revision)
	}
	for _, reason := range []string{"Created", "Started", "Stopped"} {
		h.Event("a", runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, reason, "machine %s %s", "a", reason)
	}
	h.Event("b", runtimev1alpha1.EventType_EVENT_TYPE_WARNING, "Failed", "b failed")
	// Only the last two events are retained; the filter selects a's.
	events, rev := h.Events("a", 0)
	if rev != 105 || len(events) != 1 || events[0].GetReason() != "Stopped" || events[0].GetRevision() != 104 {
		t.Fatalf("events of a: %v at %d", events, rev)
	}
	if events, _ := h.Events("", 104); len(events) != 1 || events[0].GetMachineId() != "b" {
		t.Fatalf("events after 104: %v", events)
	}

	// A watch from 102 gets 103..105 in order, then waits.
	s, _ := watch(t, h, &runtimev1alpha1.WatchRequest{FromRevision: 102})
	for want := uint64(103); want <= 105; want++ {
		if c := <-s.sent; c.GetRevision() != want {
			t.Fatalf("got revision %d, want %d", c.GetRevision(), want)
		}
	}
	h.Machine(runtimev1alpha1.ChangeType_CHANGE_TYPE_DELETED, m)
	if c := <-s.sent; c.GetRevision() != 106 || c.GetMachine().GetType() != runtimev1alpha1.ChangeType_CHANGE_TYPE_DELETED {
		t.Fatalf("live change: %v", c)
	}
}

func TestRevisionTooOldProgressAndClose(t *testing.T) {
	h := history.NewMachines(history.Options{InitialRevision: 10, Limit: 2})
	expectTooOld := func(from uint64) {
		t.Helper()
		_, result := watch(t, h, &runtimev1alpha1.WatchRequest{FromRevision: from})
		if _, ok := runtimev1alpha1.AsRevisionTooOld(<-result); !ok {
			t.Fatalf("watch from %d: want RevisionTooOld", from)
		}
	}
	// A revision from before the initial one (a runtime that restarted) and one from the future.
	expectTooOld(9)
	expectTooOld(11)
	for range 3 {
		h.Machine(runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED, machine("a"))
	}
	expectTooOld(10) // 11 was dropped
	s, result := watch(t, h, &runtimev1alpha1.WatchRequest{FromRevision: 13, ProgressInterval: durationpb.New(time.Second)})
	if c := <-s.sent; c.GetProgress() == nil || c.GetRevision() != 13 {
		t.Fatalf("got %v, want progress at 13", c)
	}
	h.Close()
	if err := <-result; status.Code(err) != codes.Unavailable {
		t.Fatalf("watch after close: %v, want Unavailable", err)
	}
	_, result = watch(t, h, &runtimev1alpha1.WatchRequest{FromRevision: 13, ProgressInterval: durationpb.New(time.Millisecond)})
	if err := <-result; status.Code(err) != codes.InvalidArgument && status.Code(err) != codes.Unavailable {
		t.Fatalf("watch with a short interval: %v", err)
	}
}
