package libvirt

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"libvirt.org/go/libvirt"

	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/consolestream"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// The interactive console: one libvirt console stream per machine (opened without force, so an
// operator's `virsh console` is never kicked off), shared by every viewer attached through the
// Console call. Its output goes to all viewers; input from any viewer is written to the guest,
// one write at a time. The stream opens when the first viewer attaches and the guest runs, opens
// again after the guest restarts, and closes when the last viewer leaves.

// viewerBuffer is how many output chunks a viewer may fall behind before it is closed.
const viewerBuffer = 256

// consoleHub is a machine's console stream and its viewers.
type consoleHub struct {
	p  *Provider
	id string

	mu      sync.Mutex
	viewers map[*viewer]struct{}
	running bool // the hub's goroutine runs
	stream  *libvirt.Stream
	closed  bool
	// wakeup tells the goroutine the guest may have started, or that a viewer left.
	wakeup chan struct{}
	// opened is closed when a stream is open (and replaced when it closes), so that input
	// waits for the stream of a guest that runs.
	opened chan struct{}
	// writeMu serializes input.
	writeMu sync.Mutex
}

// viewer is one open Console stream.
type viewer struct {
	output chan []byte
	// done is closed when the viewer must end, with err as the stream's result.
	done chan struct{}
	err  error
}

// consoleOf returns m's hub, creating it.
func (p *Provider) consoleOf(m *machine) *consoleHub {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m.console == nil {
		m.console = &consoleHub{p: p, id: m.id, viewers: map[*viewer]struct{}{}, wakeup: make(chan struct{}, 1), opened: make(chan struct{})}
	}
	return m.console
}

// wake asks the hub to try to open the stream now.
func (h *consoleHub) wake() {
	select {
	case h.wakeup <- struct{}{}:
	default:
	}
}

// attach registers a viewer and returns the scrollback it gets first, read under the same lock
// (so output broadcast after it goes to the viewer). The scrollback comes from the log file that
// virtlogd writes and the live output from the stream, so a few bytes around the moment of
// attaching may show twice or not at all.
func (h *consoleHub) attach(scrollback uint64) (*viewer, []byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, nil, status.Errorf(codes.NotFound, "machine %q not found", h.id)
	}
	var back []byte
	if scrollback > 0 {
		data, _, _, err := readConsoleTail(h.p.consoleLogPath(h.id), min(scrollback, uint64(h.p.opts.ConsoleLogBytes)))
		if err != nil {
			return nil, nil, status.Errorf(codes.Internal, "reading the console log: %v", err)
		}
		back = data
	}
	v := &viewer{output: make(chan []byte, viewerBuffer), done: make(chan struct{})}
	h.viewers[v] = struct{}{}
	if !h.running {
		h.running = true
		// enter takes p.mu, which is taken before h.mu elsewhere: not under h.mu.
		h.mu.Unlock()
		started := h.p.enter()
		if started {
			go func() {
				defer h.p.wg.Done()
				h.run()
			}()
		}
		h.mu.Lock()
		h.running = started
	}
	return v, back, nil
}

func (h *consoleHub) detach(v *viewer, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.detachLocked(v, err)
}

func (h *consoleHub) detachLocked(v *viewer, err error) {
	if _, ok := h.viewers[v]; !ok {
		return
	}
	delete(h.viewers, v)
	v.err = err
	close(v.done)
	if len(h.viewers) == 0 {
		h.wake()
	}
}

// close ends every viewer with err (nil: the machine is gone) and the stream.
func (h *consoleHub) close(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for v := range h.viewers {
		h.detachLocked(v, err)
	}
	h.wake()
}

// broadcast sends output to every viewer; one too far behind is closed.
func (h *consoleHub) broadcast(data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for v := range h.viewers {
		select {
		case v.output <- append([]byte(nil), data...):
		default:
			h.detachLocked(v, status.Error(codes.ResourceExhausted, "console output was not read fast enough"))
		}
	}
}

// inputWait is how long input waits for the console stream to open; input while the guest does
// not run is dropped after it.
const inputWait = 5 * time.Second

