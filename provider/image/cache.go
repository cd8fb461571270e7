package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// The cache directory:
//
//	blobs/sha256/<hex>        files by content digest, verified before they get that name, 0644
//	images/sha256-<hex>.json  one record per image (manifest digest), written last; its mtime is
//	                          the last pull, for GC
//	tmp/                      files being written, renamed into blobs/ or images/ when complete

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// record is an image's entry in the cache.
type record struct {
	Ref            string `json:"ref"`
	Digest         string `json:"digest"`
	RootDisk       string `json:"rootDisk,omitempty"` // blob digest
	RootDiskFormat string `json:"rootDiskFormat,omitempty"`
	RootDiskSize   uint64 `json:"rootDiskSize,omitempty"`
	Kernel         string `json:"kernel,omitempty"` // blob digest
	Initramfs      string `json:"initramfs,omitempty"`
	Cmdline        string `json:"cmdline,omitempty"`
}

func (r *record) blobs() []string {
	var out []string
	for _, d := range []string{r.RootDisk, r.Kernel, r.Initramfs} {
		if d != "" {
			out = append(out, d)
		}
	}
	return out
}

func (s *Store) blobPath(digest string) string {
	return filepath.Join(s.dir, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
}

func (s *Store) recordPath(digest string) string {
	return filepath.Join(s.dir, "images", strings.Replace(digest, ":", "-", 1)+".json")
}

// image turns a record into the Image the caller sees, asked for as ref.
func (s *Store) image(r *record, ref string) *Image {
	img := &Image{Ref: ref, Digest: r.Digest, RootDiskFormat: r.RootDiskFormat, RootDiskSize: r.RootDiskSize, Cmdline: r.Cmdline}
	if r.RootDisk != "" {
		img.RootDisk = s.blobPath(r.RootDisk)
	}
	if r.Kernel != "" {
		img.Kernel = s.blobPath(r.Kernel)
	}
	if r.Initramfs != "" {
		img.Initramfs = s.blobPath(r.Initramfs)
	}
	return img
}

// readRecord reads the record of digest, complete or not.
func (s *Store) readRecord(digest string) (*record, error) {
	if !digestPattern.MatchString(digest) {
		return nil, fmt.Errorf("digest %q is not sha256:<64 hex digits>", digest)
	}
	b, err := os.ReadFile(s.recordPath(digest))
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("image cache record %s: %w", digest, err)
	}
	if r.Digest != digest {
		return nil, fmt.Errorf("image cache record %s holds digest %q", digest, r.Digest)
	}
	for _, d := range r.blobs() {
		if !digestPattern.MatchString(d) {
			return nil, fmt.Errorf("image cache record %s names blob %q", digest, d)
		}
	}
	return &r, nil
}

// lookup returns the record of digest when it and all its blobs are in the cache, and marks it
// as just pulled when touch is set.
func (s *Store) lookup(digest string, touch bool) (*record, bool) {
	r, err := s.readRecord(digest)
	if err != nil {
		return nil, false
	}
	for _, d := range r.blobs() {
		if !s.hasBlob(d) {
			return nil, false
		}
	}
	if touch {
		now := time.Now()
		_ = os.Chtimes(s.recordPath(digest), now, now) // only GC's age; a failure costs a re-pull at worst
	}
	return r, true
}

// writeRecord stores r once all its blobs are in place.
func (s *Store) writeRecord(r *record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return s.writeFile(s.recordPath(r.Digest), bytes.NewReader(b), nil, -1)
}

// hasBlob reports whether the blob of digest is in the cache.
func (s *Store) hasBlob(digest string) bool {
	_, err := os.Stat(s.blobPath(digest))
	return err == nil
}

// writeBlob copies src into the blob of digest, checking that it holds exactly size bytes (-1:
// any) with that digest before giving it its name.
func (s *Store) writeBlob(digest string, size int64, src io.Reader) error {
	h := sha256.New()
	if err := s.writeFile(s.blobPath(digest), src, h, size); err != nil {
		return err
	}
	return nil
}

