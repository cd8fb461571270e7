// Command route-reflector runs one of Ferrite's BGP route reflectors for overlay routes. Run
// two or more side by side, each listing the others with --peer; every netagent peers with all
// of them. On SIGTERM it exits without closing its sessions politely, so that clients keep its
// routes through a restart (graceful restart). Go's listeners use multipath TCP by default
// where the kernel has it, and MPTCP sockets cannot carry the TCP-MD5 signature of
// --password-file, hence the go:debug setting.
//
//go:debug multipathtcp=0
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ferrite-dev/ferrite/net/reflector"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "route-reflector:", err)
		os.Exit(1)
	}
}

func run() error {
	routerID := flag.String("router-id", "", "IPv4 router ID (also the cluster ID)")
	listen := flag.String("listen", "", "comma-separated addresses to accept BGP on (all when empty)")
	port := flag.Int("port", 179, "BGP port")
	clients := flag.String("client-prefixes", "", "comma-separated prefixes agents connect from")
	peers := flag.String("peer", "", "comma-separated address:port of every other reflector (full mesh)")
	passwordFile := flag.String("password-file", "", "file holding the TCP-MD5 password of every BGP session")
	maxPrefixes := flag.Uint("max-prefixes", 100_000, "most routes one client may announce")
	httpAddr := flag.String("http", "127.0.0.1:9179", "address of the read-only HTTP endpoint (/routes, /peers, /metrics); it shows every tenant's routes, keep it on loopback")
	debug := flag.Bool("debug", false, "log debug messages, GoBGP's included")
	flag.Parse()

	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg := reflector.Config{Port: *port, Logger: log, MaxPrefixes: uint32(*maxPrefixes)}
	var err error
	if cfg.RouterID, err = netip.ParseAddr(*routerID); err != nil {
		return fmt.Errorf("--router-id: %w", err)
	}
	for _, s := range splitList(*listen) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("--listen: %w", err)
		}
		cfg.ListenAddresses = append(cfg.ListenAddresses, a)
	}
	for _, s := range splitList(*clients) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("--client-prefixes: %w", err)
		}
		cfg.ClientPrefixes = append(cfg.ClientPrefixes, p)
	}

	for _, s := range splitList(*peers) {
		p, err := netip.ParseAddrPort(s)
		if err != nil {
			return fmt.Errorf("--peer: %w", err)
		}
		cfg.Peers = append(cfg.Peers, p)
	}
	if *passwordFile != "" {
		b, err := os.ReadFile(*passwordFile)
		if err != nil {
			return fmt.Errorf("--password-file: %w", err)
		}
		if cfg.Password = strings.TrimSpace(string(b)); cfg.Password == "" {
			return fmt.Errorf("--password-file %s is empty", *passwordFile)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rr, err := reflector.Start(ctx, cfg)
	if err != nil {
		return err
	}
	// No rr.Stop on exit: Stop sends every client a Cease, which makes them drop our routes.
	// Exiting closes the sessions without one; clients keep the routes stale until we are back.
	srv := &http.Server{Addr: *httpAddr, Handler: http.MaxBytesHandler(rr.Handler(), 1<<10),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, MaxHeaderBytes: 8 << 10}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http", "err", err)
			stop()
		}
	}()
	<-ctx.Done()
	log.Info("stopping")
	return srv.Shutdown(context.Background())
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
