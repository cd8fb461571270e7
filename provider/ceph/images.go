package ceph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/ceph/go-ceph/rbd"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	api "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/provider/disk"
	"github.com/ferrite-dev/ferrite/provider/image"
)

// An OCI image's root disk is imported once per manifest digest into the image
// ferrite-image-<digest hex> with the protected snapshot "base" that volumes are cloned from.
// The import writes ferrite-importing-<hex> and renames it when its data and snapshot are
// complete, so a base image under its final name is always whole; a crash leaves the temporary
// image, which the next import (or the next start) removes.

// baseImage is an imported OCI image.
type baseImage struct {
	name   string // RBD image
	digest string // manifest digest
	size   uint64 // the root disk's size
}

// importImage pulls ref (for volume volumeID, whom its event names) and imports its root disk unless that digest is imported already.
// Concurrent imports of one digest import once.
func (p *Provider) importImage(ctx context.Context, volumeID, ref string) (*baseImage, error) {
	if p.opts.Images == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "image %s: the provider has no image cache", ref)
	}
	pulled, err := p.opts.Images.Pull(ctx, ref)
	switch {
	case image.IsNotFound(err):
		return nil, status.Errorf(codes.NotFound, "%v", err)
	case errors.Is(err, image.ErrNotAnImage):
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	case err != nil:
		return nil, status.Errorf(codes.Unavailable, "%v", err)
	}
	if pulled.RootDisk == "" {
		return nil, status.Errorf(codes.InvalidArgument, "image %s has no root disk", ref)
	}
	hex := strings.TrimPrefix(pulled.Digest, "sha256:")
	base := &baseImage{name: p.names.baseImage(hex), digest: pulled.Digest, size: pulled.RootDiskSize}
	unlock := p.locks.lock("image:" + hex)
	defer unlock()
	if done, err := p.baseReady(base.name); err != nil || done {
		return base, err
	}
	if err := p.writeBase(ctx, pulled, hex); err != nil {
		return nil, err
	}
	p.event(volumeID, api.EventType_EVENT_TYPE_NORMAL, "ImageImported", "image %s (%s) imported into %s", ref, pulled.Digest, base.name)
	return base, nil
}

// baseReady reports whether the base image exists with its snapshot protected.
func (p *Provider) baseReady(name string) (bool, error) {
	img, err := rbd.OpenImage(p.conn.ioctx, name, rbd.NoSnapshot)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("image %s: %w", name, err)
	}
	defer img.Close()
	return true, protect(img, baseSnapshot)
}

// writeBase writes the root disk into a temporary image, snapshots it and renames it.
func (p *Provider) writeBase(ctx context.Context, pulled *image.Image, hex string) error {
	tmp := p.names.importingImage(hex)
	if err := p.removeImport(tmp); err != nil {
		return err
	}
	path := pulled.RootDisk
	if pulled.RootDiskFormat == "qcow2" {
		raw, err := p.convertToRaw(ctx, path)
		if err != nil {
			return err
		}
		defer os.Remove(raw)
		path = raw
	}
	opts := rbd.NewRbdImageOptions()
	defer opts.Destroy()
	if err := rbd.CreateImage(p.conn.ioctx, tmp, pulled.RootDiskSize, opts); err != nil {
		return fmt.Errorf("image %s: create: %w", tmp, err)
	}
	img, err := rbd.OpenImage(p.conn.ioctx, tmp, rbd.NoSnapshot)
	if err != nil {
		return fmt.Errorf("image %s: %w", tmp, err)
	}
	defer img.Close()
	if err := writeFile(ctx, img, path, pulled.RootDiskSize); err != nil {
		return err
	}
	if err := img.SetMetadata(metaImageDigest, pulled.Digest); err != nil {
		return fmt.Errorf("image %s: %w", tmp, err)
	}
	snap, err := img.CreateSnapshot(baseSnapshot)
	if err != nil {
		return fmt.Errorf("image %s: snapshot: %w", tmp, err)
	}
	if err := snap.Protect(); err != nil {
		return fmt.Errorf("image %s@%s: protect: %w", tmp, baseSnapshot, err)
	}
	if err := p.step("import"); err != nil {
		return err
	}
	if err := img.Rename(p.names.baseImage(hex)); err != nil {
		return fmt.Errorf("image %s: rename: %w", tmp, err)
	}
	return nil
}

// convertToRaw converts a qcow2 root disk to a temporary raw file with qemu-img.
func (p *Provider) convertToRaw(ctx context.Context, path string) (string, error) {
	f, err := os.CreateTemp(p.opts.TmpDir, "ferrite-import-*.raw")
	if err != nil {
		return "", err
	}
	f.Close()
	cmd := exec.CommandContext(ctx, disk.QemuImg, "convert", "-q", "-f", "qcow2", "-O", "raw", path, f.Name())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("converting %s to raw: %w: %s", path, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return f.Name(), nil
}

// writeFile copies the first size bytes of path into img, skipping runs of zeros (img is new).
func writeFile(ctx context.Context, img *rbd.Image, path string, size uint64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 4<<20)
	for off := uint64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := io.ReadFull(f, buf[:min(uint64(len(buf)), size-off)])
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		if n == 0 {
			break
		}
		if !allZero(buf[:n]) {
			if _, err := img.WriteAt(buf[:n], int64(off)); err != nil {
				return fmt.Errorf("writing %s at %d: %w", img.GetName(), off, err)
			}
		}
		off += uint64(n)
	}
	return img.Flush()
}

// removeImport removes a temporary import image and its snapshot.
func (p *Provider) removeImport(name string) error {
	img, err := rbd.OpenImage(p.conn.ioctx, name, rbd.NoSnapshot)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("image %s: %w", name, err)
	}
	snap := img.GetSnapshot(baseSnapshot)
	if ok, err := snap.IsProtected(); err == nil && ok {
		err = snap.Unprotect()
		if err != nil {
			img.Close()
			return fmt.Errorf("image %s@%s: unprotect: %w", name, baseSnapshot, err)
		}
	}
	if err := snap.Remove(); err != nil && !isNotFound(err) {
		img.Close()
		return fmt.Errorf("image %s@%s: remove: %w", name, baseSnapshot, err)
	}
	img.Close()
	if err := rbd.RemoveImage(p.conn.ioctx, name); err != nil && !isNotFound(err) {
		return fmt.Errorf("image %s: removing an unfinished import: %w", name, err)
	}
	return nil
}
