// Command route-reflector runs one of Ferrite's BGP route reflectors for overlay routes. Run
// two or more side by side; every netagent peers with all of them.
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
	httpAddr := flag.String("http", "127.0.0.1:9179", "address of the HTTP endpoint (/routes, /peers, /metrics)")
	debug := flag.Bool("debug", false, "log debug messages, GoBGP's included")
	flag.Parse()

	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg := reflector.Config{Port: *port, Logger: log}
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

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rr, err := reflector.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer rr.Stop()
	srv := &http.Server{Addr: *httpAddr, Handler: rr.Handler()}
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
