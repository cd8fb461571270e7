// Package libvirt is libvirt-provider: the machine runtime (poollet/runtime/machine/v1alpha1) of
// one hypervisor, served on a unix socket and backed by persistent libvirt domains running QEMU
// (KVM, or TCG where KVM is not usable).
//
// The domains are the provider's state: each carries the machine's ID, labels, spec (without
// secrets), generation and times in Ferrite metadata (metadata.go), and the machine's files (disk
// overlays, empty disks, user data, console log) live in one directory per machine under the
// state directory. After a restart of the provider, of libvirtd or of the host, the provider
// rebuilds its machines from the domains that carry Ferrite metadata and carries on with what
// they were doing (image pulls, deletions). Domains without that metadata are never touched.
//
// Changes come from the provider's own actions and from libvirt's domain events, and are numbered
// by one revision counter for Watch (poollet/runtime/history). docs/libvirt-provider.md
// describes the whole design.
package libvirt

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"k8s.io/klog/v2"
	"libvirt.org/go/libvirt"

	"github.com/ferrite-dev/ferrite/poollet/runtime/history"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/validation"
)

// RuntimeName is what Version reports as the runtime's name.
const RuntimeName = "libvirt-provider"

// RuntimeVersion is the provider's version, set at build time with
// -ldflags "-X github.com/ferrite-dev/ferrite/provider/libvirt.RuntimeVersion=...".
var RuntimeVersion = "dev"

// Provider is the libvirt machine runtime. Create it with New, start it with Start (or Serve),
// and stop it with Close.
type Provider struct {
	runtimev1alpha1.UnimplementedMachineRuntimeServer

	opts    Options
	log     klog.Logger
	conn    *conn
	history history.Machines
	revs    *revisionFile
	events  *eventQueue

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// ready is closed after the first sync with libvirt; until then calls answer UNAVAILABLE.
	ready chan struct{}

	// mu guards machines and every machine's fields marked "guarded by p.mu", and orders the
	// history's changes. It is never held across a libvirt call; machine.op is, and is taken
	// first.
	mu       sync.Mutex
	machines map[string]*machine
	closed   bool
}

// machine is one machine the provider holds.
type machine struct {
	id string
	// op serializes the provider's actions on the machine's domain and files. Taken before p.mu.
	op sync.Mutex

	// Guarded by p.mu (and changed under op as well, so an action holding op reads them freely).
	rec  *record                      // the Ferrite metadata as last written to the domain
	spec *runtimev1alpha1.MachineSpec // the spec with the user data's bytes
	view *runtimev1alpha1.Machine     // the machine as last committed
	obs  observation                  // what libvirt last showed of the domain
	// defined is false while a create has not defined the domain yet.
	defined  bool
	deleting bool
	gone     bool
	// pendingReason and pendingMessage explain a machine that is not prepared yet.
	pendingReason, pendingMessage string
	// errReason and errMessage say why a machine that is not prepared cannot be (its image does
	// not exist): ERROR rather than PENDING.
	errReason, errMessage string
	// expectStop and expectStopMessage are the reason the next stop of the guest gets, set when
	// the provider stops it.
	expectStop, expectStopMessage string
	// restartOnStop asks to start the guest again when it stops: a POWER_ON called off a
	// shutdown the guest had already been asked for.
	restartOnStop bool
	// shutdown is the timer that forces a guest off after its shutdown timeout; reboot the one
	// that resets a guest that did not reboot in time.
	shutdown, reboot *deadline
	// prepareCancel ends the preparation goroutine (the image pull) of a machine being deleted.
	prepareCancel context.CancelFunc
	preparing     bool
	// removing says the deletion goroutine runs.
	removing bool
	// lastPullError is the last image pull failure reported by an event (not repeated).
	lastPullError string
	// lastReset is when the provider last counted a guest reset as a boot.
	lastReset time.Time
	// detachingNICs names the NICs (by MAC address) detached from the spec that the guest has
	// not released yet.
	detachingNICs map[string]string
	console       *consoleHub
}

// New returns a provider; Start connects it to libvirt.
func New(opts Options) (*Provider, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(opts.StateDir, "machines"), 0o711); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	// The hypervisor's user must traverse to its files, never list them.
	for _, dir := range []string{opts.StateDir, filepath.Join(opts.StateDir, "machines")} {
		if err := os.Chmod(dir, 0o711); err != nil {
			return nil, fmt.Errorf("state dir: %w", err)
		}
	}
	revs, initial, err := openRevisionFile(filepath.Join(opts.StateDir, "revision"), opts.Now())
	if err != nil {
		return nil, err
	}
	p := &Provider{
		opts: opts,
		log:  opts.Log,
		revs: revs,
		history: history.NewMachines(history.Options{
			Limit:           opts.HistoryLimit,
			EventLimit:      opts.EventLimit,
			InitialRevision: initial,
			Now:             opts.Now,
		}),
		events:   newEventQueue(),
		ready:    make(chan struct{}),
		machines: map[string]*machine{},
	}
	p.conn = &conn{
		uri: opts.URI,
		log: opts.Log,
		events: eventHandlers{
			lifecycle:     func(name string, _ libvirt.DomainEventType, _ int) { p.events.add(name, domainEvent{refresh: true}) },
			reboot:        func(name string) { p.events.add(name, domainEvent{reset: true}) },
			deviceRemoved: func(name, _ string) { p.events.add(name, domainEvent{devices: true}) },
		},
		synced: p.sync,
	}
	return p, nil
}

