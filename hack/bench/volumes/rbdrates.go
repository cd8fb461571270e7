package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"

	"github.com/ferrite-dev/ferrite/hack/bench/load"
)

// rbdRates are the ceilings: what librbd alone does on the same cluster, in the same process
// kind (one connection, the same concurrency as the API rounds).
type rbdRates struct {
	create, clone load.Result
}

// measureRBD creates n images of size bytes with rbd_create, then n clones of one protected
// snapshot with rbd_clone, each with workers at once, and removes them again.
func measureRBD(ctx context.Context, conf, pool string, n, workers int, size uint64) (rbdRates, error) {
	var rates rbdRates
	conn, err := rados.NewConn()
	if err != nil {
		return rates, err
	}
	if err := conn.ReadConfigFile(conf); err != nil {
		return rates, fmt.Errorf("reading %s: %w", conf, err)
	}
	// Clone format 2 needs no protected snapshot, as ceph-provider's connection.
	if err := conn.SetConfigOption("rbd_default_clone_format", "2"); err != nil {
		return rates, err
	}
	if err := conn.Connect(); err != nil {
		return rates, fmt.Errorf("connecting to Ceph: %w", err)
	}
	defer conn.Shutdown()
	ioctx, err := conn.OpenIOContext(pool)
	if err != nil {
		return rates, err
	}
	defer ioctx.Destroy()

	name := func(kind string, i int) string { return fmt.Sprintf("bench-%s-%d", kind, i) }
	opts := rbd.NewRbdImageOptions()
	defer opts.Destroy()
	rates.create = load.Run(ctx, load.CPUMeter{}, n, workers, func(_ context.Context, _, i int) error {
		return rbd.CreateImage(ioctx, name("create", i), size, opts)
	})

	parent := name("parent", 0)
	if err := rbd.CreateImage(ioctx, parent, size, opts); err != nil {
		return rates, err
	}
	img, err := rbd.OpenImage(ioctx, parent, rbd.NoSnapshot)
	if err != nil {
		return rates, err
	}
	snap, err := img.CreateSnapshot("base")
	if err == nil {
		err = snap.Protect()
	}
	img.Close()
	if err != nil {
		return rates, err
	}
	rates.clone = load.Run(ctx, load.CPUMeter{}, n, workers, func(_ context.Context, _, i int) error {
		return rbd.CloneImage(ioctx, parent, "base", ioctx, name("clone", i), opts)
	})

	// Clean up: the clones, the images, then the parent.
	for i := range n {
		_ = rbd.RemoveImage(ioctx, name("clone", i))
		_ = rbd.RemoveImage(ioctx, name("create", i))
	}
	if img, err := rbd.OpenImage(ioctx, parent, rbd.NoSnapshot); err == nil {
		s := img.GetSnapshot("base")
		_ = s.Unprotect()
		_ = s.Remove()
		img.Close()
	}
	_ = rbd.RemoveImage(ioctx, parent)
	return rates, nil
}

// perSecond formats a rate.
func perSecond(r load.Result) string {
	if r.Ops == 0 || r.Elapsed <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f/s", r.PerSecond())
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
