package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The media types of a Ferrite image (docs/images.md): an OCI image manifest whose artifactType
// and config media type are ConfigMediaType, with one layer per file.
const (
	// ConfigMediaType is the artifact type of a Ferrite image and the media type of its config
	// blob, a JSON Config.
	ConfigMediaType = "application/vnd.ferrite.image.config.v1+json"
	// RootDiskRawMediaType is a root disk as raw bytes.
	RootDiskRawMediaType = "application/vnd.ferrite.image.rootdisk.v1.raw"
	// RootDiskQcow2MediaType is a root disk in qcow2 format, without a backing file.
	RootDiskQcow2MediaType = "application/vnd.ferrite.image.rootdisk.v1.qcow2"
	// KernelMediaType is a Linux kernel for direct boot (bzImage).
	KernelMediaType = "application/vnd.ferrite.image.kernel.v1"
	// InitramfsMediaType is an initramfs for the kernel.
	InitramfsMediaType = "application/vnd.ferrite.image.initramfs.v1"
)

// maxConfigSize bounds the config blob read into memory.
const maxConfigSize = 1 << 20

// Config is the JSON config blob of a Ferrite image.
type Config struct {
	// Cmdline is the kernel command line; only meaningful with a kernel.
	Cmdline string `json:"cmdline,omitempty"`
	// OS is the guest's operating system ("linux"), for information.
	OS string `json:"os,omitempty"`
	// Architecture is the guest's CPU architecture in Go's naming ("amd64", "arm64"); an image
	// for another architecture than the host's is refused. Empty: unknown, not checked.
	Architecture string `json:"architecture,omitempty"`
}

// ErrNotAnImage is wrapped by Pull's errors when the artifact exists but is not a valid Ferrite
// image (another artifact, a container image, an index, a bad layer): retrying will not help.
var ErrNotAnImage = errors.New("not a Ferrite image")

// layers is what a Ferrite manifest holds, each a layer descriptor or nil.
type layers struct {
	config         v1.Descriptor
	rootDisk       *v1.Descriptor
	rootDiskFormat string
	kernel         *v1.Descriptor
	initramfs      *v1.Descriptor
}

// parseManifest checks that raw (of mediaType, as served) is a Ferrite image manifest and
// returns its blobs.
func parseManifest(raw []byte, mediaType types.MediaType) (*layers, error) {
	if mediaType.IsIndex() {
		return nil, fmt.Errorf("%w: it is an image index (%s); push a single Ferrite image manifest", ErrNotAnImage, mediaType)
	}
	if mediaType != types.OCIManifestSchema1 {
		return nil, fmt.Errorf("%w: manifest media type is %q, want %q", ErrNotAnImage, mediaType, types.OCIManifestSchema1)
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrNotAnImage, err)
	}
	if m.Config.MediaType != ConfigMediaType {
		return nil, fmt.Errorf("%w: config media type is %q, want %q", ErrNotAnImage, m.Config.MediaType, ConfigMediaType)
	}
	if m.ArtifactType != "" && m.ArtifactType != ConfigMediaType {
		return nil, fmt.Errorf("%w: artifactType is %q, want %q", ErrNotAnImage, m.ArtifactType, ConfigMediaType)
	}
	if m.Config.Size > maxConfigSize {
		return nil, fmt.Errorf("%w: config is %d bytes, at most %d allowed", ErrNotAnImage, m.Config.Size, maxConfigSize)
	}
	l := &layers{config: m.Config}
	for i := range m.Layers {
		d := &m.Layers[i]
		var slot **v1.Descriptor
		switch d.MediaType {
		case RootDiskRawMediaType, RootDiskQcow2MediaType:
			slot = &l.rootDisk
			l.rootDiskFormat = map[types.MediaType]string{RootDiskRawMediaType: "raw", RootDiskQcow2MediaType: "qcow2"}[d.MediaType]
		case KernelMediaType:
			slot = &l.kernel
		case InitramfsMediaType:
			slot = &l.initramfs
		default:
			return nil, fmt.Errorf("%w: layer %d has unknown media type %q", ErrNotAnImage, i, d.MediaType)
		}
		if *slot != nil {
			return nil, fmt.Errorf("%w: layer %d repeats media type %q", ErrNotAnImage, i, d.MediaType)
		}
		if d.Digest.Algorithm != "sha256" || d.Size < 0 {
			return nil, fmt.Errorf("%w: layer %d has digest %q and size %d; want sha256 and a size", ErrNotAnImage, i, d.Digest, d.Size)
		}
		*slot = d
	}
	if l.rootDisk == nil && l.kernel == nil {
		return nil, fmt.Errorf("%w: it has neither a root disk nor a kernel layer", ErrNotAnImage)
	}
	if l.initramfs != nil && l.kernel == nil {
		return nil, fmt.Errorf("%w: it has an initramfs but no kernel", ErrNotAnImage)
	}
	return l, nil
}

// parseConfig reads a config blob and checks it fits this host.
func parseConfig(raw []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%w: config: %v", ErrNotAnImage, err)
	}
	if c.Architecture != "" && c.Architecture != runtime.GOARCH {
		return nil, fmt.Errorf("%w: config architecture is %q, this host is %q", ErrNotAnImage, c.Architecture, runtime.GOARCH)
	}
	return &c, nil
}
