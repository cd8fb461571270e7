package history

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	machinev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// Machines is the history of a machine runtime (poollet/runtime/machine/v1alpha1).
type Machines struct {
	*History[*machinev1alpha1.WatchResponse, *machinev1alpha1.Event, machinev1alpha1.EventType]
}

// NewMachines returns an empty machine runtime history at opts.InitialRevision.
func NewMachines(opts Options) Machines {
	return Machines{New(opts, machineSchema)}
}

// Machine records a change of m under a new revision: it sets m.metadata.revision to that
// revision and keeps a copy of m for Watch. It returns the revision.
func (h Machines) Machine(typ machinev1alpha1.ChangeType, m *machinev1alpha1.Machine) uint64 {
	return h.Record(func(revision uint64) *machinev1alpha1.WatchResponse {
		if m.Metadata == nil {
			m.Metadata = &machinev1alpha1.ObjectMetadata{}
		}
		m.Metadata.Revision = revision
		return &machinev1alpha1.WatchResponse{
			Revision: revision,
			Change: &machinev1alpha1.WatchResponse_Machine{Machine: &machinev1alpha1.MachineChange{
				Type:    typ,
				Machine: proto.Clone(m).(*machinev1alpha1.Machine),
			}},
		}
	})
}

var machineSchema = Schema[*machinev1alpha1.WatchResponse, *machinev1alpha1.Event, machinev1alpha1.EventType]{
	NewEvent: func(revision uint64, objectID string, typ machinev1alpha1.EventType, reason, message string, time *timestamppb.Timestamp) *machinev1alpha1.Event {
		return &machinev1alpha1.Event{Revision: revision, MachineId: objectID, Type: typ, Reason: reason, Message: message, Time: time}
	},
	EventObjectID: (*machinev1alpha1.Event).GetMachineId,
	EventChange: func(ev *machinev1alpha1.Event) *machinev1alpha1.WatchResponse {
		return &machinev1alpha1.WatchResponse{Revision: ev.GetRevision(), Change: &machinev1alpha1.WatchResponse_Event{Event: ev}}
	},
	Progress: func(revision uint64) *machinev1alpha1.WatchResponse {
		return &machinev1alpha1.WatchResponse{Revision: revision, Change: &machinev1alpha1.WatchResponse_Progress{Progress: &machinev1alpha1.WatchProgress{}}}
	},
	RevisionTooOld: machinev1alpha1.NewRevisionTooOldError,
}
