package dpdk_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ferrite-dev/ferrite/net/agent"
	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/dataplane/dpdk"
	pb "github.com/ferrite-dev/ferrite/net/dataplane/dpdk/fastpathpb"
	"github.com/ferrite-dev/ferrite/net/lab"
	"github.com/ferrite-dev/ferrite/net/route"
)

// fastPath is a fake fast path that records, decoded, every call it receives.
type fastPath struct {
	pb.UnimplementedFastPathServer
	mu    sync.Mutex
	calls []string
}

func (f *fastPath) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fastPath) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fastPath) Initialize(_ context.Context, r *pb.InitializeRequest) (*pb.InitializeResponse, error) {
	a, ok := netip.AddrFromSlice(r.Underlay)
	if !ok {
		return nil, status.Error(codes.InvalidArgument, "bad underlay")
	}
	f.record("init " + a.String())
	return &pb.InitializeResponse{}, nil
}

func (f *fastPath) AddInterface(_ context.Context, r *pb.AddInterfaceRequest) (*pb.AddInterfaceResponse, error) {
	i, err := dpdk.InterfaceFromProto(r.Interface)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	f.record(fmt.Sprintf("add-if %s %d %v", i.Name, i.VNI, i.Addresses))
	return &pb.AddInterfaceResponse{}, nil
}

func (f *fastPath) DeleteInterface(_ context.Context, r *pb.DeleteInterfaceRequest) (*pb.DeleteInterfaceResponse, error) {
	f.record("del-if " + r.Interface.GetName())
	return &pb.DeleteInterfaceResponse{}, nil
}

func (f *fastPath) AddRoute(_ context.Context, r *pb.AddRouteRequest) (*pb.AddRouteResponse, error) {
	rt, err := dpdk.RouteFromProto(r.Route)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if rt.VNI == 666 {
		return nil, status.Error(codes.ResourceExhausted, "route table full")
	}
	f.record("add-route " + rt.String())
	return &pb.AddRouteResponse{}, nil
}

func (f *fastPath) DeleteRoute(_ context.Context, r *pb.DeleteRouteRequest) (*pb.DeleteRouteResponse, error) {
	rt, err := dpdk.RouteFromProto(r.Route)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	f.record("del-route " + rt.String())
	return &pb.DeleteRouteResponse{}, nil
}

func serve(t *testing.T) (*fastPath, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fp := &fastPath{}
	srv := grpc.NewServer()
	pb.RegisterFastPathServer(srv, fp)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return fp, ln.Addr().String()
}

func TestOperationsReachTheFastPath(t *testing.T) {
	ctx := context.Background()
	fp, addr := serve(t)
	d, err := dpdk.Dial(ctx, dpdk.Config{Address: addr, Underlay: netip.MustParseAddr("192.0.2.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	iface := dataplane.Interface{Name: "tap0", VNI: 100, Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("fd00::1/128")}}
	nat := route.Route{VNI: 100, Prefix: netip.MustParsePrefix("0.0.0.0/0"), NextHop: netip.MustParseAddr("2001:db8::9"),
		Kind: route.KindNAT, PortMin: 1024, PortMax: 2047}
	lb := route.Route{VNI: 100, Prefix: netip.MustParsePrefix("192.0.2.80/32"), NextHop: netip.MustParseAddr("192.0.2.7"), Kind: route.KindLoadBalancer}
	steps := []func() error{
		func() error { return d.AddInterface(ctx, iface) },
		func() error { return d.AddRoute(ctx, nat) },
		func() error { return d.AddRoute(ctx, lb) },
		func() error { return d.DeleteRoute(ctx, nat) },
		func() error { return d.DeleteInterface(ctx, iface) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"init 192.0.2.1",
		"add-if tap0 100 [10.0.0.1/32 fd00::1/128]",
		"add-route " + nat.String(),
		"add-route " + lb.String(),
		"del-route " + nat.String(),
		"del-if tap0",
	}
	got := fp.Calls()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("fast path saw\n%q\nwant\n%q", got, want)
	}
	full := route.Route{VNI: 666, Prefix: netip.MustParsePrefix("10.6.6.0/24"), NextHop: netip.MustParseAddr("192.0.2.7")}
	if err := d.AddRoute(ctx, full); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("fast path error not passed on: %v", err)
	}
}

func TestDialFailsWithoutFastPath(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := dpdk.Dial(ctx, dpdk.Config{Address: addr, Underlay: netip.MustParseAddr("192.0.2.1"), Timeout: time.Second}); err == nil {
		t.Error("dial succeeded with nothing listening")
	}
}

// TestAgentDrivesFastPath runs the real agent on the dpdk dataplane: an interface of the agent
// and a route learned from another agent both reach the fast path.
func TestAgentDrivesFastPath(t *testing.T) {
	ctx := context.Background()
	fp, addr := serve(t)
	l, err := lab.New()
	if err != nil {
		t.Fatal(err)
	}
	rr, err := l.StartReflector(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Stop()
	d, err := dpdk.Dial(ctx, dpdk.Config{Address: addr, Underlay: lab.AgentAddr(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	a, err := agent.Start(ctx, agent.Config{RouterID: lab.AgentAddr(1), LocalAddress: lab.AgentAddr(1),
		Reflectors: []netip.AddrPort{l.ReflectorEndpoint(1)}, Dataplane: d, Logger: l.Log})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	other, _, err := l.StartAgent(ctx, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Stop()
	mine := netip.MustParsePrefix("10.0.0.1/32")
	if err := a.AddInterface(ctx, dataplane.Interface{Name: "tap0", VNI: 9, Addresses: []netip.Prefix{mine}}); err != nil {
		t.Fatal(err)
	}
	theirs := route.Route{VNI: 9, Prefix: netip.MustParsePrefix("10.0.0.2/32"), NextHop: lab.AgentAddr(2)}
	if err := other.AddInterface(ctx, dataplane.Interface{Name: "tap0", VNI: 9, Addresses: []netip.Prefix{theirs.Prefix}}); err != nil {
		t.Fatal(err)
	}
	want := "add-route " + theirs.String()
	ok := lab.Eventually(20*time.Second, func() bool {
		for _, c := range fp.Calls() {
			if c == want {
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("fast path never got %q; calls: %q", want, fp.Calls())
	}
	if c := fp.Calls(); len(c) < 2 || c[1] != "add-if tap0 9 [10.0.0.1/32]" {
		t.Errorf("interface not handed to the fast path first: %q", c)
	}
}
