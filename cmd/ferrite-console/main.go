// Command ferrite-console serves Ferrite's web console: the single-page app built by
// `make console` and embedded in the binary, and a proxy to the Kubernetes API through which
// the app makes every call as the logged-in user. The console holds no privileges of its own.
//
//	ferrite-console --api-server https://127.0.0.1:6443 --api-ca-file ca.crt
//	ferrite-console --kubeconfig admin.kubeconfig   # its current context's server and CA only
//	ferrite-console --bind-address 0.0.0.0:8443 --tls-cert-file tls.crt --tls-private-key-file tls.key --kubeconfig ...
//
// docs/console.md describes the server's HTTP interface.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ferrite-dev/ferrite/console/app"
	"github.com/ferrite-dev/ferrite/console/server"
	"github.com/ferrite-dev/ferrite/console/session"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "ferrite-console:", err)
		os.Exit(1)
	}
}

// sweepInterval is how often expired sessions are dropped.
const sweepInterval = time.Minute

func run(ctx context.Context, args []string, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	var files fs.FS
	if app.Built() {
		files = app.FS()
	} else {
		log.Warn("the web app is not built into this binary: run make console, then rebuild ferrite-console")
	}
	sessions := session.NewStore()
	handler, err := server.New(server.Config{API: o.api, Sessions: sessions, App: files, LoopbackOnly: o.tlsCertificate == nil, Log: log})
	if err != nil {
		return err
	}
	listener, err := net.Listen("tcp", o.bindAddress)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// No write timeout: watches and console sessions stream for as long as they last.
	}
	scheme := "http"
	if o.tlsCertificate != nil {
		scheme = "https"
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*o.tlsCertificate}}
	}
	log.Info("serving the web console", "url", fmt.Sprintf("%s://%s/", scheme, listener.Addr()), "api", o.api.Host)

	go func() {
		ticker := time.NewTicker(sweepInterval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				srv.Shutdown(shutdown)
				return
			case <-ticker.C:
				sessions.Sweep()
			}
		}
	}()
	if o.tlsCertificate != nil {
		err = srv.ServeTLS(listener, "", "")
	} else {
		err = srv.Serve(listener)
	}
	if !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
