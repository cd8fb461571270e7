// Command netagent runs on each hypervisor: it announces the routes of the local network
// interfaces to the route reflectors and installs the routes it learns into the dataplane.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/ferrite-dev/ferrite/net/agent"
	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// config is the agent's config file (JSON). Interfaces, routes and subscriptions listed here
// are installed at start; more come through the HTTP API.
type config struct {
	RouterID      netip.Addr            `json:"routerID"`
	LocalAddress  netip.Addr            `json:"localAddress"`
	NextHop       netip.Addr            `json:"nextHop,omitzero"`
	Reflectors    []netip.AddrPort      `json:"reflectors"`
	HTTP          string                `json:"http"`
	Dataplane     dataplaneConfig       `json:"dataplane"`
	Interfaces    []dataplane.Interface `json:"interfaces"`
	Routes        []route.Route         `json:"routes"`
	Subscriptions []uint32              `json:"subscriptions"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "netagent:", err)
		os.Exit(1)
	}
}

func run() error {
	path := flag.String("config", "", "JSON config file")
	debug := flag.Bool("debug", false, "log debug messages, GoBGP's included")
	flag.Parse()
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	cfg := config{HTTP: "127.0.0.1:9180"}
	b, err := os.ReadFile(*path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("%s: %w", *path, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dp, closeDP, err := openDataplane(ctx, cfg.Dataplane, cfg.LocalAddress, log)
	if err != nil {
		return err
	}
	defer closeDP()
	a, err := agent.Start(ctx, agent.Config{
		RouterID: cfg.RouterID, LocalAddress: cfg.LocalAddress, NextHop: cfg.NextHop,
		Reflectors: cfg.Reflectors, Dataplane: dp, Logger: log,
	})
	if err != nil {
		return err
	}
	defer a.Stop()
	for _, iface := range cfg.Interfaces {
		if err := a.AddInterface(ctx, iface); err != nil {
			return fmt.Errorf("interface %s: %w", iface.Name, err)
		}
	}
	for _, r := range cfg.Routes {
		if err := a.Announce(ctx, r); err != nil {
			return err
		}
	}
	for _, vni := range cfg.Subscriptions {
		if err := a.Subscribe(ctx, vni); err != nil {
			return err
		}
	}
	srv := &http.Server{Addr: cfg.HTTP, Handler: a.Handler()}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http", "err", err)
			stop()
		}
	}()
	log.Info("netagent started", "routerID", cfg.RouterID, "reflectors", cfg.Reflectors, "dataplane", cfg.Dataplane.Type)
	<-ctx.Done()
	log.Info("stopping")
	return srv.Shutdown(context.Background())
}
