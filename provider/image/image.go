// Package image pulls Ferrite machine images (OCI artifacts holding a root disk and/or a kernel,
// an initramfs and a kernel command line) into a per-host cache, by manifest digest, as plain
// files the hypervisor can read. See docs/images.md for the artifact format.
package image

import (
	"context"
	"errors"
	"time"
)

// Image is an image in the host's cache: files the hypervisor can read.
type Image struct {
	Ref            string // the reference as asked
	Digest         string // the manifest digest, "sha256:..." (for file:// images: sha256 of the file content)
	RootDisk       string // absolute path of the cached root disk; "" when the image has none
	RootDiskFormat string // "raw" or "qcow2"
	RootDiskSize   uint64 // the root disk's virtual size in bytes
	Kernel         string // absolute path, "" when absent
	Initramfs      string // absolute path, "" when absent
	Cmdline        string // kernel command line, "" when absent
}

// StoreOptions configures a Store.
type StoreOptions struct {
	// Dir is the cache directory (created 0755; files 0644 so the qemu user can read them).
	Dir string
	// PlainHTTPRegistries are registry hosts ("127.0.0.1:5000", "localhost:5000") spoken to over
	// plain HTTP; everything else is HTTPS.
	PlainHTTPRegistries []string
	// ResponseTimeout bounds the wait for a registry's response headers (default 1 minute); a
	// download itself is bounded only by the context.
	ResponseTimeout time.Duration
}

// Store is the host's image cache.
type Store struct {
	opts StoreOptions
}

// ErrNotFound is wrapped by Pull's errors when the image, its repository or its tag does not exist.
var ErrNotFound = errors.New("image not found")

// NewStore opens (creating when needed) the cache in opts.Dir.
func NewStore(opts StoreOptions) (*Store, error) {
	return &Store{opts: opts}, errors.New("image.NewStore: not implemented yet")
}

// Pull resolves ref (an OCI reference "host/repo:tag" or "host/repo@sha256:...", or
// "file:///abs/path" of a raw or qcow2 disk) and returns the cached image, downloading only what
// the cache lacks. Concurrent pulls of one digest download once.
func (s *Store) Pull(ctx context.Context, ref string) (*Image, error) {
	return nil, errors.New("image.Pull: not implemented yet")
}

// Cached returns an image already in the cache by digest, without network.
func (s *Store) Cached(digest string) (*Image, bool) {
	return nil, false
}

// GC removes cached images whose digest inUse reports false and that were not pulled in the last
// minAge; it returns the removed digests.
func (s *Store) GC(inUse func(digest string) bool, minAge time.Duration) ([]string, error) {
	return nil, errors.New("image.GC: not implemented yet")
}

// IsNotFound reports whether err from Pull means the image (or its repository or tag) does not
// exist, as opposed to a transient failure or an artifact that is not a Ferrite image.
func IsNotFound(err error) bool {
	return errors.Is(err, ErrNotFound)
}
