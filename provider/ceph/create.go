package ceph

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ceph/go-ceph/rbd"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	api "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/volume/validation"
)

// A create makes the image under its final name and marks it "creating" in its metadata before
// anything else, and marks it "available" after its last step. An image that is not "available"
// is the rest of a create that did not finish (the provider was killed, a step failed): it is
// listed as pending, never as available, and the next CreateVolume of its ID (or the next start
// of the provider) removes it and makes the volume again. So a killed create leaves exactly one
// image once retried. The shared base image of an OCI image is imported under a temporary name
// and renamed when complete (images.go).

// sizeUnit is what volume sizes are rounded up to.
const sizeUnit = 1 << 20

// CreateVolume creates a volume, or returns the one that has the ID.
func (p *Provider) CreateVolume(ctx context.Context, req *api.CreateVolumeRequest) (*api.CreateVolumeResponse, error) {
	if err := validation.Volume(req.GetVolume()); err != nil {
		return nil, err
	}
	in := req.GetVolume()
	id := in.GetMetadata().GetId()
	if in.GetSpec().GetSnapshot() != nil {
		p.snapMu.RLock()
		defer p.snapMu.RUnlock()
	}
	// A create of the ID that is still running (its caller gave up) holds the lock: wait for
	// it as long as this caller waits, then answer with what it made.
	unlock, err := p.locks.lockContext(ctx, id)
	if err != nil {
		return nil, status.FromContextError(err).Err()
	}
	defer unlock()
	if p.isClosed() {
		return nil, errClosed
	}
	if v := p.getVolume(id); v != nil {
		if v.hidden {
			return nil, status.Errorf(codes.FailedPrecondition, "volume %s was deleted; its image is kept for its snapshots", id)
		}
		if v.obj.GetStatus().GetState() != api.VolumeState_VOLUME_STATE_PENDING {
			return &api.CreateVolumeResponse{Volume: v.obj}, nil
		}
		// A create that did not finish: make it again.
	}
	v := &api.Volume{
		Metadata: &api.ObjectMetadata{Id: id, Labels: in.GetMetadata().GetLabels(), CreateTime: timestamppb.New(p.opts.Now())},
		Spec:     clone(in.GetSpec()),
	}
	// The create runs to its end even when its caller stops waiting: a copy into an encrypted
	// volume or an image import can outlast the poollet's runtime timeout, and a create
	// cancelled with each caller would be started again by the next one, and never finish.
	createCtx, cancel := p.detach(ctx)
	defer cancel()
	p.mu.Lock()
	p.creating[id] = cancel
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.creating, id)
		p.mu.Unlock()
	}()
	out, err := p.create(createCtx, v)
	if err != nil {
		return nil, err
	}
	return &api.CreateVolumeResponse{Volume: out, Created: true}, nil
}

// cancelCreate stops the create of id under way, if any: it ends at its next step, leaving an
// image that is not available, which the caller (a delete holding the ID's lock next) removes.
func (p *Provider) cancelCreate(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cancel, ok := p.creating[id]; ok {
		cancel()
	}
}

// createTimeout bounds a create that runs on after its caller gave up (a registry that never
// answers); a later create of the ID makes it again.
const createTimeout = 30 * time.Minute

// detach returns a context with ctx's values that ends when the provider closes or after
// createTimeout, not when ctx ends.
func (p *Provider) detach(ctx context.Context) (context.Context, context.CancelFunc) {
	detached, cancel := context.WithTimeout(context.WithoutCancel(ctx), createTimeout)
	stop := context.AfterFunc(p.closing, cancel)
	return detached, func() {
		stop()
		cancel()
	}
}

// source is where a volume's data comes from.
type source struct {
	image     string // the image (base image or volume image) to clone or copy; "" for none
	snap      string // its snapshot
	size      uint64 // the visible size of the source
	digest    string // the OCI image's manifest digest
	encrypted bool   // the source is an encrypted volume's snapshot: a raw copy
	header    uint64 // its LUKS header bytes
	volumeID  string // the volume whose snapshot it is
}

