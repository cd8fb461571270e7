// Package disk creates and resizes the hypervisor's disk files (qcow2) with qemu-img.
package disk

import (
	"context"
	"errors"
)

// CreateOverlay creates path as a qcow2 copy-on-write overlay on backingPath (of backingFormat,
// "raw" or "qcow2"), grown to sizeBytes when that is larger than the base (0: the base's size).
// An existing complete overlay with the same backing is kept.
func CreateOverlay(ctx context.Context, path, backingPath, backingFormat string, sizeBytes uint64) error {
	return errors.New("disk.CreateOverlay: not implemented yet")
}

// CreateEmpty creates path as a blank qcow2 disk of sizeBytes; an existing one is kept.
func CreateEmpty(ctx context.Context, path string, sizeBytes uint64) error {
	return errors.New("disk.CreateEmpty: not implemented yet")
}

// Resize grows the disk at path to sizeBytes; a shrink is an error.
func Resize(ctx context.Context, path string, sizeBytes uint64) error {
	return errors.New("disk.Resize: not implemented yet")
}

// VirtualSize returns the virtual size in bytes of the disk at path.
func VirtualSize(ctx context.Context, path string) (uint64, error) {
	return 0, errors.New("disk.VirtualSize: not implemented yet")
}
