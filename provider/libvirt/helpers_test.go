package libvirt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"libvirt.org/go/libvirt"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

const (
	gib = 1 << 30
	mib = 1 << 20
)

// testURI is libvirt's in-library test driver: domains "run" without QEMU.
const testURI = "test:///default"

// pin keeps one connection to the test driver open for the whole test binary: the driver's
// default state (its domains) lives only while a connection does, and the tests restart
// providers on it.
var pin *libvirt.Connect

func TestMain(m *testing.M) {
	if err := startEventLoop(); err != nil {
		// Without libvirt's library (Debian: libvirt0) nothing here can run.
		fmt.Println("SKIP: provider/libvirt tests need libvirt:", err)
		os.Exit(0)
	}
	var err error
	pin, err = libvirt.NewConnect(testURI)
	if err != nil {
		fmt.Println("SKIP: provider/libvirt tests need libvirt's test driver:", err)
		os.Exit(0)
	}
	code := m.Run()
	pin.Close()
	os.Exit(code)
}

// testEnv is a provider served on a unix socket and a client of it.
type testEnv struct {
	t        *testing.T
	dir      string
	provider *Provider
	client   runtimev1alpha1.MachineRuntimeClient
	stop     func()
	conn     *grpc.ClientConn
}

// startProvider serves a provider with state in dir (a new one when empty) and options changed by
// opts.
func startProvider(t *testing.T, uri, dir string, opts func(*Options)) *testEnv {
	t.Helper()
	if dir == "" {
		// Short: unix socket paths are limited to 108 bytes.
		var err error
		dir, err = os.MkdirTemp("", "lvp")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	o := Options{
		URI:             uri,
		VirtType:        "qemu",
		StateDir:        filepath.Join(dir, "state"),
		ShutdownTimeout: 5 * time.Second,
		ReapInterval:    time.Hour,
		ImageGCInterval: -1,
		HugePagesDir:    filepath.Join(dir, "no-hugepages"),
	}
	if opts != nil {
		opts(&o)
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	socket := filepath.Join(dir, "rt.sock")
	stop, err := p.Serve(ctx, socket)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{t: t, dir: dir, provider: p, client: runtimev1alpha1.NewMachineRuntimeClient(conn), stop: stop, conn: conn}
	t.Cleanup(env.close)
	return env
}

func (e *testEnv) close() {
	if e.stop != nil {
		e.conn.Close()
		e.stop()
		e.stop = nil
	}
}

func testNow() time.Time { return time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC) }

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newMachine(id string) *runtimev1alpha1.Machine {
	return &runtimev1alpha1.Machine{
		Metadata: &runtimev1alpha1.ObjectMetadata{
			Id: id,
			Labels: map[string]string{
				"machinepoollet.ferrite.dev/machine-uid":  id,
				"machinepoollet.ferrite.dev/machine-name": "vm-" + id,
			},
		},
		Spec: &runtimev1alpha1.MachineSpec{
			Class:     "small",
			Resources: &runtimev1alpha1.MachineResources{Vcpus: 1, MemoryBytes: 256 * mib},
		},
	}
}

func (e *testEnv) create(m *runtimev1alpha1.Machine) *runtimev1alpha1.CreateMachineResponse {
	e.t.Helper()
	resp, err := e.client.CreateMachine(ctxFor(e.t), &runtimev1alpha1.CreateMachineRequest{Machine: m})
	if err != nil {
		e.t.Fatalf("create %s: %v", m.GetMetadata().GetId(), err)
	}
	return resp
}

func (e *testEnv) get(id string) *runtimev1alpha1.Machine {
	e.t.Helper()
	resp, err := e.client.ListMachines(ctxFor(e.t), &runtimev1alpha1.ListMachinesRequest{Filter: &runtimev1alpha1.MachineFilter{Id: id}})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(resp.GetMachines()) != 1 {
		return nil
	}
	return resp.GetMachines()[0]
}

// waitFor polls machine id until cond holds.
func (e *testEnv) waitFor(id string, what string, cond func(*runtimev1alpha1.Machine) bool) *runtimev1alpha1.Machine {
	e.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last *runtimev1alpha1.Machine
	for time.Now().Before(deadline) {
		last = e.get(id)
		if cond(last) {
			return last
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("machine %s: %s did not happen; last %v", id, what, last)
	return nil
}

func (e *testEnv) waitState(id string, state runtimev1alpha1.MachineState) *runtimev1alpha1.Machine {
	e.t.Helper()
	return e.waitFor(id, "state "+state.String(), func(m *runtimev1alpha1.Machine) bool {
		return m.GetStatus().GetState() == state
	})
}

func (e *testEnv) events(id string) []*runtimev1alpha1.Event {
	e.t.Helper()
	resp, err := e.client.ListEvents(ctxFor(e.t), &runtimev1alpha1.ListEventsRequest{MachineId: id})
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.GetEvents()
}

func hasEvent(events []*runtimev1alpha1.Event, reason string) bool {
	for _, ev := range events {
		if ev.GetReason() == reason {
			return true
		}
	}
	return false
}

// domainState returns the state of machine id's domain, or false when there is none.
func domainState(t *testing.T, lv *libvirt.Connect, id string) (libvirt.DomainState, bool) {
	t.Helper()
	dom, err := lv.LookupDomainByName(DomainName(id))
	if isNoDomain(err) {
		return 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer dom.Free()
	state, _, err := dom.GetState()
	if err != nil {
		t.Fatal(err)
	}
	return state, true
}