// create runs every step of a create of v (whose ID's lock the caller holds): it is also the
// redo of a create that did not finish.
func (p *Provider) create(ctx context.Context, v *api.Volume) (*api.Volume, error) {
	id := v.GetMetadata().GetId()
	spec := v.GetSpec()
	size := (spec.GetSizeBytes() + sizeUnit - 1) / sizeUnit * sizeUnit
	src, err := p.resolveSource(ctx, id, spec)
	if err != nil {
		return nil, err
	}
	if size < src.size {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %s: size_bytes %d is smaller than its source's %d bytes", id, spec.GetSizeBytes(), src.size)
	}
	encrypted := spec.GetEncryption().GetFormat() == api.EncryptionFormat_ENCRYPTION_FORMAT_LUKS2 || src.encrypted
	var pass []byte
	switch {
	case src.encrypted:
		// The copy keeps the source's passphrase.
		if pass, err = p.passphrase(src.volumeID); err != nil {
			return nil, err
		}
		if pass == nil {
			return nil, status.Errorf(codes.Internal, "volume %s: the passphrase of volume %s is missing", id, src.volumeID)
		}
		if err := p.storePassphrase(id, pass); err != nil {
			return nil, err
		}
	case encrypted:
		if pass, err = p.ensurePassphrase(id); err != nil {
			return nil, err
		}
	}

	name := p.names.volumeImage(id)
	if err := p.removeHalfImage(id, name); err != nil {
		return nil, err
	}
	if err := p.makeImage(name, size, encrypted, src); err != nil {
		return nil, err
	}
	if err := p.step("created"); err != nil {
		return nil, err
	}
	img, err := rbd.OpenImage(p.conn.ioctx, name, rbd.NoSnapshot)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	defer img.Close()
	record, err := marshalVolume(v)
	if err != nil {
		return nil, err
	}
	meta := map[string]string{metaState: stateCreating, metaVolume: record}
	if src.digest != "" {
		meta[metaImageDigest] = src.digest
	}
	if src.encrypted {
		meta[metaLUKSHeader] = strconv.FormatUint(src.header, 10)
	}
	if err := setMetadata(img, meta); err != nil {
		return nil, err
	}
	p.putVolume(&volume{obj: withStatus(v, &api.VolumeStatus{State: api.VolumeState_VOLUME_STATE_PENDING, Reason: "Creating", Message: "the image is being made"}), image: name})
	if err := p.step("metadata"); err != nil {
		return nil, err
	}

	if err := p.fillImage(ctx, img, size, encrypted, pass, src); err != nil {
		return nil, err
	}
	if err := p.step("content"); err != nil {
		return nil, err
	}
	if err := setQoS(img, spec.GetQos()); err != nil {
		return nil, err
	}
	if err := p.step("qos"); err != nil {
		return nil, err
	}
	if _, err := p.ensureUser(id, img); err != nil {
		return nil, err
	}
	if err := p.step("user"); err != nil {
		return nil, err
	}
	if err := img.SetMetadata(metaState, stateAvailable); err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	// A fresh handle: img may have the encryption loaded, which hides the header's bytes.
	fresh, err := rbd.OpenImage(p.conn.ioctx, name, rbd.NoSnapshot)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	rec, err := readImage(fresh)
	fresh.Close()
	if err != nil {
		return nil, err
	}
	vol, err := p.volumeFromRecord(rec)
	if err != nil {
		return nil, err
	}
	return p.putVolume(vol), nil
}

// step is a point of a create where a test can make it stop as a crash would.
func (p *Provider) step(name string) error {
	if p.opts.crashAfter != nil {
		return p.opts.crashAfter(name)
	}
	return nil
}

