package dpdk_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/ferrite-dev/ferrite/net/dataplane/dpdk"
	pb "github.com/ferrite-dev/ferrite/net/dataplane/dpdk/fastpathpb"
)

// fastPath is an in-memory fast path: it keeps the tables the contract describes, with the
// cascades, refusals and restart behaviour a real one has, and counts the calls it serves.
type fastPath struct {
	pb.UnimplementedFastPathServer
	mu       sync.Mutex
	calls    map[string]int // by method name, e.g. "CreateRoute"
	restarts int

	initialized bool
	identity    string
	underlay    []byte
	absent      map[string]bool // devices that do not exist on the "host"
	full        uint32          // a VNI whose routes are refused (table full)
	version     string          // the proto version reported, when not dpdk.ProtoVersion

	interfaces map[string]*pb.Interface
	routes     map[string]*pb.Route
	vips       map[string]*pb.VirtualIP
	nats       map[string]*pb.NAT
	nnats      map[string]*pb.NeighborNAT
	lbs        map[string]*pb.LoadBalancer
	targets    map[string]*pb.LoadBalancerTarget
	rules      map[string]*pb.FirewallRule
}

func newFastPath() *fastPath {
	f := &fastPath{calls: map[string]int{}, absent: map[string]bool{}}
	f.restart()
	return f
}

// restart empties the tables as a restarted process would.
func (f *fastPath) restart() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restarts++
	f.initialized, f.identity, f.underlay = false, "", nil
	f.interfaces, f.routes = map[string]*pb.Interface{}, map[string]*pb.Route{}
	f.vips, f.nats, f.nnats = map[string]*pb.VirtualIP{}, map[string]*pb.NAT{}, map[string]*pb.NeighborNAT{}
	f.lbs, f.targets, f.rules = map[string]*pb.LoadBalancer{}, map[string]*pb.LoadBalancerTarget{}, map[string]*pb.FirewallRule{}
}

// count returns the calls served since the last count, by method.
func (f *fastPath) count() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = map[string]int{}
	return c
}

func (f *fastPath) setAbsent(device string, absent bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.absent[device] = absent
}

// sizes returns how many objects each table holds.
func (f *fastPath) sizes() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fmt.Sprintf("interfaces %d routes %d vips %d nats %d nnats %d lbs %d targets %d rules %d",
		len(f.interfaces), len(f.routes), len(f.vips), len(f.nats), len(f.nnats), len(f.lbs), len(f.targets), len(f.rules))
}

// serve starts the fast path on a unix socket and returns its address.
func (f *fastPath) serve(t testing.TB, opts ...grpc.ServerOption) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "fp.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	f.serveOn(t, ln, opts...)
	return "unix://" + sock
}

func (f *fastPath) serveOn(t testing.TB, ln net.Listener, opts ...grpc.ServerOption) {
	count := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		f.mu.Lock()
		f.calls[filepath.Base(info.FullMethod)]++
		f.mu.Unlock()
		return h(ctx, req)
	}
	srv := grpc.NewServer(append(opts, grpc.UnaryInterceptor(count))...)
	pb.RegisterFastPathServer(srv, f)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
}

func key(m proto.Message) string {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	return string(b)
}

// ready is the first step of every table call: lock, and refuse before Initialize.
func (f *fastPath) ready() error {
	f.mu.Lock()
	if !f.initialized {
		f.mu.Unlock()
		return dpdk.Error(codes.FailedPrecondition, pb.ErrorCode_ERROR_CODE_NOT_INITIALIZED, "", "not initialized")
	}
	return nil
}

// put stores m under k; the same content again is fine, other content under k a conflict.
func put[M proto.Message](table map[string]M, k string, m M) error {
	if old, ok := table[k]; ok && !proto.Equal(old, m) {
		return dpdk.Error(codes.AlreadyExists, pb.ErrorCode_ERROR_CODE_CONFLICT, k, "exists with other content")
	}
	table[k] = proto.Clone(m).(M)
	return nil
}

func values[M proto.Message](table map[string]M) []M {
	out := make([]M, 0, len(table))
	for _, m := range table {
		out = append(out, proto.Clone(m).(M))
	}
	return out
}

func notFound(what string) error {
	return dpdk.Error(codes.NotFound, pb.ErrorCode_ERROR_CODE_NOT_FOUND, what, what+" not found")
}

func (f *fastPath) GetVersion(context.Context, *pb.GetVersionRequest) (*pb.GetVersionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := dpdk.ProtoVersion
	if f.version != "" {
		v = f.version
	}
	return &pb.GetVersionResponse{ProtoVersion: v, ServiceVersion: "test"}, nil
}

func (f *fastPath) Initialize(_ context.Context, r *pb.InitializeRequest) (*pb.InitializeResponse, error) {
	if _, err := dpdk.AddrFromProto(r.GetUnderlay()); err != nil {
		return nil, dpdk.Error(codes.InvalidArgument, pb.ErrorCode_ERROR_CODE_UNSPECIFIED, "underlay", err.Error())
	}
	f.restart()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restarts-- // an Initialize is not a process restart
	f.initialized, f.underlay, f.identity = true, r.GetUnderlay(), r.GetIdentity()
	if f.identity == "" {
		f.identity = "picked-by-fast-path"
	}
	return &pb.InitializeResponse{Identity: f.identity}, nil
}

func (f *fastPath) CheckInitialized(context.Context, *pb.CheckInitializedRequest) (*pb.CheckInitializedResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &pb.CheckInitializedResponse{Initialized: f.initialized, Identity: f.identity, Underlay: f.underlay}, nil
}
