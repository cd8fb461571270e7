package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// remoteOptions is how a Store talks to registries.
type remoteOptions struct {
	transport http.RoundTripper
	keychain  authn.Keychain
}

func newRemoteOptions(opts StoreOptions, plainHTTP map[string]bool) remoteOptions {
	timeout := opts.ResponseTimeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          20,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
	keychain := opts.Keychain
	if keychain == nil {
		keychain = authn.DefaultKeychain
	}
	return remoteOptions{transport: httpsOnly{next: t, plainHTTP: plainHTTP}, keychain: keychain}
}

// httpsOnly refuses plain HTTP to any registry not listed: go-containerregistry falls back to
// HTTP by itself for localhost and private addresses, which must not happen unasked.
type httpsOnly struct {
	next      http.RoundTripper
	plainHTTP map[string]bool
}

func (h httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !h.plainHTTP[req.URL.Host] {
		return nil, fmt.Errorf("plain HTTP to registry %s is not allowed (list it in the plain HTTP registries to allow it)", req.URL.Host)
	}
	return h.next.RoundTrip(req)
}

// parseRef reads an OCI reference, marking the hosts listed for plain HTTP as insecure.
func parseRef(ref string, plainHTTP map[string]bool) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: reference: %v", ErrNotAnImage, err)
	}
	if plainHTTP[r.Context().RegistryStr()] {
		return name.ParseReference(ref, name.Insecure)
	}
	return r, nil
}

func (s *Store) options(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithTransport(s.remote.transport), remote.WithAuthFromKeychain(s.remote.keychain)}
}

// pullRemote pulls an image from its registry; by digest and cached, without asking it.
func (s *Store) pullRemote(ctx context.Context, ref string) (*record, error) {
	r, err := parseRef(ref, s.plainHTTP)
	if err != nil {
		return nil, err
	}
	if d, ok := r.(name.Digest); ok {
		if rec, ok := s.lookup(d.DigestStr(), true); ok {
			return rec, nil
		}
	}
	desc, err := remote.Get(r, s.options(ctx)...)
	if err != nil {
		return nil, classify(err)
	}
	digest := desc.Digest.String()
	return s.once(ctx, digest, func() (*record, error) {
		return s.download(ctx, r.Context(), ref, digest, desc.Manifest, desc.MediaType)
	})
}

// download fetches the blobs of one manifest the cache lacks and records the image.
func (s *Store) download(ctx context.Context, repo name.Repository, ref, digest string, manifest []byte, mediaType types.MediaType) (*record, error) {
	l, err := parseManifest(manifest, mediaType)
	if err != nil {
		return nil, err
	}
	configBlob, err := s.fetchSmall(ctx, repo, l.config.Digest.String(), l.config.Size)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	config, err := parseConfig(configBlob)
	if err != nil {
		return nil, err
	}
	rec := &record{Ref: ref, Digest: digest, RootDiskFormat: l.rootDiskFormat}
	if l.kernel != nil {
		rec.Kernel = l.kernel.Digest.String()
		rec.Cmdline = config.Cmdline
	}
	if l.initramfs != nil {
		rec.Initramfs = l.initramfs.Digest.String()
	}
	if l.rootDisk != nil {
		rec.RootDisk = l.rootDisk.Digest.String()
	}
	fetch := func(what, digest string, size int64) error {
		if s.hasBlob(digest) {
			return nil
		}
		if err := s.fetchBlob(ctx, repo, digest, size); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	if l.rootDisk != nil {
		if err := fetch("root disk", rec.RootDisk, l.rootDisk.Size); err != nil {
			return nil, err
		}
		size, err := s.rootDiskSize(rec.RootDisk, rec.RootDiskFormat)
		if err != nil {
			return nil, err
		}
		rec.RootDiskSize = size
	}
	if l.kernel != nil {
		if err := fetch("kernel", rec.Kernel, l.kernel.Size); err != nil {
			return nil, err
		}
	}
	if l.initramfs != nil {
		if err := fetch("initramfs", rec.Initramfs, l.initramfs.Size); err != nil {
			return nil, err
		}
	}
	if err := s.writeRecord(rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// rootDiskSize is a cached root disk's virtual size.
func (s *Store) rootDiskSize(digest, format string) (uint64, error) {
	if format == "qcow2" {
		return qcow2VirtualSize(s.blobPath(digest))
	}
	st, err := os.Stat(s.blobPath(digest))
	if err != nil {
		return 0, err
	}
	return uint64(st.Size()), nil
}

// fetchBlob downloads one blob into the cache, verified against its digest and size.
func (s *Store) fetchBlob(ctx context.Context, repo name.Repository, digest string, size int64) error {
	layer, err := remote.Layer(repo.Digest(digest), s.options(ctx)...)
	if err != nil {
		return err
	}
	rc, err := layer.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	return s.writeBlob(digest, size, rc)
}

// fetchSmall downloads a small blob into memory, verified against its digest and size.
func (s *Store) fetchSmall(ctx context.Context, repo name.Repository, digest string, size int64) ([]byte, error) {
	layer, err := remote.Layer(repo.Digest(digest), s.options(ctx)...)
	if err != nil {
		return nil, err
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, size+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != size {
		return nil, fmt.Errorf("blob %s: got %d bytes, want %d", digest, len(b), size)
	}
	if got := sha256Digest(b); got != digest {
		return nil, fmt.Errorf("blob %s: content has digest %s", digest, got)
	}
	return b, nil
}

// classify marks a registry's answer that the manifest, repository or tag does not exist.
func classify(err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		if te.StatusCode == http.StatusNotFound {
			return fmt.Errorf("%w: %v", ErrNotFound, err)
		}
		for _, d := range te.Errors {
			if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
				return fmt.Errorf("%w: %v", ErrNotFound, err)
			}
		}
	}
	return err
}
