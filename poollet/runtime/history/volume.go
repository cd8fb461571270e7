package history

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	volumev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// Volumes is the history of a volume runtime (poollet/runtime/volume/v1alpha1).
type Volumes struct {
	*History[*volumev1alpha1.WatchResponse, *volumev1alpha1.Event, volumev1alpha1.EventType]
}

// NewVolumes returns an empty volume runtime history at opts.InitialRevision.
func NewVolumes(opts Options) Volumes {
	return Volumes{New(opts, volumeSchema)}
}

// Volume records a change of v under a new revision: it sets v.metadata.revision to that
// revision and keeps a copy of v for Watch. It returns the revision.
func (h Volumes) Volume(typ volumev1alpha1.ChangeType, v *volumev1alpha1.Volume) uint64 {
	return h.Record(func(revision uint64) *volumev1alpha1.WatchResponse {
		if v.Metadata == nil {
			v.Metadata = &volumev1alpha1.ObjectMetadata{}
		}
		v.Metadata.Revision = revision
		return &volumev1alpha1.WatchResponse{
			Revision: revision,
			Change: &volumev1alpha1.WatchResponse_Volume{Volume: &volumev1alpha1.VolumeChange{
				Type:   typ,
				Volume: proto.Clone(v).(*volumev1alpha1.Volume),
			}},
		}
	})
}

// Snapshot records a change of s under a new revision: it sets s.metadata.revision to that
// revision and keeps a copy of s for Watch. It returns the revision.
func (h Volumes) Snapshot(typ volumev1alpha1.ChangeType, s *volumev1alpha1.Snapshot) uint64 {
	return h.Record(func(revision uint64) *volumev1alpha1.WatchResponse {
		if s.Metadata == nil {
			s.Metadata = &volumev1alpha1.ObjectMetadata{}
		}
		s.Metadata.Revision = revision
		return &volumev1alpha1.WatchResponse{
			Revision: revision,
			Change: &volumev1alpha1.WatchResponse_Snapshot{Snapshot: &volumev1alpha1.SnapshotChange{
				Type:     typ,
				Snapshot: proto.Clone(s).(*volumev1alpha1.Snapshot),
			}},
		}
	})
}

var volumeSchema = Schema[*volumev1alpha1.WatchResponse, *volumev1alpha1.Event, volumev1alpha1.EventType]{
	NewEvent: func(revision uint64, objectID string, typ volumev1alpha1.EventType, reason, message string, time *timestamppb.Timestamp) *volumev1alpha1.Event {
		return &volumev1alpha1.Event{Revision: revision, ObjectId: objectID, Type: typ, Reason: reason, Message: message, Time: time}
	},
	EventObjectID: (*volumev1alpha1.Event).GetObjectId,
	EventChange: func(ev *volumev1alpha1.Event) *volumev1alpha1.WatchResponse {
		return &volumev1alpha1.WatchResponse{Revision: ev.GetRevision(), Change: &volumev1alpha1.WatchResponse_Event{Event: ev}}
	},
	Progress: func(revision uint64) *volumev1alpha1.WatchResponse {
		return &volumev1alpha1.WatchResponse{Revision: revision, Change: &volumev1alpha1.WatchResponse_Progress{Progress: &volumev1alpha1.WatchProgress{}}}
	},
	RevisionTooOld: volumev1alpha1.NewRevisionTooOldError,
}
