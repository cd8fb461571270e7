package image

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// qcow2Magic starts every qcow2 file.
var qcow2Magic = []byte{'Q', 'F', 'I', 0xfb}

// isQcow2 reports whether the header bytes start with qcow2's magic.
func isQcow2(header []byte) bool {
	return len(header) >= 4 && string(header[:4]) == string(qcow2Magic)
}

// qcow2VirtualSize reads a qcow2 header and returns the disk's virtual size. It refuses a file
// with a backing file or an external data file: either would make the hypervisor open a host
// path named by the image's author.
func qcow2VirtualSize(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	h := make([]byte, 80)
	n, err := io.ReadFull(f, h)
	if err != nil && n < 32 {
		return 0, fmt.Errorf("%w: qcow2 root disk is too short for a header", ErrNotAnImage)
	}
	if !isQcow2(h) {
		return 0, fmt.Errorf("%w: root disk is not qcow2 (no qcow2 magic)", ErrNotAnImage)
	}
	version := binary.BigEndian.Uint32(h[4:8])
	if version != 2 && version != 3 {
		return 0, fmt.Errorf("%w: qcow2 root disk has version %d, want 2 or 3", ErrNotAnImage, version)
	}
	if binary.BigEndian.Uint64(h[8:16]) != 0 {
		return 0, fmt.Errorf("%w: qcow2 root disk names a backing file", ErrNotAnImage)
	}
	if version == 3 {
		if n < 80 {
			return 0, fmt.Errorf("%w: qcow2 root disk is too short for a version 3 header", ErrNotAnImage)
		}
		const externalDataFile = 1 << 2
		if binary.BigEndian.Uint64(h[72:80])&externalDataFile != 0 {
			return 0, fmt.Errorf("%w: qcow2 root disk uses an external data file", ErrNotAnImage)
		}
	}
	return binary.BigEndian.Uint64(h[24:32]), nil
}
