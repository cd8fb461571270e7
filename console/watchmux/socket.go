package watchmux

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferrite-dev/ferrite/console/browsersocket"
	"github.com/ferrite-dev/ferrite/console/session"
)

// socket is one browser's watch socket. Its one writer goroutine sends the queued frames
// (gorilla/websocket allows one writer at a time); the reader, in ServeHTTP's goroutine,
// starts and stops watches, each in its own goroutine.
type socket struct {
	h       *Handler
	conn    *websocket.Conn
	session *session.Session
	log     *slog.Logger
	// ctx ends with the socket: every watch's request derives from it.
	ctx    context.Context
	cancel context.CancelFunc
	queue  chan outgoing
	// running counts the writer and the watches, waited for before ServeHTTP returns.
	running sync.WaitGroup

	mu      sync.Mutex
	watches map[string]*watch // the live watches by id
	started int               // watches started, for the log (reader goroutine only)

	endOnce sync.Once
	// reason says why the socket ended (for the log); a closeCode other than 0 is sent to the
	// browser with closeText.
	reason    string
	closeCode int
	closeText string
}

// outgoing is a queued frame; the frames of a watch stopped meanwhile are dropped.
type outgoing struct {
	watch *watch // nil for the socket's own frames
	data  []byte
}

// serve runs the socket of s on conn until it ends, then waits for its watches.
func (h *Handler) serve(requestCtx context.Context, conn *websocket.Conn, s *session.Session, remote string) {
	ctx, cancel := context.WithCancel(requestCtx)
	defer cancel()
	sock := &socket{h: h, conn: conn, session: s, log: h.Log.With("user", s.User, "remote", remote),
		ctx: ctx, cancel: cancel, queue: make(chan outgoing, h.queueLen()), watches: map[string]*watch{}}
	defer context.AfterFunc(s.Context(), func() { sock.end("logged out", websocket.CloseNormalClosure, "logged out") })()

	sock.log.Info("watch socket open")
	sock.running.Add(1)
	go sock.write()
	go browsersocket.KeepAlive(ctx, conn)
	sock.read()
	sock.running.Wait()
	conn.Close()
	sock.log.Info("watch socket closed", "reason", sock.reason, "watches", sock.started)
}

// end ends the socket once, for reason: every watch is cancelled and the writer closes the
// connection, with a close frame of code and text when code is not 0.
func (s *socket) end(reason string, code int, text string) {
	s.endOnce.Do(func() {
		s.reason, s.closeCode, s.closeText = reason, code, text
		s.cancel()
	})
}

// read handles the browser's frames until the connection fails or is closed.
func (s *socket) read() {
	browsersocket.StartReading(s.conn, maxMessage)
	for {
		kind, data, err := browsersocket.ReadMessage(s.conn)
		if err != nil {
			s.end(readFailure(err), 0, "")
			return
		}
		if kind != websocket.TextMessage {
			s.refuse("", "binary frames are not understood: send JSON text frames")
			continue
		}
		var m Message
		if err := json.Unmarshal(data, &m); err != nil {
			s.refuse("", "message: "+err.Error())
			continue
		}
		switch m.Type {
		case TypeWatch:
			s.startWatch(m.ID, m.Path)
		case TypeStop:
			s.stopWatch(m.ID)
		default:
			s.refuse(m.ID, fmt.Sprintf("message type %q is not known (%s, %s)", m.Type, TypeWatch, TypeStop))
		}
	}
}

// readFailure says why reading ended, for the log.
func readFailure(err error) string {
	var netErr net.Error
	switch {
	case websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived):
		return "closed by the browser"
	case errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("the browser was silent for %v", browsersocket.ReadTimeout)
	default:
		return "reading: " + err.Error()
	}
}

// write sends the queued frames until the socket ends, then closes the connection.
func (s *socket) write() {
	defer s.running.Done()
	defer s.closeConn()
	for {
		select {
		case <-s.ctx.Done():
			return
		case out := <-s.queue:
			if out.watch != nil && out.watch.stopped.Load() {
				continue
			}
			s.conn.SetWriteDeadline(time.Now().Add(browsersocket.WriteTimeout))
			if err := s.conn.WriteMessage(websocket.TextMessage, out.data); err != nil {
				s.end("writing: "+err.Error(), 0, "")
				return
			}
		}
	}
}

// closeConn sends the close frame, if any, and closes the connection, which ends the reader.
func (s *socket) closeConn() {
	if s.closeCode != 0 {
		browsersocket.Close(s.conn, s.closeCode, s.closeText)
	}
	s.conn.Close()
}

// enqueue queues data for the browser. It returns false when the frame will not be sent: the
// socket or w (when not nil) has ended, or the queue stayed full for the stall timeout, which
// ends the socket.
func (s *socket) enqueue(w *watch, data []byte) bool {
	var stopped <-chan struct{}
	if w != nil {
		stopped = w.ctx.Done()
	}
	out := outgoing{watch: w, data: data}
	select {
	case s.queue <- out:
		return true
	case <-stopped:
		return false
	case <-s.ctx.Done():
		return false
	default:
	}
	timer := time.NewTimer(s.h.stall())
	defer timer.Stop()
	select {
	case s.queue <- out:
		return true
	case <-stopped:
		return false
	case <-s.ctx.Done():
		return false
	case <-timer.C:
		// The writer is likely stuck in a write to the browser: close the connection under
		// it rather than wait for the write's deadline.
		s.end(fmt.Sprintf("the browser did not keep up (send queue full for %v)", s.h.stall()), 0, "")
		s.conn.Close()
		return false
	}
}

// refuse sends an error frame for watch id.
func (s *socket) refuse(id, message string) {
	s.log.Debug("watch refused", "id", id, "message", message)
	s.enqueue(nil, errorFrame(id, message))
}
