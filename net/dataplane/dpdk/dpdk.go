// Package dpdk is the offload hook: a Dataplane that hands every interface and route operation
// to a dpservice-style DPDK fast path over gRPC (service FastPath in fastpathpb), so the agent
// stays the same whether packets go through the kernel or through user space.
package dpdk

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	pb "github.com/ferrite-dev/ferrite/net/dataplane/dpdk/fastpathpb"
	"github.com/ferrite-dev/ferrite/net/route"
)

// Config says where the fast path listens.
type Config struct {
	// Address is the fast path's gRPC target, e.g. "unix:///run/dpservice.sock" or
	// "127.0.0.1:1337". The fast path runs on the same host, so the channel is not encrypted.
	Address string
	// Underlay is this hypervisor's tunnel address, handed to the fast path at start.
	Underlay netip.Addr
	// Timeout bounds each call (5 s when zero).
	Timeout time.Duration
}

// Dataplane forwards dataplane operations to the fast path.
type Dataplane struct {
	conn    *grpc.ClientConn
	client  pb.FastPathClient
	timeout time.Duration
}

var _ dataplane.Dataplane = (*Dataplane)(nil)

// Dial connects to the fast path and initializes it with the underlay address.
func Dial(ctx context.Context, cfg Config) (*Dataplane, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if !cfg.Underlay.IsValid() {
		return nil, fmt.Errorf("fast path: no underlay address")
	}
	conn, err := grpc.NewClient(cfg.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("fast path %s: %w", cfg.Address, err)
	}
	d := &Dataplane{conn: conn, client: pb.NewFastPathClient(conn), timeout: cfg.Timeout}
	err = d.call(ctx, func(ctx context.Context) error {
		_, err := d.client.Initialize(ctx, &pb.InitializeRequest{Underlay: cfg.Underlay.AsSlice()}, grpc.WaitForReady(true))
		return err
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("fast path %s: initialize: %w", cfg.Address, err)
	}
	return d, nil
}

// Close closes the connection; what the fast path holds stays in place.
func (d *Dataplane) Close() error { return d.conn.Close() }

func (d *Dataplane) call(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	return fn(ctx)
}

// AddInterface attaches a machine interface in the fast path.
func (d *Dataplane) AddInterface(ctx context.Context, iface dataplane.Interface) error {
	if err := iface.Validate(); err != nil {
		return err
	}
	return d.call(ctx, func(ctx context.Context) error {
		_, err := d.client.AddInterface(ctx, &pb.AddInterfaceRequest{Interface: InterfaceToProto(iface)})
		return err
	})
}

// DeleteInterface detaches a machine interface in the fast path.
func (d *Dataplane) DeleteInterface(ctx context.Context, iface dataplane.Interface) error {
	return d.call(ctx, func(ctx context.Context) error {
		_, err := d.client.DeleteInterface(ctx, &pb.DeleteInterfaceRequest{Interface: InterfaceToProto(iface)})
		return err
	})
}

// AddRoute adds a next hop of a prefix in the fast path, NAT port range and kind included.
func (d *Dataplane) AddRoute(ctx context.Context, r route.Route) error {
	if err := r.Validate(); err != nil {
		return err
	}
	return d.call(ctx, func(ctx context.Context) error {
		_, err := d.client.AddRoute(ctx, &pb.AddRouteRequest{Route: RouteToProto(r)})
		return err
	})
}

// DeleteRoute removes a next hop of a prefix in the fast path.
func (d *Dataplane) DeleteRoute(ctx context.Context, r route.Route) error {
	return d.call(ctx, func(ctx context.Context) error {
		_, err := d.client.DeleteRoute(ctx, &pb.DeleteRouteRequest{Route: RouteToProto(r)})
		return err
	})
}