// write sends input to the guest.
func (h *consoleHub) write(data []byte) error {
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	h.mu.Lock()
	opened := h.opened
	h.mu.Unlock()
	select {
	case <-opened:
	case <-time.After(inputWait):
		return nil
	}
	h.mu.Lock()
	stream := h.stream
	h.mu.Unlock()
	if stream == nil {
		return nil
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(data) > 0 {
		n, err := stream.Send(data)
		if err != nil {
			return nil // the stream ends; the reader reopens it
		}
		if n == -2 { // would block
			if time.Now().After(deadline) {
				return status.Error(codes.DeadlineExceeded, "the guest's console does not take input")
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		data = data[n:]
	}
	return nil
}

// run keeps the stream open while viewers are attached: it opens the stream when the guest runs
// and copies its output to the viewers.
func (h *consoleHub) run() {
	for {
		h.mu.Lock()
		if h.closed || len(h.viewers) == 0 || h.p.ctx.Err() != nil {
			// Decided under the lock that attach checks running under: a viewer attaching now
			// starts a new goroutine.
			h.running = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		stream, readable, err := h.open()
		if err != nil {
			// The guest does not run (or libvirt is away): wait for a start or a retry.
			select {
			case <-h.wakeup:
			case <-time.After(2 * time.Second):
			case <-h.p.ctx.Done():
			}
			continue
		}
		h.copy(stream, readable)
		h.mu.Lock()
		h.stream = nil
		h.opened = make(chan struct{})
		h.mu.Unlock()
		h.writeMu.Lock() // no write is using the stream any more
		stream.EventRemoveCallback()
		stream.Abort()
		stream.Free()
		h.writeMu.Unlock()
	}
}

// open opens the console stream of a running guest.
func (h *consoleHub) open() (*libvirt.Stream, chan struct{}, error) {
	lv, err := h.p.conn.get()
	if err != nil {
		return nil, nil, err
	}
	stream, err := lv.NewStream(libvirt.STREAM_NONBLOCK)
	if err != nil {
		return nil, nil, err
	}
	err = withDomain(lv, h.id, func(dom *libvirt.Domain) error { return dom.OpenConsole("", stream, 0) })
	if err != nil {
		stream.Free()
		return nil, nil, err
	}
	readable := make(chan struct{}, 1)
	err = stream.EventAddCallback(libvirt.STREAM_EVENT_READABLE|libvirt.STREAM_EVENT_ERROR|libvirt.STREAM_EVENT_HANGUP,
		func(*libvirt.Stream, libvirt.StreamEventType) {
			select {
			case readable <- struct{}{}:
			default:
			}
		})
	if err != nil {
		stream.Abort()
		stream.Free()
		return nil, nil, err
	}
	h.mu.Lock()
	h.stream = stream
	close(h.opened)
	h.mu.Unlock()
	return stream, readable, nil
}

// copy reads the stream until it ends or no viewer is left.
func (h *consoleHub) copy(stream *libvirt.Stream, readable chan struct{}) {
	buf := make([]byte, 64<<10)
	for {
		n, err := stream.Recv(buf)
		switch {
		case err != nil: // EOF (the guest stopped) or a failure
			return
		case n > 0:
			h.broadcast(buf[:n])
			continue
		}
		// Nothing to read (n == -2): wait.
		h.mu.Lock()
		done := h.closed || len(h.viewers) == 0
		h.mu.Unlock()
		if done {
			return
		}
		select {
		case <-readable:
		case <-h.wakeup:
		case <-time.After(time.Second):
		case <-h.p.ctx.Done():
			return
		}
	}
}

// Console attaches to a machine's serial console.
func (p *Provider) Console(stream grpc.BidiStreamingServer[runtimev1alpha1.ConsoleRequest, runtimev1alpha1.ConsoleResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	open := first.GetOpen()
	if open == nil {
		return status.Error(codes.InvalidArgument, "the first console request must be an open")
	}
	m, err := p.lookup(open.GetMachineId())
	if err != nil {
		return err
	}
	hub := p.consoleOf(m)
	v, scrollback, err := hub.attach(open.GetScrollbackBytes())
	if err != nil {
		return err
	}
	defer hub.detach(v, nil)
	return consolestream.Serve(stream, scrollback, v.output, v.done, func() error { return v.err }, hub.write)
}

// ReadConsoleLog returns the last bytes of a machine's console log.
func (p *Provider) ReadConsoleLog(_ context.Context, req *runtimev1alpha1.ReadConsoleLogRequest) (*runtimev1alpha1.ReadConsoleLogResponse, error) {
	m, err := p.lookup(req.GetMachineId())
	if err != nil {
		return nil, err
	}
	n := uint64(p.opts.ConsoleLogBytes)
	if t := req.GetTailBytes(); t > 0 && t < n {
		n = t
	}
	data, offset, total, err := readConsoleTail(p.consoleLogPath(m.id), n)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "reading the console log of machine %s: %v", m.id, err)
	}
	return &runtimev1alpha1.ReadConsoleLogResponse{Data: data, Offset: offset, TotalBytes: total}, nil
}

// lookup returns a machine that exists (without its op lock).
func (p *Provider) lookup(id string) (*machine, error) {
	if err := p.usable(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.machines[id]
	if !ok || m.gone || !m.defined {
		return nil, status.Errorf(codes.NotFound, "machine %q not found", id)
	}
	return m, nil
}
