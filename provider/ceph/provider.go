// Package ceph is the ceph-provider: the volume runtime (poollet/runtime/volume/v1alpha1) over
// the RBD images of one RADOS pool. Ceph holds all of its state: each volume is an image whose
// metadata records the volume, so a restarted provider rebuilds everything by listing the pool.
// See docs/ceph-provider.md for the layout, the credentials model and the crash safety of creates.
package ceph

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/klog/v2"

	"github.com/ferrite-dev/ferrite/poollet/runtime/history"
	api "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// Name and Version identify the provider in VersionResponse.
const (
	Name    = "ceph-provider"
	Version = "0.1.0"
)

// Provider serves the volume runtime over one pool. Create it with New, then Start (or Serve).
type Provider struct {
	api.UnimplementedVolumeRuntimeServer

	opts     Options
	log      klog.Logger
	names    names
	conn     *conn
	monitors string
	history  history.Volumes

	// snapMu is taken shared by creates from a snapshot and exclusively by snapshot deletes, so
	// that a snapshot is not removed while it is being cloned. It is taken before any lock of
	// locks.
	snapMu sync.RWMutex
	// locks serialize the calls on one volume (by volume ID) and on one image import (by digest).
	locks keyedMutex

	// mu guards the tables and is held while a change is recorded, so that a list and its
	// revision agree.
	mu        sync.Mutex
	volumes   map[string]*volume   // by volume ID, hidden ones too
	snapshots map[string]*snapshot // by snapshot ID
	closed    bool

	// closing ends when Close is called; it stops the creates that outlive their callers.
	closing     context.Context
	closeCreate context.CancelFunc
	// creating holds the cancel function of each create under way, by volume ID (guarded by
	// mu): a delete of the volume stops its create instead of waiting for it.
	creating map[string]context.CancelFunc
}

// volume is a volume image as the provider knows it.
type volume struct {
	obj    *api.Volume // as served (status included)
	image  string
	hidden bool // deleted, kept for its snapshots
}

// snapshot is a Ferrite snapshot of a volume image.
type snapshot struct {
	obj      *api.Snapshot
	volumeID string
}

// New returns a provider connected to the cluster; Start rebuilds its state from the pool.
func New(opts Options) (*Provider, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	c, err := connect(opts.ConfPath, opts.User, opts.Pool)
	if err != nil {
		return nil, err
	}
	monitors, err := c.monitors()
	if err != nil {
		c.close()
		return nil, fmt.Errorf("ceph: %w", err)
	}
	closing, closeCreate := context.WithCancel(context.Background())
	return &Provider{
		closing:     closing,
		closeCreate: closeCreate,
		creating:    map[string]context.CancelFunc{},
		opts:        opts,
		log:         opts.Log,
		names:       newNames(opts.Instance),
		conn:        c,
		monitors:    monitors,
		history: history.NewVolumes(history.Options{
			Limit:      opts.HistoryLimit,
			EventLimit: opts.EventLimit,
			// Ceph keeps no revision: a new run starts above every revision an earlier run may
			// have handed out (Unix microseconds), so a stale Watch gets RevisionTooOld.
			InitialRevision: uint64(opts.Now().UnixMicro()),
			Now:             opts.Now,
		}),
		volumes:   map[string]*volume{},
		snapshots: map[string]*snapshot{},
	}, nil
}

// Start rebuilds the volumes and snapshots from the pool and finishes what a crashed run left
// half done: creates are redone or removed, deletes completed, users and keys of gone volumes
// removed.
func (p *Provider) Start(ctx context.Context) error {
	return p.recover(ctx)
}

// Close ends every Watch and disconnects from the cluster.
func (p *Provider) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.closeCreate()
	p.history.Close()
	// Calls under way hold per-volume locks; wait for them before the connection goes.
	p.snapMu.Lock()
	p.locks.waitIdle()
	p.conn.close()
	p.snapMu.Unlock()
}

// Version names the provider.
func (p *Provider) Version(context.Context, *api.VersionRequest) (*api.VersionResponse, error) {
	return &api.VersionResponse{Version: "v1alpha1", RuntimeName: Name, RuntimeVersion: Version}, nil
}