// writeFile writes src to a temporary file, syncs it, checks size (-1: unchecked) and, when h
// is given, that the content's sha256 matches the final name's digest, then renames it to path.
// Runs of zeros become holes, so a mostly empty raw disk stays small.
func (s *Store) writeFile(path string, src io.Reader, h hash.Hash, size int64) error {
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	defer tmp.Close()
	var w io.Writer = &sparseWriter{f: tmp}
	if h != nil {
		w = io.MultiWriter(h, w)
	}
	limit := size
	if limit < 0 {
		limit = 1 << 62
	}
	n, err := io.CopyBuffer(w, io.LimitReader(src, limit+1), make([]byte, 1<<20))
	if err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("%s: got %d bytes, want %d", filepath.Base(path), n, size)
	}
	if h != nil {
		if got := hex.EncodeToString(h.Sum(nil)); got != filepath.Base(path) {
			return fmt.Errorf("blob sha256:%s: content has digest sha256:%s", filepath.Base(path), got)
		}
	}
	if err := tmp.Truncate(n); err != nil { // materialises a trailing hole
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// sparseWriter writes to f, seeking over blocks of zeros instead of writing them.
type sparseWriter struct {
	f *os.File
}

func (w *sparseWriter) Write(p []byte) (int, error) {
	const block = 4096
	for off := 0; off < len(p); off += block {
		chunk := p[off:min(off+block, len(p))]
		if allZero(chunk) {
			if _, err := w.f.Seek(int64(len(chunk)), io.SeekCurrent); err != nil {
				return off, err
			}
			continue
		}
		if _, err := w.f.Write(chunk); err != nil {
			return off, err
		}
	}
	return len(p), nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// GC removes cached images whose digest inUse reports false and that were not pulled in the last
// minAge, then every blob no remaining image uses; it returns the removed image digests. It waits
// for pulls under way and holds new ones back while it runs.
func (s *Store) GC(inUse func(digest string) bool, minAge time.Duration) ([]string, error) {
	s.gcLock.Lock()
	defer s.gcLock.Unlock()
	entries, err := os.ReadDir(filepath.Join(s.dir, "images"))
	if err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	var removed []string
	keep := map[string]bool{}
	now := time.Now()
	for _, e := range entries {
		digest := strings.Replace(strings.TrimSuffix(e.Name(), ".json"), "-", ":", 1)
		if !digestPattern.MatchString(digest) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed under us
		}
		r, err := s.readRecord(digest)
		if err == nil && (inUse(digest) || now.Sub(info.ModTime()) < minAge) {
			// An image in use keeps its blobs even when one went missing: a guest's overlay
			// may still read its root disk.
			for _, b := range r.blobs() {
				keep[b] = true
			}
			continue
		}
		if err := os.Remove(s.recordPath(digest)); err != nil && !os.IsNotExist(err) {
			return removed, fmt.Errorf("image cache: %w", err)
		}
		removed = append(removed, digest)
	}
	blobs, err := os.ReadDir(filepath.Join(s.dir, "blobs", "sha256"))
	if err != nil {
		return removed, fmt.Errorf("image cache: %w", err)
	}
	for _, b := range blobs {
		if keep["sha256:"+b.Name()] {
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, "blobs", "sha256", b.Name())); err != nil && !os.IsNotExist(err) {
			return removed, fmt.Errorf("image cache: %w", err)
		}
	}
	// Temporary files are left only by a crash; an hour is longer than any write under way.
	tmps, _ := os.ReadDir(filepath.Join(s.dir, "tmp"))
	for _, t := range tmps {
		if info, err := t.Info(); err == nil && now.Sub(info.ModTime()) > time.Hour {
			os.Remove(filepath.Join(s.dir, "tmp", t.Name()))
		}
	}
	return removed, nil
}
