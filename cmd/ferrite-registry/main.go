// Command ferrite-registry is a small local OCI registry for Ferrite images, and a pusher.
//
//	ferrite-registry serve --listen 127.0.0.1:5000 --dir DIR
//	ferrite-registry push [--plain-http] [--rootdisk F] [--kernel F] [--initramfs F] [--cmdline S] REF
//
// serve keeps blobs under DIR/blobs and every manifest (by digest and by tag) under
// DIR/manifests, and loads the manifests back at start, so pushed images survive a restart.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ferrite-dev/ferrite/provider/image"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ferrite-registry:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  ferrite-registry serve --listen 127.0.0.1:5000 --dir DIR
  ferrite-registry push [--plain-http] [--rootdisk F] [--kernel F] [--initramfs F] [--cmdline S] [--arch A] REF`

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout)
	case "push":
		return push(ctx, args[1:], stdout)
	default:
		return fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
}

func serve(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:5000", "address to serve the registry on (plain HTTP)")
	dir := fs.String("dir", "", "directory that keeps blobs and manifests")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("serve: --dir is required")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	handler, err := newHandler(*dir, log)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "serving on %s from %s\n", l.Addr(), *dir)
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func push(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	var files image.PushFiles
	fs.StringVar(&files.RootDisk, "rootdisk", "", "root disk file (raw or qcow2)")
	fs.StringVar(&files.Kernel, "kernel", "", "kernel file")
	fs.StringVar(&files.Initramfs, "initramfs", "", "initramfs file")
	fs.StringVar(&files.Cmdline, "cmdline", "", "kernel command line")
	plainHTTP := fs.Bool("plain-http", false, "speak plain HTTP to the registry (a local one)")
	arch := fs.String("arch", "", "guest architecture to record (Go naming, e.g. amd64); empty records none")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("push: exactly one image reference is required")
	}
	var opts []image.PushOption
	if *plainHTTP {
		opts = append(opts, image.WithPlainHTTP())
	}
	if *arch != "" {
		opts = append(opts, image.WithArchitecture(*arch))
	}
	digest, err := image.Push(ctx, fs.Arg(0), files, opts...)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, digest)
	return nil
}
