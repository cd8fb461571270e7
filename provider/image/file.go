package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
)

// pullFile caches a local raw or qcow2 disk named by a file:///abs/path URL as an image whose
// digest is the sha256 of the file's content.
func (s *Store) pullFile(ctx context.Context, ref string) (*record, error) {
	u, err := url.Parse(ref)
	if err != nil || u.Scheme != "file" || (u.Host != "" && u.Host != "localhost") || !filepath.IsAbs(u.Path) {
		return nil, fmt.Errorf("%w: want file:///absolute/path", ErrNotAnImage)
	}
	path := u.Path
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrNotAnImage, path)
	}
	h := sha256.New()
	if _, err := io.Copy(h, contextReader{ctx, f}); err != nil {
		return nil, err
	}
	digest := "sha256:" + hex.EncodeToString(h.Sum(nil))
	return s.once(ctx, digest, func() (*record, error) {
		if !s.hasBlob(digest) {
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return nil, err
			}
			// The copy is checked against the digest again: a file changed meanwhile fails.
			if err := s.writeBlob(digest, st.Size(), contextReader{ctx, f}); err != nil {
				return nil, fmt.Errorf("copying %s: %w", path, err)
			}
		}
		rec := &record{Ref: ref, Digest: digest, RootDisk: digest, RootDiskFormat: "raw"}
		qcow2, err := fileIsQcow2(s.blobPath(digest))
		if err != nil {
			return nil, err
		}
		if qcow2 {
			rec.RootDiskFormat = "qcow2"
		}
		size, err := s.rootDiskSize(digest, rec.RootDiskFormat)
		if err != nil {
			return nil, err
		}
		rec.RootDiskSize = size
		if err := s.writeRecord(rec); err != nil {
			return nil, err
		}
		return rec, nil
	})
}

// fileIsQcow2 reports whether the file at path starts with qcow2's magic.
func fileIsQcow2(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	header := make([]byte, len(qcow2Magic))
	n, err := io.ReadFull(f, header)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return false, err
	}
	return isQcow2(header[:n]), nil
}

// contextReader stops a long copy when its context ends.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
