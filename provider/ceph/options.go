package ceph

import (
	"context"
	"errors"
	"time"

	"k8s.io/klog/v2"

	"github.com/ferrite-dev/ferrite/provider/image"
)

// Images is the image cache the root disks of OCI images come from (provider/image.Store).
type Images interface {
	// Pull returns the cached image of ref, downloading what the cache lacks.
	Pull(ctx context.Context, ref string) (*image.Image, error)
}

// Options configure a Provider.
type Options struct {
	// ConfPath is the ceph.conf of the cluster; the keyring it names holds User's key.
	ConfPath string
	// User is the cephx user the provider acts as, without "client." (default "admin"). It needs
	// mon "allow *" (it creates users) and osd "allow *" on Pool.
	User string
	// Pool is the RADOS pool the volumes live in (default "rbd").
	Pool string
	// Instance isolates several providers on one pool (tests, two local pools): it becomes part
	// of every name the provider makes. Empty for the usual one provider per pool.
	Instance string
	// Images is the image cache; required for volumes from OCI images.
	Images Images
	// TmpDir holds qcow2 root disks converted to raw while they are imported (default: the
	// system's temporary directory).
	TmpDir string
	// HistoryLimit and EventLimit bound the retained changes and events (default 1000 each).
	HistoryLimit, EventLimit int
	// Log receives the provider's log. Default klog.Background().
	Log klog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time

	// crashAfter, when set, is called after each named step of a create; an error it returns
	// aborts the create there, as a crash would (tests only).
	crashAfter func(step string) error
}

func (o *Options) setDefaults() error {
	if o.ConfPath == "" {
		return errors.New("ceph: Options.ConfPath is required")
	}
	if o.User == "" {
		o.User = "admin"
	}
	if o.Pool == "" {
		o.Pool = "rbd"
	}
	if o.HistoryLimit <= 0 {
		o.HistoryLimit = 1000
	}
	if o.EventLimit <= 0 {
		o.EventLimit = 1000
	}
	if o.Log.GetSink() == nil {
		o.Log = klog.Background()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}