// resolveSource finds the data a spec asks for: an imported OCI image, or a snapshot.
func (p *Provider) resolveSource(ctx context.Context, id string, spec *api.VolumeSpec) (*source, error) {
	switch s := spec.GetSource().(type) {
	case *api.VolumeSpec_Image:
		base, err := p.importImage(ctx, id, s.Image.GetImage())
		if err != nil {
			return nil, err
		}
		return &source{image: base.name, snap: baseSnapshot, size: base.size, digest: base.digest}, nil
	case *api.VolumeSpec_Snapshot:
		snap := p.getSnapshot(s.Snapshot.GetSnapshotId())
		if snap == nil {
			return nil, status.Errorf(codes.NotFound, "snapshot %s not found", s.Snapshot.GetSnapshotId())
		}
		parent := p.getVolume(snap.volumeID)
		if parent == nil {
			return nil, status.Errorf(codes.NotFound, "snapshot %s: volume %s not found", s.Snapshot.GetSnapshotId(), snap.volumeID)
		}
		img, err := rbd.OpenImage(p.conn.ioctx, parent.image, rbd.NoSnapshot)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", parent.image, err)
		}
		defer img.Close()
		rec, err := readImage(img)
		if err != nil {
			return nil, err
		}
		// Clones need no protected snapshot in clone format 2; the protection keeps the
		// snapshot from being removed under its clones by hand.
		if err := protect(img, snapshotName(snap.obj.GetMetadata().GetId())); err != nil {
			return nil, err
		}
		return &source{
			image:     parent.image,
			snap:      snapshotName(snap.obj.GetMetadata().GetId()),
			size:      snap.obj.GetStatus().GetSizeBytes(),
			digest:    rec.digest,
			encrypted: rec.header > 0,
			header:    rec.header,
			volumeID:  snap.volumeID,
		}, nil
	}
	return &source{}, nil
}

// removeHalfImage removes what an unfinished create of volume id left under name.
func (p *Provider) removeHalfImage(id, name string) error {
	err := rbd.RemoveImage(p.conn.ioctx, name)
	switch {
	case err == nil:
		p.log.Info("removed the image of an unfinished create", "volume", id, "image", name)
		p.dropVolume(id)
		return nil
	case isNotFound(err):
		return nil
	default:
		return fmt.Errorf("image %s: removing an unfinished create: %w", name, err)
	}
}

// makeImage makes the image under its final name: empty, a clone, or a raw copy of an encrypted
// snapshot. An encrypted image gets room for the LUKS header.
func (p *Provider) makeImage(name string, size uint64, encrypted bool, src *source) error {
	switch {
	case src.encrypted:
		from, err := rbd.OpenImageReadOnly(p.conn.ioctx, src.image, src.snap)
		if err != nil {
			return fmt.Errorf("image %s@%s: %w", src.image, src.snap, err)
		}
		defer from.Close()
		if err := from.Copy(p.conn.ioctx, name); err != nil {
			return fmt.Errorf("copying %s@%s to %s: %w", src.image, src.snap, name, err)
		}
	case src.image != "" && !encrypted:
		opts := rbd.NewRbdImageOptions()
		defer opts.Destroy()
		if err := rbd.CloneImage(p.conn.ioctx, src.image, src.snap, p.conn.ioctx, name, opts); err != nil {
			return fmt.Errorf("cloning %s@%s to %s: %w", src.image, src.snap, name, err)
		}
	default:
		raw := size
		if encrypted {
			raw += luksHeaderBytes
		}
		opts := rbd.NewRbdImageOptions()
		defer opts.Destroy()
		if err := rbd.CreateImage(p.conn.ioctx, name, raw, opts); err != nil {
			return fmt.Errorf("creating %s: %w", name, err)
		}
	}
	return nil
}

