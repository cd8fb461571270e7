// Package image pulls Ferrite machine images (OCI artifacts holding a root disk and/or a kernel,
// an initramfs and a kernel command line) into a per-host cache, by manifest digest, as plain
// files the hypervisor can read. See docs/images.md for the artifact format.
package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
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
	// Dir is the cache directory (created 0755; files 0644 so the qemu user can read them). One
	// Store per directory.
	Dir string
	// PlainHTTPRegistries are registry hosts ("127.0.0.1:5000", "localhost:5000") spoken to over
	// plain HTTP; everything else is HTTPS.
	PlainHTTPRegistries []string
	// ResponseTimeout bounds the wait for a registry's response headers (default 1 minute); a
	// download itself is bounded only by the context.
	ResponseTimeout time.Duration
	// Keychain finds registry credentials (default: authn.DefaultKeychain, the Docker config of
	// the user running the provider).
	Keychain authn.Keychain
}

// Store is the host's image cache.
type Store struct {
	dir       string
	plainHTTP map[string]bool
	remote    remoteOptions

	// gcLock is held shared by pulls and exclusively by GC, so GC never removes a blob a pull
	// is about to name in a record.
	gcLock sync.RWMutex

	mu      sync.Mutex
	flights map[string]*flight // by image digest: the one download under way
}

// flight is one download of an image that concurrent pulls wait for.
type flight struct {
	done chan struct{}
	rec  *record
	err  error
}

// ErrNotFound is wrapped by Pull's errors when the image, its repository or its tag does not exist.
var ErrNotFound = errors.New("image not found")

// NewStore opens (creating when needed) the cache in opts.Dir.
func NewStore(opts StoreOptions) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("image: StoreOptions.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("image: StoreOptions.Dir: %w", err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "blobs"), filepath.Join(dir, "blobs", "sha256"), filepath.Join(dir, "images"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
		// The hypervisor's user walks these directories; a umask must not close them.
		if err := os.Chmod(d, 0o755); err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
	}
	s := &Store{dir: dir, plainHTTP: map[string]bool{}, flights: map[string]*flight{}}
	for _, h := range opts.PlainHTTPRegistries {
		s.plainHTTP[h] = true
	}
	s.remote = newRemoteOptions(opts, s.plainHTTP)
	return s, nil
}

// Pull resolves ref (an OCI reference "host/repo:tag" or "host/repo@sha256:...", or
// "file:///abs/path" of a raw or qcow2 disk, told apart by qcow2's magic) and returns the cached
// image, downloading only what the cache lacks. An image pulled by digest and already cached needs
// no network. Concurrent pulls of one digest download once. Errors wrap ErrNotFound when the
// image does not exist and ErrNotAnImage when it is not a valid Ferrite image; other errors are
// transient.
func (s *Store) Pull(ctx context.Context, ref string) (*Image, error) {
	s.gcLock.RLock()
	defer s.gcLock.RUnlock()
	var r *record
	var err error
	if strings.HasPrefix(ref, "file:") {
		r, err = s.pullFile(ctx, ref)
	} else {
		r, err = s.pullRemote(ctx, ref)
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	return s.image(r, ref), nil
}

// Cached returns an image already in the cache by digest, without network.
func (s *Store) Cached(digest string) (*Image, bool) {
	r, ok := s.lookup(digest, false)
	if !ok {
		return nil, false
	}
	return s.image(r, r.Ref), true
}

// IsNotFound reports whether err from Pull means the image (or its repository or tag) does not
// exist, as opposed to a transient failure or an artifact that is not a Ferrite image.
func IsNotFound(err error) bool {
	return errors.Is(err, ErrNotFound)
}

// once returns the cached record of digest, or runs fetch to make it, once for all concurrent
// callers. A caller whose fetch was cancelled by its own context hands over to the next waiter.
func (s *Store) once(ctx context.Context, digest string, fetch func() (*record, error)) (*record, error) {
	for {
		if r, ok := s.lookup(digest, true); ok {
			return r, nil
		}
		s.mu.Lock()
		f, running := s.flights[digest]
		if !running {
			f = &flight{done: make(chan struct{})}
			s.flights[digest] = f
		}
		s.mu.Unlock()
		if !running {
			f.rec, f.err = fetch()
			s.mu.Lock()
			delete(s.flights, digest)
			s.mu.Unlock()
			close(f.done)
			return f.rec, f.err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-f.done:
		}
		if f.err == nil {
			return f.rec, nil
		}
		if !errors.Is(f.err, context.Canceled) && !errors.Is(f.err, context.DeadlineExceeded) {
			return nil, f.err
		}
		// The leader's context ended, not ours: try again, leading this time if need be.
	}
}
