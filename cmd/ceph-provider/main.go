// Command ceph-provider serves the volume runtime (poollet/runtime/volume/v1alpha1) of one RADOS
// pool on a unix socket, backed by RBD images (docs/ceph-provider.md). Build it with -tags
// pacific: go-ceph is built for Ceph 16 (pacific).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/component-base/cli"
	"k8s.io/klog/v2"

	"github.com/ferrite-dev/ferrite/provider/ceph"
	"github.com/ferrite-dev/ferrite/provider/image"
)

func main() {
	var (
		opts                  ceph.Options
		socket, imageCacheDir string
		plainHTTPRegistries   []string
	)
	cmd := &cobra.Command{
		Use:          "ceph-provider",
		Short:        "Serve the volume runtime of one Ceph pool over RBD",
		SilenceUsage: true,
		RunE: func(*cobra.Command, []string) error {
			log := klog.Background()
			ctx := genericapiserver.SetupSignalContext()
			images, err := image.NewStore(image.StoreOptions{Dir: imageCacheDir, PlainHTTPRegistries: plainHTTPRegistries})
			if err != nil {
				return fmt.Errorf("--image-cache-dir: %w", err)
			}
			opts.Images, opts.Log = images, log
			p, err := ceph.New(opts)
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
			log.Info("serving the volume runtime", "socket", socket, "conf", opts.ConfPath, "pool", opts.Pool, "instance", opts.Instance)
			<-ctx.Done()
			log.Info("stopping")
			stop()
			return nil
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&socket, "socket", "/run/ferrite/volume-runtime.sock", "the unix socket to serve the volume runtime on")
	flags.StringVar(&opts.ConfPath, "ceph-conf", "/etc/ceph/ceph.conf", "the cluster's ceph.conf; the keyring it names holds --ceph-user's key")
	flags.StringVar(&opts.User, "ceph-user", "admin", "the cephx user the provider acts as, without \"client.\" (needs mon 'allow *' and osd 'allow *' on the pool)")
	flags.StringVar(&opts.Pool, "pool", "rbd", "the RADOS pool the volumes live in")
	flags.StringVar(&opts.Instance, "instance", "", "names this provider among several on one pool; each holds only the images its instance made (empty: the one provider of the pool)")
	flags.StringVar(&imageCacheDir, "image-cache-dir", "/var/lib/ferrite/ceph-provider/images", "where OCI images are pulled before their root disks are imported")
	flags.StringSliceVar(&plainHTTPRegistries, "plain-http-registry", nil, "a registry host:port spoken to over plain HTTP (repeatable)")
	flags.IntVar(&opts.HistoryLimit, "history-size", 1000, "changes retained for Watch")
	os.Exit(cli.Run(cmd))
}
