// Package disk creates and resizes the hypervisor's disk files (qcow2) with qemu-img.
//
// Every create writes a temporary file beside the final one and renames it into place, so a
// crash never leaves a broken disk under the final name, and a second call with the same
// arguments finds the first one's disk and keeps it.
package disk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// QemuImg is the qemu-img binary to run.
var QemuImg = "qemu-img"

// CreateOverlay creates path as a qcow2 copy-on-write overlay on backingPath (of backingFormat,
// "raw" or "qcow2"), of sizeBytes when that is larger than the base's virtual size (0: the base's
// size). An existing overlay on the same backing file is kept, and grown when smaller than
// sizeBytes; an existing file of another kind or on another backing is an error, never replaced.
func CreateOverlay(ctx context.Context, path, backingPath, backingFormat string, sizeBytes uint64) error {
	if backingFormat != "raw" && backingFormat != "qcow2" {
		return fmt.Errorf("disk: backing format %q of %s is neither raw nor qcow2", backingFormat, backingPath)
	}
	if !filepath.IsAbs(backingPath) {
		return fmt.Errorf("disk: backing path %q is not absolute", backingPath)
	}
	existing, err := info(ctx, path, "qcow2")
	if err == nil {
		if existing.BackingFilename != backingPath || existing.BackingFormat != backingFormat {
			return fmt.Errorf("disk: %s exists on backing %s (%s), not on %s (%s)", path,
				existing.BackingFilename, existing.BackingFormat, backingPath, backingFormat)
		}
		return growTo(ctx, path, existing.VirtualSize, sizeBytes)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	base, err := info(ctx, backingPath, backingFormat)
	if err != nil {
		return err
	}
	args := []string{"create", "-q", "-f", "qcow2", "-F", backingFormat, "-b", backingPath}
	if sizeBytes > base.VirtualSize {
		args = append(args, "", strconv.FormatUint(sizeBytes, 10))
	} else {
		args = append(args, "")
	}
	return createAtomically(ctx, path, args)
}

// CreateEmpty creates path as a blank qcow2 disk of sizeBytes. An existing qcow2 disk without a
// backing file is kept, and grown when smaller than sizeBytes.
func CreateEmpty(ctx context.Context, path string, sizeBytes uint64) error {
	if sizeBytes == 0 {
		return fmt.Errorf("disk: size of %s is 0", path)
	}
	existing, err := info(ctx, path, "qcow2")
	if err == nil {
		if existing.BackingFilename != "" {
			return fmt.Errorf("disk: %s exists as an overlay on %s, not as an empty disk", path, existing.BackingFilename)
		}
		return growTo(ctx, path, existing.VirtualSize, sizeBytes)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return createAtomically(ctx, path, []string{"create", "-q", "-f", "qcow2", "", strconv.FormatUint(sizeBytes, 10)})
}

// Resize grows the qcow2 disk at path to sizeBytes; the same size is a no-op and a smaller one an
// error naming both sizes. The disk must not be in use by a running guest (use the hypervisor's
// own block resize for that).
func Resize(ctx context.Context, path string, sizeBytes uint64) error {
	existing, err := info(ctx, path, "qcow2")
	if err != nil {
		return err
	}
	if sizeBytes < existing.VirtualSize {
		return fmt.Errorf("disk: cannot shrink %s from %d to %d bytes", path, existing.VirtualSize, sizeBytes)
	}
	return growTo(ctx, path, existing.VirtualSize, sizeBytes)
}

// VirtualSize returns the virtual size in bytes of the disk at path (raw or qcow2, probed).
func VirtualSize(ctx context.Context, path string) (uint64, error) {
	i, err := info(ctx, path, "")
	if err != nil {
		return 0, err
	}
	return i.VirtualSize, nil
}

func growTo(ctx context.Context, path string, current, want uint64) error {
	if want <= current {
		return nil
	}
	_, err := run(ctx, QemuImg, "resize", "-q", "-f", "qcow2", path, strconv.FormatUint(want, 10))
	return err
}

// createAtomically runs qemu-img with args, where the empty argument stands for the file to
// create: a temporary name that is synced and renamed to path once qemu-img succeeded.
func createAtomically(ctx context.Context, path string, args []string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name()) // a no-op after the rename
	for i, a := range args {
		if a == "" {
			args[i] = tmp.Name()
		}
	}
	if _, err := run(ctx, QemuImg, args...); err != nil {
		return err
	}
	if err := syncFile(tmp.Name()); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	return syncFile(filepath.Dir(path))
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("disk: syncing %s: %w", path, err)
	}
	return nil
}

type imageInfo struct {
	Format          string `json:"format"`
	VirtualSize     uint64 `json:"virtual-size"`
	BackingFilename string `json:"backing-filename"`
	BackingFormat   string `json:"backing-filename-format"`
}

// info reads qemu-img's description of path, opened as format ("" probes; only for files the
// host wrote itself, since a guest-written raw disk could pose as another format). A missing
// file is an error wrapping os.ErrNotExist.
func info(ctx context.Context, path, format string) (*imageInfo, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	args := []string{"info", "--output=json", "-U"}
	if format != "" {
		args = append(args, "-f", format)
	}
	out, err := run(ctx, QemuImg, append(args, path)...)
	if err != nil {
		return nil, err
	}
	var i imageInfo
	if err := json.Unmarshal(out, &i); err != nil {
		return nil, fmt.Errorf("disk: reading qemu-img info of %s: %w", path, err)
	}
	return &i, nil
}

func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("disk: %s %v: %w: %s", name, args, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}
