// Package fake is an in-memory volume runtime: a VolumeRuntime gRPC server that keeps volumes and
// snapshots in memory and behaves as the interface requires of a real provider — idempotent
// creates by the caller's ID, a revision for every change, Watch with resume and RevisionTooOld,
// volumes from images and snapshots, expand that refuses a shrink, deletes that keep snapshots
// working, and capacity accounting. The volumepoollet's tests run against it.
//
// Its access information looks like ceph-provider's (driver "ceph", handle "pool/image", a key
// per volume and a passphrase per encrypted volume), so consumers can be tested against it.
// Hooks let a test fail calls (before or after they take effect), fail a volume, and change the
// backend's usage.
package fake

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ferrite-dev/ferrite/poollet/runtime/history"
	"github.com/ferrite-dev/ferrite/poollet/runtime/socket"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// RuntimeName is what Version reports as the runtime's name.
const RuntimeName = "fake"

// Image is an OCI image the fake can create volumes from.
type Image struct {
	// Digest is the manifest digest reported in the volume's status.
	Digest string
	// SizeBytes is the size of the image's disk: the smallest volume made from it.
	SizeBytes uint64
}

// Options configure a Server. The zero value is usable: every field has a default.
type Options struct {
	// Pool is the pool name in the access information. Default "fake".
	Pool string
	// Monitors is the monitors attribute of the access information. Default "127.0.0.1:6789".
	Monitors string
	// TotalBytes is the backend's physical size. Default 1 TiB.
	TotalBytes uint64
	// UsedBytes is the physical usage reported by Status (SetUsedBytes changes it).
	UsedBytes uint64
	// ProvisionLimitBytes, when not 0, is the most bytes the volumes may be given together: a
	// create or expand beyond it fails with RESOURCE_EXHAUSTED.
	ProvisionLimitBytes uint64
	// RoundBytes is the unit volume sizes are rounded up to. Default 1 MiB.
	RoundBytes uint64
	// Images are the images volumes can be created from, by reference (AddImage adds more).
	Images map[string]Image
	// AvailableDelay is how long a new volume stays pending (reason "Creating", or
	// "ImageImporting" for an image) before it becomes available. 0: available at once.
	AvailableDelay time.Duration
	// HistoryLimit is how many changes Watch can replay. Default 1000.
	HistoryLimit int
	// EventLimit is how many events ListEvents returns at most. Default 1000.
	EventLimit int
	// InitialRevision is the revision of the empty runtime; the first change gets the next one.
	InitialRevision uint64
	// Now is the clock for timestamps. Default time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.Pool == "" {
		o.Pool = "fake"
	}
	if o.Monitors == "" {
		o.Monitors = "127.0.0.1:6789"
	}
	if o.TotalBytes == 0 {
		o.TotalBytes = 1 << 40
	}
	if o.RoundBytes == 0 {
		o.RoundBytes = 1 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Server is the in-memory runtime. Register it on a grpc.Server (Register) or let Serve do both.
type Server struct {
	runtimev1alpha1.UnimplementedVolumeRuntimeServer

	opts Options
	// history numbers and retains the changes. Changes are recorded under mu, so a list and its
	// revision agree.
	history history.Volumes

	mu        sync.Mutex
	images    map[string]Image
	volumes   map[string]*volume
	snapshots map[string]*snapshot
	failures  map[string][]failure
	closed    bool
}

// volume is a stored volume and its secrets.
type volume struct {
	v          *runtimev1alpha1.Volume
	key        []byte
	passphrase []byte
	// pending is the timer that makes the volume available; nil when none.
	pending *time.Timer
}

// snapshot is a stored snapshot with what a volume restored from it inherits.
type snapshot struct {
	s          *runtimev1alpha1.Snapshot
	encryption runtimev1alpha1.EncryptionFormat
	passphrase []byte
	digest     string
}

// New returns a runtime with no volumes.
func New(opts Options) *Server {
	opts.setDefaults()
	images := map[string]Image{}
	for ref, img := range opts.Images {
		images[ref] = img
	}
	return &Server{
		opts: opts,
		history: history.NewVolumes(history.Options{
			Limit:           opts.HistoryLimit,
			EventLimit:      opts.EventLimit,
			InitialRevision: opts.InitialRevision,
			Now:             opts.Now,
		}),
		images:    images,
		volumes:   map[string]*volume{},
		snapshots: map[string]*snapshot{},
		failures:  map[string][]failure{},
	}
}

// Register registers s on a gRPC server.
func (s *Server) Register(registrar grpc.ServiceRegistrar) {
	runtimev1alpha1.RegisterVolumeRuntimeServer(registrar, s)
}

// Serve serves s on a new unix socket at path (removing a stale socket file first) until the
// returned stop function is called; stop also ends s's timers and open streams.
func (s *Server) Serve(path string) (stop func(), err error) {
	return socket.Serve(path, s.Register, s.Close)
}

// Close stops s's timers and ends its Watch streams. Calls after Close fail with UNAVAILABLE.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for _, v := range s.volumes {
		if v.pending != nil {
			v.pending.Stop()
		}
	}
	s.history.Close()
}

func (s *Server) openLocked() error {
	if s.closed {
		return status.Error(codes.Unavailable, "runtime stopped")
	}
	return nil
}

func (s *Server) now() *timestamppb.Timestamp { return timestamppb.New(s.opts.Now()) }

// round rounds a size up to the fake's unit.
func (s *Server) round(size uint64) uint64 {
	return (size + s.opts.RoundBytes - 1) / s.opts.RoundBytes * s.opts.RoundBytes
}

// provisionedLocked is the sum of the sizes of all volumes.
func (s *Server) provisionedLocked() uint64 {
	var sum uint64
	for _, v := range s.volumes {
		sum += v.v.GetStatus().GetSizeBytes()
	}
	return sum
}

// reserveLocked fails with RESOURCE_EXHAUSTED when adding bytes would exceed the provision limit.
func (s *Server) reserveLocked(bytes uint64) error {
	if limit := s.opts.ProvisionLimitBytes; limit > 0 && s.provisionedLocked()+bytes > limit {
		return status.Errorf(codes.ResourceExhausted, "no room for %d more bytes: %d of %d provisioned", bytes, s.provisionedLocked(), limit)
	}
	return nil
}

func (s *Server) volumeEventLocked(id string, typ runtimev1alpha1.EventType, reason, format string, args ...any) {
	s.history.Event(id, typ, reason, format, args...)
}

func cloneVolume(v *volume) *runtimev1alpha1.Volume {
	return proto.Clone(v.v).(*runtimev1alpha1.Volume)
}

func cloneSnapshot(sn *snapshot) *runtimev1alpha1.Snapshot {
	return proto.Clone(sn.s).(*runtimev1alpha1.Snapshot)
}

// randomSecret returns n random bytes, base64-encoded like a cephx key.
func randomSecret(n int) []byte {
	raw := make([]byte, n)
	_, _ = rand.Read(raw)
	return []byte(base64.StdEncoding.EncodeToString(raw))
}

// Version reports the fake's name.
func (s *Server) Version(_ context.Context, _ *runtimev1alpha1.VersionRequest) (*runtimev1alpha1.VersionResponse, error) {
	return &runtimev1alpha1.VersionResponse{Version: "v1alpha1", RuntimeName: RuntimeName, RuntimeVersion: "v1alpha1"}, nil
}
