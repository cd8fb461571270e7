package libvirt

import (
	"context"
	"fmt"
	"time"

	"k8s.io/klog/v2"

	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/capacity"
	"github.com/ferrite-dev/ferrite/provider/image"
)

// Images is the image cache root disks and kernels come from (provider/image.Store).
type Images interface {
	// Pull returns the cached image of ref, downloading what the cache lacks.
	Pull(ctx context.Context, ref string) (*image.Image, error)
	// GC removes cached images that inUse reports unused and that were not pulled within minAge.
	GC(inUse func(digest string) bool, minAge time.Duration) ([]string, error)
}

// Owner is a user and group that files are given to.
type Owner struct {
	UID, GID int
}

// Options configure a Provider.
type Options struct {
	// URI is the libvirt connection URI, for example qemu:///system or test:///default.
	URI string
	// VirtType is the domain type: "kvm" or "qemu" (TCG). ProbeVirtType chooses one.
	VirtType string
	// StateDir holds the revision file and one directory per machine (machines/<id>).
	StateDir string
	// Instance names this provider among several on one libvirt daemon (a development machine
	// running two local pools, say): a provider holds, adopts and reaps only the domains its own
	// instance made. Empty for the usual one provider per host.
	Instance string
	// Images is the image cache; required for machines with a root disk.
	Images Images
	// HypervisorOwner, when set, owns the files QEMU reads (disks, the Ignition file, the NoCloud
	// drive), which are then mode 0600: readable by the hypervisor and root only. Nil leaves them
	// root's (and libvirt's dynamic ownership relabels the disks).
	HypervisorOwner *Owner
	// ShutdownTimeout applies when a request leaves shutdown_timeout unset. Default 1 minute.
	ShutdownTimeout time.Duration
	// Reserved is what the host keeps back; CPUOvercommitRatio and MemoryOvercommitRatio scale
	// what machines may hold (below 1 counts as 1).
	Reserved                                  capacity.Resources
	CPUOvercommitRatio, MemoryOvercommitRatio float64
	// HistoryLimit and EventLimit bound the retained changes and events (default 1000 each).
	HistoryLimit, EventLimit int
	// ConsoleLogBytes is the most ReadConsoleLog returns and the scrollback a console gets.
	// Default 64 KiB.
	ConsoleLogBytes int
	// ReapInterval is how often the reaper runs (default 1 minute); ImageGCInterval how often
	// unused images are removed (default 1 hour; negative disables), ImageGCMinAge how long a
	// pulled image is kept even when unused (default 10 minutes).
	ReapInterval, ImageGCInterval, ImageGCMinAge time.Duration
	// HugePagesDir is where the host's huge page pools are read. Default /sys/kernel/mm/hugepages.
	HugePagesDir string
	// Log receives the provider's log. Default klog.Background().
	Log klog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() error {
	if o.URI == "" {
		o.URI = "qemu:///system"
	}
	if o.VirtType != "kvm" && o.VirtType != "qemu" {
		return fmt.Errorf("virt type %q: want kvm or qemu", o.VirtType)
	}
	if o.StateDir == "" {
		return fmt.Errorf("state dir: required")
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = time.Minute
	}
	if o.CPUOvercommitRatio < 1 {
		o.CPUOvercommitRatio = 1
	}
	if o.MemoryOvercommitRatio < 1 {
		o.MemoryOvercommitRatio = 1
	}
	if o.ConsoleLogBytes <= 0 {
		o.ConsoleLogBytes = 64 << 10
	}
	if o.ReapInterval <= 0 {
		o.ReapInterval = time.Minute
	}
	if o.ImageGCInterval == 0 {
		o.ImageGCInterval = time.Hour
	}
	if o.ImageGCMinAge <= 0 {
		o.ImageGCMinAge = 10 * time.Minute
	}
	if o.HugePagesDir == "" {
		o.HugePagesDir = "/sys/kernel/mm/hugepages"
	}
	if o.Log.GetSink() == nil {
		o.Log = klog.Background()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}
