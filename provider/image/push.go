package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// PushFiles names what a pushed image holds: a root disk (raw or qcow2, told apart by qcow2's
// magic) and/or a kernel with an optional initramfs and command line.
type PushFiles struct {
	RootDisk  string
	Kernel    string
	Initramfs string
	Cmdline   string
}

// PushOption configures Push.
type PushOption func(*pushOptions)

type pushOptions struct {
	plainHTTP    bool
	architecture string
	keychain     authn.Keychain
}

// WithPlainHTTP makes Push speak plain HTTP to the reference's registry (a local registry).
func WithPlainHTTP() PushOption {
	return func(o *pushOptions) { o.plainHTTP = true }
}

// WithArchitecture records the guest's architecture (Go's naming: "amd64") in the image config;
// hosts of another architecture then refuse the image. Without it the image says nothing.
func WithArchitecture(arch string) PushOption {
	return func(o *pushOptions) { o.architecture = arch }
}

// WithKeychain sets where Push finds registry credentials (default authn.DefaultKeychain).
func WithKeychain(k authn.Keychain) PushOption {
	return func(o *pushOptions) { o.keychain = k }
}

// Push builds a Ferrite image from files and pushes it to ref; it returns the manifest digest.
// Blobs the registry already has are not uploaded again.
func Push(ctx context.Context, ref string, files PushFiles, opts ...PushOption) (digest string, err error) {
	o := pushOptions{keychain: authn.DefaultKeychain}
	for _, opt := range opts {
		opt(&o)
	}
	var nameOpts []name.Option
	if o.plainHTTP {
		nameOpts = append(nameOpts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nameOpts...)
	if err != nil {
		return "", fmt.Errorf("image push: reference %q: %w", ref, err)
	}
	if files.RootDisk == "" && files.Kernel == "" {
		return "", errors.New("image push: a root disk or a kernel is required")
	}
	if files.Kernel == "" && (files.Initramfs != "" || files.Cmdline != "") {
		return "", errors.New("image push: an initramfs or a command line needs a kernel")
	}
	var layers []*fileLayer
	if files.RootDisk != "" {
		mediaType := types.MediaType(RootDiskRawMediaType)
		qcow2, err := fileIsQcow2(files.RootDisk)
		if err != nil {
			return "", fmt.Errorf("image push: root disk: %w", err)
		}
		if qcow2 {
			mediaType = RootDiskQcow2MediaType
			if _, err := qcow2VirtualSize(files.RootDisk); err != nil {
				return "", fmt.Errorf("image push: root disk %s: %w", files.RootDisk, err)
			}
		}
		l, err := newFileLayer(files.RootDisk, mediaType)
		if err != nil {
			return "", err
		}
		layers = append(layers, l)
	}
	for _, f := range []struct {
		path      string
		mediaType types.MediaType
	}{{files.Kernel, KernelMediaType}, {files.Initramfs, InitramfsMediaType}} {
		if f.path == "" {
			continue
		}
		l, err := newFileLayer(f.path, f.mediaType)
		if err != nil {
			return "", err
		}
		layers = append(layers, l)
	}
	config, err := json.Marshal(Config{Cmdline: files.Cmdline, OS: "linux", Architecture: o.architecture})
	if err != nil {
		return "", err
	}
	remoteOpts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(o.keychain)}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  ConfigMediaType,
		Config:        v1.Descriptor{MediaType: ConfigMediaType, Size: int64(len(config)), Digest: mustHash(sha256Digest(config))},
	}
	configLayer := &fileLayer{data: config, digest: m.Config.Digest, size: m.Config.Size, mediaType: ConfigMediaType}
	for _, l := range append([]*fileLayer{configLayer}, layers...) {
		if err := remote.WriteLayer(r.Context(), l, remoteOpts...); err != nil {
			return "", fmt.Errorf("image push: uploading %s: %w", l.describe(), err)
		}
	}
	for _, l := range layers {
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: l.mediaType, Size: l.size, Digest: l.digest})
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	if err := remote.Put(r, rawManifest{raw: raw, mediaType: types.OCIManifestSchema1}, remoteOpts...); err != nil {
		return "", fmt.Errorf("image push: manifest: %w", err)
	}
	return sha256Digest(raw), nil
}

func mustHash(s string) v1.Hash {
	h, err := v1.NewHash(s)
	if err != nil {
		panic(err)
	}
	return h
}

// rawManifest is a manifest pushed as is.
type rawManifest struct {
	raw       []byte
	mediaType types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// fileLayer is a blob uploaded as is (no compression): a file, read when uploaded, or bytes.
type fileLayer struct {
	path      string
	data      []byte
	digest    v1.Hash
	size      int64
	mediaType types.MediaType
}

func newFileLayer(path string, mediaType types.MediaType) (*fileLayer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("image push: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, fmt.Errorf("image push: reading %s: %w", path, err)
	}
	return &fileLayer{path: path, digest: mustHash("sha256:" + hex.EncodeToString(h.Sum(nil))), size: n, mediaType: mediaType}, nil
}

func (l *fileLayer) describe() string {
	if l.path != "" {
		return l.path
	}
	return string(l.mediaType)
}

func (l *fileLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)            { return l.digest, nil }
func (l *fileLayer) Size() (int64, error)                { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) {
	return l.Compressed()
}
func (l *fileLayer) Compressed() (io.ReadCloser, error) {
	if l.path == "" {
		return io.NopCloser(bytes.NewReader(l.data)), nil
	}
	return os.Open(l.path)
}
