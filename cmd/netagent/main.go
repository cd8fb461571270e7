//go:debug multipathtcp=0

// Command netagent runs on each hypervisor: it announces the routes of the local network
// interfaces to the route reflectors, installs the routes it learns into the dataplane, and
// answers the guests' DHCP. With --kubeconfig and --machine-pool it follows the API: the
// NetworkInterfaces that pool's machinepoollet attached become local interfaces in their
// Network's VNI, and their status.state is written back.
//
// The config file's publicVNI (e.g. 16777215; the apiserver's --vni-max must exclude it) is
// the virtual network of public addresses: the VirtualIPs, NAT gateway shares and public
// load-balancer addresses of this host's interfaces are announced in it, and the dataplane
// translates between them and the interfaces' own addresses. Without it, public services are
// refused: the config file's make the file invalid, the API's are left out with an error in
// the log.
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
	"syscall"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/net/agent"
	"github.com/ferrite-dev/ferrite/net/dhcp"
	"github.com/ferrite-dev/ferrite/net/follower"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "netagent:", err)
		os.Exit(1)
	}
}

func run() error {
	path := flag.String("config", "", "JSON config file (re-read on SIGHUP for its interfaces, routes and subscriptions)")
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the Ferrite API; with --machine-pool, follow that pool's NetworkInterfaces")
	pool := flag.String("machine-pool", "", "the MachinePool this hypervisor serves")
	debug := flag.Bool("debug", false, "log debug messages, GoBGP's included")
	flag.Parse()
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if (*kubeconfig == "") != (*pool == "") {
		return errors.New("--kubeconfig and --machine-pool go together")
	}
	cfg, err := readConfig(*path)
	if err != nil {
		return err
	}
	password, err := readPassword(cfg.PasswordFile)
	if err != nil {
		return err
	}
	httpAddr, err := netip.ParseAddrPort(cfg.HTTP)
	if err != nil {
		return fmt.Errorf("http %q: %w", cfg.HTTP, err)
	}
	if !httpAddr.Addr().IsLoopback() {
		return fmt.Errorf("http %s: the status endpoint shows every tenant's routes on this host; want a loopback address", httpAddr)
	}
	var client versioned.Interface
	if *kubeconfig != "" {
		rest, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
		if err != nil {
			return fmt.Errorf("--kubeconfig: %w", err)
		}
		rest.UserAgent = "netagent/" + *pool
		if client, err = versioned.NewForConfig(rest); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dp, closeDP, err := openDataplane(ctx, cfg.Dataplane, cfg.LocalAddress, cfg.MTU, log)
	if err != nil {
		return err
	}
	defer closeDP()
	a, err := agent.Start(ctx, agent.Config{
		RouterID: cfg.RouterID, LocalAddress: cfg.LocalAddress, NextHop: cfg.NextHop,
		Reflectors: cfg.Reflectors, Password: password, PublicVNI: cfg.PublicVNI, Dataplane: dp, Logger: log,
	})
	if err != nil {
		return err
	}
	// Stop leaves the dataplane as it is and ends the sessions gracefully: the reflectors keep
	// this host's routes while it restarts, so no other host stops forwarding to it.
	defer a.Stop()
	l := &local{agent: a, followsAPI: client != nil, public: cfg.PublicVNI != 0}
	if err := l.SetStatic(ctx, cfg.static()); err != nil {
		return fmt.Errorf("%s: %w", *path, err)
	}
	go reloadOnHangup(ctx, *path, l, log)

	if client != nil {
		leases := dhcp.New(dhcp.Config{Logger: log.With("component", "dhcp")})
		go func() {
			if err := leases.Run(ctx); err != nil {
				log.Error("dhcp", "err", err)
				stop()
			}
		}()
		f, err := follower.New(follower.Config{Client: client, PoolName: *pool, Agent: l, DHCP: leases,
			MTU: cfg.MTU, Logger: log.With("component", "follower")})
		if err != nil {
			return err
		}
		go func() {
			if err := f.Run(ctx); err != nil {
				log.Error("following the API", "err", err)
				stop()
			}
		}()
	}

	srv, err := agent.NewHTTPServer(httpAddr, a.Handler())
	if err != nil {
		return err
	}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http", "err", err)
			stop()
		}
	}()
	log.Info("netagent started", "routerID", cfg.RouterID, "reflectors", cfg.Reflectors,
		"dataplane", cfg.Dataplane.Type, "machinePool", *pool, "status", cfg.HTTP)
	<-ctx.Done()
	log.Info("stopping; the dataplane keeps forwarding")
	return srv.Shutdown(context.Background())
}

// static is the config file's part of the local state.
func (c config) static() agent.Local {
	return agent.Local{Interfaces: c.Interfaces, Routes: c.Routes, Subscriptions: c.Subscriptions, Peerings: c.Peerings}
}

// reloadOnHangup re-reads the config file's static interfaces, routes and subscriptions on
// SIGHUP. Other settings need a restart.
func reloadOnHangup(ctx context.Context, path string, l *local, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		cfg, err := readConfig(path)
		if err == nil {
			err = l.SetStatic(ctx, cfg.static())
		}
		if err != nil {
			log.Error("reload: keeping the previous static state", "config", path, "err", err)
			continue
		}
		log.Info("reloaded", "config", path, "interfaces", len(cfg.Interfaces), "routes", len(cfg.Routes))
	}
}
