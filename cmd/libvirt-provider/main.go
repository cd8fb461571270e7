// Command libvirt-provider serves the machine runtime (poollet/runtime/machine/v1alpha1) of one
// hypervisor on a unix socket, backed by persistent libvirt domains (docs/libvirt-provider.md).
// Build it with -tags libvirt_dlopen: libvirt is loaded at run time.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/component-base/cli"
	"k8s.io/klog/v2"

	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/capacity"
	"github.com/ferrite-dev/ferrite/provider/image"
	"github.com/ferrite-dev/ferrite/provider/libvirt"
)

func main() {
	var (
		opts                                      libvirt.Options
		virtType, socket, imageCacheDir, qemuUser string
		reservedMemory                            string
		reservedCPUs                              uint64
		reservedHugePages, plainHTTPRegistries    []string
		probeTimeout                              time.Duration
	)
	cmd := &cobra.Command{
		Use:          "libvirt-provider",
		Short:        "Serve the machine runtime of this hypervisor over libvirt and QEMU",
		SilenceUsage: true,
		RunE: func(*cobra.Command, []string) error {
			log := klog.Background()
			ctx := genericapiserver.SetupSignalContext()
			reserved, err := parseReserved(reservedCPUs, reservedMemory, reservedHugePages)
			if err != nil {
				return err
			}
			opts.Reserved = reserved
			if imageCacheDir == "" {
				imageCacheDir = filepath.Join(opts.StateDir, "images")
			}
			images, err := image.NewStore(image.StoreOptions{Dir: imageCacheDir, PlainHTTPRegistries: plainHTTPRegistries})
			if err != nil {
				return fmt.Errorf("--image-cache-dir: %w", err)
			}
			opts.Images = images
			if strings.HasPrefix(opts.URI, "qemu:") && qemuUser != "none" {
				owner, err := libvirt.HypervisorOwnerFromConfig(qemuUser, "/etc/libvirt/qemu.conf")
				if err != nil {
					return fmt.Errorf("--qemu-user: %w", err)
				}
				opts.HypervisorOwner = owner
			}
			probeCtx, cancel := context.WithTimeout(ctx, probeTimeout+30*time.Second)
			chosen, why, err := libvirt.ProbeVirtType(probeCtx, opts.URI, virtType, filepath.Join(opts.StateDir, "probe"), probeTimeout)
			cancel()
			if err != nil {
				return err
			}
			log.Info("virt type chosen", "virtType", chosen, "asked", virtType, "why", why)
			opts.VirtType, opts.Log = chosen, log
			p, err := libvirt.New(opts)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
				return err
			}
			stop, err := p.Serve(ctx, socket)
			if err != nil {
				return err
			}
			log.Info("serving the machine runtime", "socket", socket, "uri", opts.URI, "stateDir", opts.StateDir)
			<-ctx.Done()
			log.Info("stopping")
			stop()
			return nil
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&opts.URI, "libvirt-uri", "qemu:///system", "libvirt connection URI")
	flags.StringVar(&virtType, "virt-type", "auto", "domain type: kvm, qemu (TCG), or auto (KVM when a test guest boots under it, else TCG)")
	flags.DurationVar(&probeTimeout, "kvm-probe-timeout", 20*time.Second, "how long --virt-type=auto waits for the KVM test guest")
	flags.StringVar(&socket, "socket", "/run/ferrite/machine-runtime.sock", "the unix socket to serve the machine runtime on")
	flags.StringVar(&opts.Instance, "instance", "", "names this provider among several on one libvirt daemon; each holds only the domains its instance made (empty: the one provider of the host)")
	flags.StringVar(&opts.StateDir, "state-dir", "/var/lib/ferrite/libvirt-provider", "per-machine files (disks, user data, console logs) and the revision file")
	flags.StringVar(&imageCacheDir, "image-cache-dir", "", "image cache (default STATE_DIR/images)")
	flags.StringSliceVar(&plainHTTPRegistries, "plain-http-registry", nil, "a registry host:port spoken to over plain HTTP (repeatable)")
	flags.StringVar(&qemuUser, "qemu-user", "auto", "the user QEMU runs as, who gets the guests' files (auto: from /etc/libvirt/qemu.conf, else libvirt-qemu; none: leave them root's)")
	flags.DurationVar(&opts.ShutdownTimeout, "shutdown-timeout", time.Minute, "how long a guest has to shut down when a request leaves the timeout unset")
	flags.Uint64Var(&reservedCPUs, "reserved-cpus", 0, "vCPUs kept for the host")
	flags.StringVar(&reservedMemory, "reserved-memory", "0", "memory kept for the host (a quantity: 2Gi)")
	flags.StringSliceVar(&reservedHugePages, "reserved-hugepages", nil, "huge pages kept for the host, SIZE=N (2Mi=16; repeatable)")
	flags.Float64Var(&opts.CPUOvercommitRatio, "cpu-overcommit-ratio", 1, "vCPUs handed out per host vCPU")
	flags.Float64Var(&opts.MemoryOvercommitRatio, "memory-overcommit-ratio", 1, "memory handed out per byte of host memory")
	flags.DurationVar(&opts.ReapInterval, "reap-interval", time.Minute, "how often half-made and deleted domains and orphaned files are removed")
	flags.DurationVar(&opts.ImageGCInterval, "image-gc-interval", time.Hour, "how often cached images no machine uses are removed (negative: never)")
	flags.IntVar(&opts.HistoryLimit, "history-size", 1000, "changes retained for Watch")
	flags.IntVar(&opts.ConsoleLogBytes, "console-log-bytes", 64<<10, "the most console output ReadConsoleLog and a console's scrollback return")
	os.Exit(cli.Run(cmd))
}

// parseReserved builds the host reserve from the flags.
func parseReserved(cpus uint64, memory string, hugePages []string) (capacity.Resources, error) {
	r := capacity.Resources{VCPUs: cpus}
	q, err := resource.ParseQuantity(memory)
	if err != nil || q.Sign() < 0 {
		return r, fmt.Errorf("--reserved-memory %q: not a quantity", memory)
	}
	r.MemoryBytes = uint64(q.Value())
	for _, kv := range hugePages {
		size, n, ok := strings.Cut(kv, "=")
		sq, err := resource.ParseQuantity(size)
		if !ok || err != nil || sq.Sign() <= 0 {
			return r, fmt.Errorf("--reserved-hugepages %q: want SIZE=N (2Mi=16)", kv)
		}
		pages, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			return r, fmt.Errorf("--reserved-hugepages %q: %w", kv, err)
		}
		if r.HugePages == nil {
			r.HugePages = map[uint64]uint64{}
		}
		r.HugePages[uint64(sq.Value())] = pages
	}
	return r, nil
}