// fillImage gives the new image its size and content: a clone grows to the asked size, a new
// encrypted image is formatted and gets the source's data through the encryption, a raw copy of
// an encrypted snapshot grows by what the asked size adds.
func (p *Provider) fillImage(ctx context.Context, img *rbd.Image, size uint64, encrypted bool, pass []byte, src *source) error {
	switch {
	case src.encrypted:
		return growTo(img, size+src.header)
	case src.image != "" && !encrypted:
		return growTo(img, size)
	case encrypted:
		header, err := formatEncrypted(img, pass, size)
		if err != nil {
			return err
		}
		if err := img.SetMetadata(metaLUKSHeader, strconv.FormatUint(header, 10)); err != nil {
			return fmt.Errorf("image %s: %w", img.GetName(), err)
		}
		if src.image == "" {
			return nil
		}
		return p.copyData(ctx, src.image, src.snap, src.size, img)
	}
	return nil
}

// growTo resizes img to size unless it is that big already.
func growTo(img *rbd.Image, size uint64) error {
	cur, err := img.GetSize()
	if err != nil {
		return fmt.Errorf("image %s: size: %w", img.GetName(), err)
	}
	if cur >= size {
		return nil
	}
	if err := img.Resize(size); err != nil {
		return fmt.Errorf("image %s: resizing to %d: %w", img.GetName(), size, err)
	}
	return nil
}

// copyData writes the first n bytes of image@snap into dst, skipping runs of zeros (dst is new,
// and reads of what was never written return zeros, through the encryption as well).
func (p *Provider) copyData(ctx context.Context, image, snap string, n uint64, dst *rbd.Image) error {
	from, err := rbd.OpenImageReadOnly(p.conn.ioctx, image, snap)
	if err != nil {
		return fmt.Errorf("image %s@%s: %w", image, snap, err)
	}
	defer from.Close()
	buf := make([]byte, 4<<20)
	for off := uint64(0); off < n; off += uint64(len(buf)) {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := buf[:min(uint64(len(buf)), n-off)]
		if _, err := from.ReadAt(chunk, int64(off)); err != nil {
			return fmt.Errorf("reading %s@%s at %d: %w", image, snap, off, err)
		}
		if allZero(chunk) {
			continue
		}
		if _, err := dst.WriteAt(chunk, int64(off)); err != nil {
			return fmt.Errorf("writing %s at %d: %w", dst.GetName(), off, err)
		}
	}
	return dst.Flush()
}

// allZero reports whether b holds only zeros.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// setMetadata sets several metadata keys of img.
func setMetadata(img *rbd.Image, meta map[string]string) error {
	for k, v := range meta {
		if err := img.SetMetadata(k, v); err != nil {
			return fmt.Errorf("image %s: metadata %s: %w", img.GetName(), k, err)
		}
	}
	return nil
}

// setQoS sets the volume's limits as librbd config overrides of its image; 0 removes a limit.
func setQoS(img *rbd.Image, qos *api.QoS) error {
	for key, limit := range map[string]uint64{metaQoSIOPS: qos.GetIopsLimit(), metaQoSBPS: qos.GetBytesPerSecondLimit()} {
		var err error
		if limit == 0 {
			err = img.RemoveMetadata(key)
			if isNotFound(err) {
				err = nil
			}
		} else {
			err = img.SetMetadata(key, strconv.FormatUint(limit, 10))
		}
		if err != nil {
			return fmt.Errorf("image %s: %s: %w", img.GetName(), key, err)
		}
	}
	return nil
}

// protect protects a snapshot of img unless it is protected.
func protect(img *rbd.Image, snap string) error {
	s := img.GetSnapshot(snap)
	ok, err := s.IsProtected()
	if err != nil {
		return fmt.Errorf("snapshot %s@%s: %w", img.GetName(), snap, err)
	}
	if ok {
		return nil
	}
	if err := s.Protect(); err != nil && !errors.Is(err, rbd.ErrExist) && !isBusy(err) {
		return fmt.Errorf("snapshot %s@%s: protect: %w", img.GetName(), snap, err)
	}
	return nil
}

// isClosed reports whether Close was called.
func (p *Provider) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}
