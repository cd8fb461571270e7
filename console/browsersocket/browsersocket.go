// Package browsersocket holds what the console's WebSocket endpoints share: the checks before
// the upgrade (a session, a same-origin Origin and the session's CSRF token in the csrf query
// parameter, since a browser's WebSocket sends no custom headers), the upgrade, and keeping the
// connection alive (pings, and dropping a browser that has gone silent).
package browsersocket

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferrite-dev/ferrite/console/jsonreply"
	"github.com/ferrite-dev/ferrite/console/session"
)

// Timing of a browser connection: a ping every PingPeriod keeps proxies from dropping an idle
// connection, and a browser silent (no pong, no frame) for ReadTimeout is gone. A write that
// takes longer than WriteTimeout fails.
const (
	PingPeriod   = 30 * time.Second
	ReadTimeout  = 75 * time.Second
	WriteTimeout = 10 * time.Second
)

// CSRFParam is the query parameter that carries the session's CSRF token.
const CSRFParam = "csrf"

// upgrader accepts the browser's WebSocket. Its CheckOrigin lets everything through because
// Authorize has checked the Origin header more strictly (it must be present).
var upgrader = websocket.Upgrader{
	ReadBufferSize: 4096, WriteBufferSize: 4096,
	CheckOrigin: func(*http.Request) bool { return true },
}

// Authorize returns the session in r's context (session.NewContext) once r has a same-origin
// Origin and the session's CSRF token in CSRFParam. Otherwise it has answered 401 or 403 with
// a {"message"} and ok is false.
func Authorize(w http.ResponseWriter, r *http.Request) (s *session.Session, ok bool) {
	s, ok = session.FromContext(r.Context())
	if !ok {
		jsonreply.Error(w, http.StatusUnauthorized, "not logged in")
		return nil, false
	}
	if err := session.CheckOrigin(r, true); err != nil {
		jsonreply.Error(w, http.StatusForbidden, err.Error())
		return nil, false
	}
	if !s.CheckCSRF(r.URL.Query().Get(CSRFParam)) {
		jsonreply.Error(w, http.StatusForbidden, "query parameter "+CSRFParam+" is missing or is not the session's CSRF token")
		return nil, false
	}
	return s, true
}

// Upgrade turns r into a WebSocket. When r is no WebSocket upgrade it answers 400 naming what,
// and when the upgrade fails it has answered; ok is false then.
func Upgrade(w http.ResponseWriter, r *http.Request, what string) (conn *websocket.Conn, ok bool) {
	if !websocket.IsWebSocketUpgrade(r) {
		jsonreply.Error(w, http.StatusBadRequest, what+" is a WebSocket upgrade")
		return nil, false
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	return conn, err == nil
}

// StartReading limits the browser's frames to limit bytes and gives it ReadTimeout to send
// the next frame or pong; each pong extends it.
func StartReading(conn *websocket.Conn, limit int64) {
	conn.SetReadLimit(limit)
	conn.SetReadDeadline(time.Now().Add(ReadTimeout))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(ReadTimeout)) })
}

// ReadMessage reads the browser's next frame and extends the read deadline.
func ReadMessage(conn *websocket.Conn) (kind int, data []byte, err error) {
	kind, data, err = conn.ReadMessage()
	if err == nil {
		conn.SetReadDeadline(time.Now().Add(ReadTimeout))
	}
	return kind, data, err
}

// KeepAlive pings the browser every PingPeriod until ctx ends or a ping fails. It may run
// beside the connection's one writer.
func KeepAlive(ctx context.Context, conn *websocket.Conn) {
	ticker := time.NewTicker(PingPeriod)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(WriteTimeout)); err != nil {
				return
			}
		}
	}
}

// Close sends a close frame with code and reason. It may run beside the connection's one
// writer.
func Close(conn *websocket.Conn, code int, reason string) {
	conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(WriteTimeout))
}
