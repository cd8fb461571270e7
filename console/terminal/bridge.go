package terminal

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/ferrite-dev/ferrite/console/browsersocket"
	"github.com/ferrite-dev/ferrite/console/session"
)

// maxFrame bounds a browser frame (keystrokes and pastes).
const maxFrame = 64 << 10

// ErrorFrame is the text frame that tells the browser why the session could not start or
// ended.
type ErrorFrame struct {
	Type    string `json:"type"` // "error"
	Message string `json:"message"`
}

// bridge runs the console session of t as the user of s on conn until the browser leaves, the
// session ends (logout) or the API server ends the console.
func (h *Handler) bridge(requestCtx context.Context, conn *websocket.Conn, s *session.Session, t target) {
	defer conn.Close()
	ctx, cancel := context.WithCancel(requestCtx)
	defer cancel()
	defer context.AfterFunc(s.Context(), cancel)()
	log := h.Log.With("user", s.User, "machine", t.namespace+"/"+t.name)

	browser := &frameWriter{conn: conn}
	stdin, keystrokes := io.Pipe()
	defer stdin.Close()
	go readKeystrokes(conn, keystrokes, cancel)
	go browsersocket.KeepAlive(ctx, conn)

	log.Info("console session opening")
	err := stream(ctx, s, t, stdin, browser)
	switch {
	case s.Context().Err() != nil:
		log.Info("console session ended by logout")
		browser.close(websocket.CloseNormalClosure, "logged out")
	case ctx.Err() != nil:
		log.Info("console session closed by the browser")
	case err != nil:
		log.Info("console session refused or failed", "err", err)
		browser.error(message(err))
		browser.close(websocket.CloseNormalClosure, "error")
	default:
		log.Info("console session ended")
		browser.close(websocket.CloseNormalClosure, "session ended")
	}
}

// stream opens the console as the user and copies stdin to it and its output to stdout.
func stream(ctx context.Context, s *session.Session, t target, stdin io.Reader, stdout io.Writer) error {
	url, err := consoleURL(s, t)
	if err != nil {
		return err
	}
	executor, err := remotecommand.NewWebSocketExecutor(s.Config, http.MethodGet, url)
	if err != nil {
		return err
	}
	return executor.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Tty: true})
}

// readKeystrokes copies the browser's binary frames into keystrokes until the browser closes
// or goes silent, then cancels the session. Text frames are ignored.
func readKeystrokes(conn *websocket.Conn, keystrokes *io.PipeWriter, cancel context.CancelFunc) {
	defer cancel()
	defer keystrokes.Close()
	browsersocket.StartReading(conn, maxFrame)
	for {
		kind, data, err := browsersocket.ReadMessage(conn)
		if err != nil {
			return
		}
		if kind != websocket.BinaryMessage || len(data) == 0 {
			continue
		}
		if _, err := keystrokes.Write(data); err != nil {
			return
		}
	}
}

// frameWriter sends console output as binary frames; gorilla allows one writer at a time.
type frameWriter struct {
	mu   sync.Mutex
	conn *websocket.Conn
}

func (f *frameWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := f.send(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (f *frameWriter) send(kind int, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conn.SetWriteDeadline(time.Now().Add(browsersocket.WriteTimeout))
	return f.conn.WriteMessage(kind, data)
}

// error sends an ErrorFrame.
func (f *frameWriter) error(message string) {
	data, _ := json.Marshal(ErrorFrame{Type: "error", Message: message})
	f.send(websocket.TextMessage, data)
}

// close sends a close frame (WriteControl may run beside other writes).
func (f *frameWriter) close(code int, reason string) {
	browsersocket.Close(f.conn, code, reason)
}
