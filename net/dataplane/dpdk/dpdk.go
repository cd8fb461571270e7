// Package dpdk is the offload hook: a Dataplane that hands the agent's desired state to a
// dpservice-style DPDK fast path over gRPC (service FastPath in fastpathpb), so the agent stays
// the same whether packets go through the kernel or through user space.
//
// Apply is level-triggered: it checks the fast path's identity (a new one means the fast path
// restarted with empty tables, so everything is replayed), lists every table and creates,
// deletes or replaces only the difference. Everything the fast path holds belongs to Ferrite.
package dpdk

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	pb "github.com/ferrite-dev/ferrite/net/dataplane/dpdk/fastpathpb"
)

// ProtoVersion is the fast-path contract this package speaks; Apply refuses a fast path that
// reports another one.
const ProtoVersion = "ferrite.net.fastpath.v2"

// DefaultAddress is where the fast path listens unless configured otherwise.
const DefaultAddress = "unix:///run/ferrite/fastpath.sock"

// maxListBytes bounds a List response (about a million routes).
const maxListBytes = 64 << 20

// Config says where the fast path listens and how to reach it.
type Config struct {
	// Address is the fast path's gRPC target: "unix:///path" (DefaultAddress when empty) or
	// "host:port" over TCP, which needs TLS (or Insecure).
	Address string
	// TLS secures a TCP connection; ignored for unix sockets.
	TLS TLSFiles
	// Insecure allows plaintext TCP without TLS; anyone on the network can then program the
	// fast path. Only for tests and labs.
	Insecure bool
	// Underlay is this hypervisor's tunnel address, handed to the fast path at Initialize.
	Underlay netip.Addr
	// Timeout bounds each call (5 s when zero).
	Timeout time.Duration
	// Logger receives restarts and warnings (slog.Default when nil).
	Logger *slog.Logger
}

// Dataplane drives the fast path. It is safe for concurrent use; Apply calls run one at a time.
type Dataplane struct {
	conn     *grpc.ClientConn
	client   pb.FastPathClient
	address  string
	underlay netip.Addr
	timeout  time.Duration
	log      *slog.Logger

	// applying serializes Apply calls and guards identity.
	applying sync.Mutex
	identity string // fast-path identity the last Apply found; "" before contact

	// mu guards what callers read and write while an Apply runs.
	mu             sync.Mutex
	services       Services              // handed over by SetServices, applied by Apply
	underlayRoutes map[string]netip.Addr // per interface, as the fast path reported it
}

var _ dataplane.Dataplane = (*Dataplane)(nil)

// Dial sets up the connection to the fast path. It does not wait for the fast path: Apply
// reports when it is unreachable, and the caller retries.
func Dial(cfg Config) (*Dataplane, error) {
	if cfg.Address == "" {
		cfg.Address = DefaultAddress
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if !cfg.Underlay.IsValid() || cfg.Underlay.IsUnspecified() {
		return nil, fmt.Errorf("fast path %s: no underlay address", cfg.Address)
	}
	creds, err := transportCredentials(cfg)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(cfg.Address, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxListBytes)))
	if err != nil {
		return nil, fmt.Errorf("fast path %s: %w", cfg.Address, err)
	}
	return &Dataplane{conn: conn, client: pb.NewFastPathClient(conn), address: cfg.Address,
		underlay: cfg.Underlay.Unmap(), timeout: cfg.Timeout, log: cfg.Logger}, nil
}

// Close closes the connection; what the fast path holds stays in place, so traffic keeps
// flowing while the agent restarts.
func (d *Dataplane) Close() error { return d.conn.Close() }

// SetServices sets the virtual IPs, NATs, load balancers and firewall rules that every later
// Apply installs next to its dataplane.State. The caller then asks the agent to apply again.
func (d *Dataplane) SetServices(s Services) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.services = s
}

// UnderlayRoute returns the underlay address the fast path receives the named interface's
// overlay traffic on, as of the last Apply.
func (d *Dataplane) UnderlayRoute(name string) (netip.Addr, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.underlayRoutes[name]
	return a, ok
}

// call runs one RPC with the per-call timeout.
func call[Req, Resp any](ctx context.Context, d *Dataplane, rpc func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) (Resp, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	return rpc(ctx, req)
}
