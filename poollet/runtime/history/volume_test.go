package history_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/ferrite-dev/ferrite/poollet/runtime/history"
	volumev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// volumeStream is a volume Watch stream that hands every change to a channel.
type volumeStream struct {
	grpc.ServerStream
	ctx  context.Context
	sent chan *volumev1alpha1.WatchResponse
}

func (s *volumeStream) Context() context.Context { return s.ctx }

func (s *volumeStream) Send(c *volumev1alpha1.WatchResponse) error {
	s.sent <- c
	return nil
}

func TestVolumeChangesAndTooOld(t *testing.T) {
	h := history.NewVolumes(history.Options{InitialRevision: 7, Limit: 3})
	v := &volumev1alpha1.Volume{Metadata: &volumev1alpha1.ObjectMetadata{Id: "v"}}
	if rev := h.Volume(volumev1alpha1.ChangeType_CHANGE_TYPE_ADDED, v); rev != 8 || v.Metadata.Revision != 8 {
		t.Fatalf("volume at %d (volume says %d), want 8", rev, v.Metadata.Revision)
	}
	s := &volumev1alpha1.Snapshot{Spec: &volumev1alpha1.SnapshotSpec{VolumeId: "v"}}
	if rev := h.Snapshot(volumev1alpha1.ChangeType_CHANGE_TYPE_ADDED, s); rev != 9 || s.GetMetadata().GetRevision() != 9 {
		t.Fatalf("snapshot at %d, want 9", rev)
	}
	h.Event("v", volumev1alpha1.EventType_EVENT_TYPE_WARNING, "Flattened", "clone %s flattened", "w")
	if events, rev := h.Events("v", 0); rev != 10 || len(events) != 1 || events[0].GetObjectId() != "v" || events[0].GetMessage() != "clone w flattened" {
		t.Fatalf("events: %v at %d", events, rev)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream := &volumeStream{ctx: ctx, sent: make(chan *volumev1alpha1.WatchResponse, 10)}
	result := make(chan error, 1)
	go func() { result <- h.Watch(&volumev1alpha1.WatchRequest{FromRevision: 8}, stream) }()
	if c := <-stream.sent; c.GetSnapshot().GetSnapshot().GetSpec().GetVolumeId() != "v" || c.GetRevision() != 9 {
		t.Fatalf("first change after 8: %v", c)
	}
	if c := <-stream.sent; c.GetEvent().GetReason() != "Flattened" {
		t.Fatalf("second change after 8: %v", c)
	}
	h.Volume(volumev1alpha1.ChangeType_CHANGE_TYPE_DELETED, v)
	if c := <-stream.sent; c.GetVolume().GetType() != volumev1alpha1.ChangeType_CHANGE_TYPE_DELETED || c.GetRevision() != 11 {
		t.Fatalf("live change: %v", c)
	}
	cancel()
	<-result

	// 8 was dropped (limit 3), so a watch from 7 cannot continue.
	err := h.Watch(&volumev1alpha1.WatchRequest{FromRevision: 7}, &volumeStream{ctx: context.Background()})
	if tooOld, ok := volumev1alpha1.AsRevisionTooOld(err); !ok || tooOld.GetOldestRevision() != 8 || tooOld.GetCurrentRevision() != 11 {
		t.Fatalf("watch from 7: %v", err)
	}
}