// Start connects to libvirt (retrying until it can), rebuilds the machines from the domains, and
// starts the event worker and the reaper. It returns when the first sync is done or ctx ends;
// the provider keeps running until Close.
func (p *Provider) Start(ctx context.Context) error {
	if err := startEventLoop(); err != nil {
		return err
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(3)
	go func() { defer p.wg.Done(); p.conn.run(p.ctx, p.ready) }()
	go func() { defer p.wg.Done(); p.processEvents() }()
	go func() { defer p.wg.Done(); p.runReaper() }()
	select {
	case <-p.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Serve starts p (Start) and serves it on a new unix socket at path (a stale socket file is
// removed) until the returned stop function is called; stop also closes p.
func (p *Provider) Serve(ctx context.Context, path string) (stop func(), err error) {
	if err := p.Start(ctx); err != nil {
		p.Close()
		return nil, err
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		p.Close()
		return nil, err
	}
	listener, err := net.Listen("unix", path)
	if err != nil {
		p.Close()
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		listener.Close()
		p.Close()
		return nil, err
	}
	server := grpc.NewServer()
	runtimev1alpha1.RegisterMachineRuntimeServer(server, p)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = server.Serve(listener)
	}()
	return func() {
		// Streams end first, so that the graceful stop only waits for unary calls, which must be
		// done with the connection before Close closes it.
		p.closeStreams()
		server.GracefulStop()
		<-done
		p.Close()
	}, nil
}

// Close stops the provider's goroutines, timers and streams. Domains keep running: the next
// provider carries on with them.
func (p *Provider) Close() {
	p.closeStreams()
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	p.conn.close()
}

// closeStreams refuses new calls and ends Watch and Console streams, timers and preparations.
func (p *Provider) closeStreams() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	for _, m := range p.machines {
		m.stopTimersLocked()
		if m.prepareCancel != nil {
			m.prepareCancel()
		}
		if m.console != nil {
			m.console.close(status.Error(codes.Unavailable, "runtime stopped"))
		}
	}
	p.mu.Unlock()
	p.history.Close()
	p.events.close()
}

// enter counts a goroutine that uses the connection (a timer's), unless the provider is closing;
// the goroutine calls p.wg.Done when it ends.
func (p *Provider) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	return true
}

// Version names the provider.
func (p *Provider) Version(context.Context, *runtimev1alpha1.VersionRequest) (*runtimev1alpha1.VersionResponse, error) {
	return &runtimev1alpha1.VersionResponse{Version: "v1alpha1", RuntimeName: RuntimeName, RuntimeVersion: RuntimeVersion}, nil
}

// machineDir is the directory of a machine's files.
func (p *Provider) machineDir(id string) string {
	return filepath.Join(p.opts.StateDir, "machines", id)
}

// usable returns UNAVAILABLE before the first sync and after Close.
func (p *Provider) usable() error {
	select {
	case <-p.ready:
	default:
		return status.Error(codes.Unavailable, "libvirt-provider is starting: not synced with libvirt yet")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return status.Error(codes.Unavailable, "runtime stopped")
	}
	return nil
}

// acquire returns the machine id with its op lock held (the caller unlocks m.op) and the current
// libvirt connection. mutable refuses a machine being deleted (FAILED_PRECONDITION).
func (p *Provider) acquire(id string, mutable bool) (*machine, *libvirt.Connect, error) {
	if err := p.usable(); err != nil {
		return nil, nil, err
	}
	if err := validation.ID("machine_id", id); err != nil {
		return nil, nil, err
	}
	p.mu.Lock()
	m, ok := p.machines[id]
	p.mu.Unlock()
	if !ok {
		return nil, nil, status.Errorf(codes.NotFound, "machine %q not found", id)
	}
	m.op.Lock()
	p.mu.Lock()
	gone, deleting := m.gone, m.deleting
	p.mu.Unlock()
	switch {
	case gone:
		m.op.Unlock()
		return nil, nil, status.Errorf(codes.NotFound, "machine %q not found", id)
	case mutable && deleting:
		m.op.Unlock()
		return nil, nil, status.Errorf(codes.FailedPrecondition, "machine %q is being deleted", id)
	}
	lv, err := p.conn.get()
	if err != nil {
		m.op.Unlock()
		return nil, nil, err
	}
	return m, lv, nil
}

// viewOf returns a copy of m's committed view.
func (p *Provider) viewOf(m *machine) *runtimev1alpha1.Machine {
	p.mu.Lock()
	defer p.mu.Unlock()
	return proto.Clone(m.view).(*runtimev1alpha1.Machine)
}

// eventLocked records an event about m.
func (p *Provider) eventLocked(m *machine, typ runtimev1alpha1.EventType, reason, format string, args ...any) {
	p.history.Event(m.id, typ, reason, format, args...)
	p.revs.reserve(p.history.Revision(), p.log)
}

// event records an event about m.
func (p *Provider) event(m *machine, typ runtimev1alpha1.EventType, reason, format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.eventLocked(m, typ, reason, format, args...)
}

func (m *machine) stopTimersLocked() {
	if m.shutdown != nil {
		m.shutdown.Stop()
		m.shutdown = nil
	}
	if m.reboot != nil {
		m.reboot.Stop()
		m.reboot = nil
	}
}

// withDomain looks up the domain of machine id and runs fn with it.
func withDomain(lv *libvirt.Connect, id string, fn func(*libvirt.Domain) error) error {
	dom, err := lv.LookupDomainByName(DomainName(id))
	if err != nil {
		return err
	}
	defer dom.Free()
	return fn(dom)
}
