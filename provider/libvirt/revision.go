package libvirt

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"
)

// The revision counter survives restarts by only growing: a new provider starts at the larger of
// a persisted upper bound and the current Unix time in microseconds. The file holds a bound that
// the provider reserves ahead of the revisions it hands out (revisionBlock at a time), so it is
// written once per block, not per change. A Watch from a revision of an earlier run then gets
// RevisionTooOld, and the poollet resyncs.

// revisionBlock is how far ahead of the current revision the persisted bound is kept.
const revisionBlock = 1 << 20

// revisionFile persists the bound.
type revisionFile struct {
	path string

	mu       sync.Mutex
	reserved uint64
}

// openRevisionFile reads the bound and returns the revision the new run starts at, with a bound
// reserved beyond it.
func openRevisionFile(path string, now time.Time) (*revisionFile, uint64, error) {
	var persisted uint64
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		persisted, err = strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("revision file %s: %w", path, err)
		}
	case !os.IsNotExist(err):
		return nil, 0, fmt.Errorf("revision file: %w", err)
	}
	start := max(persisted, uint64(now.UnixMicro()))
	f := &revisionFile{path: path}
	if err := f.write(start + revisionBlock); err != nil {
		return nil, 0, err
	}
	return f, start, nil
}

// reserve moves the bound ahead when the current revision comes near it. A failure is logged:
// the Unix time start still keeps revisions growing in practice.
func (f *revisionFile) reserve(current uint64, log klog.Logger) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if current+revisionBlock/2 < f.reserved {
		return
	}
	if err := f.write(current + revisionBlock); err != nil {
		log.Error(err, "persisting the revision bound")
	}
}

func (f *revisionFile) write(bound uint64) error {
	tmp, err := os.CreateTemp(filepath.Dir(f.path), ".revision-*")
	if err != nil {
		return fmt.Errorf("revision file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := fmt.Fprintf(tmp, "%d\n", bound); err != nil {
		tmp.Close()
		return fmt.Errorf("revision file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("revision file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("revision file: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return fmt.Errorf("revision file: %w", err)
	}
	f.reserved = bound
	return nil
}
