package fake

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/consolestream"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// viewerBuffer is how many output chunks an open console may fall behind before it is closed.
const viewerBuffer = 256

// console is a machine's serial console: the retained output and the open viewers. The server's
// lock guards it.
type console struct {
	limit   int
	log     []byte
	total   uint64
	viewers map[*viewer]struct{}
}

// viewer is one open Console stream.
type viewer struct {
	output chan []byte
	// closed is closed when the viewer must end, with err as the stream's result.
	closed chan struct{}
	err    error
}

// write appends output: into the retained log (keeping its last limit bytes) and to every viewer.
// A viewer too far behind is closed rather than blocking the guest.
func (c *console) write(data []byte) {
	if len(data) == 0 {
		return
	}
	c.total += uint64(len(data))
	c.log = append(c.log, data...)
	if extra := len(c.log) - c.limit; extra > 0 {
		c.log = append([]byte(nil), c.log[extra:]...)
	}
	for v := range c.viewers {
		select {
		case v.output <- append([]byte(nil), data...):
		default:
			c.closeViewer(v, status.Error(codes.ResourceExhausted, "console output was not read fast enough"))
		}
	}
}

// tail returns the last n retained bytes (all of them for n == 0) and the offset of the first.
func (c *console) tail(n uint64) ([]byte, uint64) {
	data := c.log
	if n > 0 && uint64(len(data)) > n {
		data = data[uint64(len(data))-n:]
	}
	return append([]byte(nil), data...), c.total - uint64(len(data))
}

func (c *console) addViewer() *viewer {
	v := &viewer{output: make(chan []byte, viewerBuffer), closed: make(chan struct{})}
	if c.viewers == nil {
		c.viewers = map[*viewer]struct{}{}
	}
	c.viewers[v] = struct{}{}
	return v
}

func (c *console) closeViewer(v *viewer, err error) {
	if _, ok := c.viewers[v]; !ok {
		return
	}
	delete(c.viewers, v)
	v.err = err
	close(v.closed)
}

// closeViewers ends every open console, with err as their result (nil: the machine is gone).
func (c *console) closeViewers(err error) {
	for v := range c.viewers {
		c.closeViewer(v, err)
	}
}

// Console attaches to a machine's console. The fake guest echoes input while it runs.
func (s *Server) Console(stream grpc.BidiStreamingServer[runtimev1alpha1.ConsoleRequest, runtimev1alpha1.ConsoleResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	open := first.GetOpen()
	if open == nil {
		return status.Error(codes.InvalidArgument, "the first console request must be an open")
	}
	s.mu.Lock()
	m, err := s.lookupLocked(open.GetMachineId())
	if err != nil {
		s.mu.Unlock()
		return err
	}
	var scrollback []byte
	if n := open.GetScrollbackBytes(); n > 0 {
		scrollback, _ = m.console.tail(n)
	}
	// Registered under the same lock as the scrollback was read: nothing is lost or repeated
	// between them.
	v := m.console.addViewer()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		m.console.closeViewer(v, nil)
		s.mu.Unlock()
	}()

	return consolestream.Serve(stream, scrollback, v.output, v.closed, func() error { return v.err }, func(data []byte) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if !m.gone && m.m.Status.State == runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING {
			m.console.write(data)
		}
		return nil
	})
}

// ReadConsoleLog returns the last bytes of a machine's console.
func (s *Server) ReadConsoleLog(_ context.Context, req *runtimev1alpha1.ReadConsoleLogRequest) (*runtimev1alpha1.ReadConsoleLogResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.lookupLocked(req.GetMachineId())
	if err != nil {
		return nil, err
	}
	data, offset := m.console.tail(req.GetTailBytes())
	return &runtimev1alpha1.ReadConsoleLogResponse{Data: data, Offset: offset, TotalBytes: m.console.total}, nil
}
