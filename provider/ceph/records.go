package ceph

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ceph/go-ceph/rbd"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	api "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// What the provider keeps in a volume image's metadata (rbd image-meta), so that the volumes and
// snapshots can be rebuilt from Ceph alone after a restart.
const (
	// metaState is "creating" until every step of a create is done, then "available";
	// "deleting" once a delete has started. Only "available" images are usable volumes.
	metaState = "ferrite.dev/state"
	// metaDeleted is "true" on the image of a deleted volume kept for its snapshots.
	metaDeleted = "ferrite.dev/deleted"
	// metaVolume is the volume's identity and spec (protojson of a runtime Volume without status).
	metaVolume = "ferrite.dev/volume"
	// metaImageDigest is the manifest digest of the OCI image a volume came from.
	metaImageDigest = "ferrite.dev/image-digest"
	// metaLUKSHeader is the bytes the LUKS2 header takes at the start of an encrypted image:
	// the guest sees the image's size minus these.
	metaLUKSHeader = "ferrite.dev/luks-header-bytes"
	// metaSnapshotPrefix + snapshot ID is a snapshot's identity and size (protojson of a
	// runtime Snapshot).
	metaSnapshotPrefix = "ferrite.dev/snapshot."
	// The QoS limits, as librbd's per-image config overrides.
	metaQoSIOPS = "conf_rbd_qos_iops_limit"
	metaQoSBPS  = "conf_rbd_qos_bps_limit"
)

// Values of metaState.
const (
	stateCreating  = "creating"
	stateAvailable = "available"
	stateDeleting  = "deleting"
)

// imageRecord is what the provider read from one volume image.
type imageRecord struct {
	name     string
	id       string // internal image ID, for caps
	state    string
	hidden   bool
	volume   *api.Volume // identity and spec; nil when the metadata was never written
	digest   string
	header   uint64
	rawSize  uint64
	snaps    map[string]*api.Snapshot // Ferrite snapshots whose RBD snapshot exists, by ID
	orphaned []string                 // snapshot records without an RBD snapshot
}

// readImage reads the record of an open image.
func readImage(img *rbd.Image) (*imageRecord, error) {
	r := &imageRecord{name: img.GetName(), snaps: map[string]*api.Snapshot{}}
	var err error
	if r.id, err = img.GetId(); err != nil {
		return nil, fmt.Errorf("image %s: id: %w", r.name, err)
	}
	if r.rawSize, err = img.GetSize(); err != nil {
		return nil, fmt.Errorf("image %s: size: %w", r.name, err)
	}
	meta, err := img.ListMetadata()
	if err != nil {
		return nil, fmt.Errorf("image %s: metadata: %w", r.name, err)
	}
	r.state = meta[metaState]
	r.hidden = meta[metaDeleted] == "true"
	r.digest = meta[metaImageDigest]
	if h := meta[metaLUKSHeader]; h != "" {
		if r.header, err = strconv.ParseUint(h, 10, 64); err != nil {
			return nil, fmt.Errorf("image %s: %s: %w", r.name, metaLUKSHeader, err)
		}
	}
	if raw := meta[metaVolume]; raw != "" {
		r.volume = &api.Volume{}
		if err := protojson.Unmarshal([]byte(raw), r.volume); err != nil {
			return nil, fmt.Errorf("image %s: %s: %w", r.name, metaVolume, err)
		}
	}
	snaps, err := img.GetSnapshotNames()
	if err != nil {
		return nil, fmt.Errorf("image %s: snapshots: %w", r.name, err)
	}
	rbdSnaps := map[string]bool{}
	for _, s := range snaps {
		rbdSnaps[s.Name] = true
	}
	for k, v := range meta {
		id, ok := strings.CutPrefix(k, metaSnapshotPrefix)
		if !ok {
			continue
		}
		if !rbdSnaps[snapshotName(id)] {
			r.orphaned = append(r.orphaned, id)
			continue
		}
		s := &api.Snapshot{}
		if err := protojson.Unmarshal([]byte(v), s); err != nil {
			return nil, fmt.Errorf("image %s: %s: %w", r.name, k, err)
		}
		s.Status = &api.SnapshotStatus{State: api.SnapshotState_SNAPSHOT_STATE_READY, SizeBytes: s.GetStatus().GetSizeBytes()}
		r.snaps[id] = s
	}
	return r, nil
}

// visibleSize is the size the guest sees.
func (r *imageRecord) visibleSize() uint64 {
	if r.rawSize < r.header {
		return 0
	}
	return r.rawSize - r.header
}

// marshalVolume is the metaVolume value of v: identity and spec, no status or revision.
func marshalVolume(v *api.Volume) (string, error) {
	rec := &api.Volume{
		Metadata: &api.ObjectMetadata{
			Id:         v.GetMetadata().GetId(),
			Labels:     v.GetMetadata().GetLabels(),
			CreateTime: v.GetMetadata().GetCreateTime(),
		},
		Spec: v.GetSpec(),
	}
	b, err := protojson.Marshal(rec)
	return string(b), err
}

// marshalSnapshot is the metadata value of a snapshot record: identity, spec and size.
func marshalSnapshot(s *api.Snapshot) (string, error) {
	rec := &api.Snapshot{
		Metadata: &api.ObjectMetadata{
			Id:         s.GetMetadata().GetId(),
			Labels:     s.GetMetadata().GetLabels(),
			CreateTime: s.GetMetadata().GetCreateTime(),
		},
		Spec:   s.GetSpec(),
		Status: &api.SnapshotStatus{SizeBytes: s.GetStatus().GetSizeBytes()},
	}
	b, err := protojson.Marshal(rec)
	return string(b), err
}

// clone copies a message of the runtime API.
func clone[T proto.Message](m T) T { return proto.Clone(m).(T) }

// protoEqual compares two runtime messages.
func protoEqual(a, b any) bool {
	return proto.Equal(a.(proto.Message), b.(proto.Message))
}
