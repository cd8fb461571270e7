// Package watchmux serves the console's watch WebSocket: one socket per browser tab carries
// all of the tab's watches, so that live lists do not each hold one of the few HTTP/1.1
// connections a browser allows per host. The browser asks for watches by path and id; each
// runs upstream as the session's user, under the proxy's path rules, and its events come back
// as the API server sent them, wrapped in a frame that names the watch.
package watchmux

import (
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/ferrite-dev/ferrite/console/browsersocket"
	"github.com/ferrite-dev/ferrite/console/proxy"
)

// Path is where the browser opens its watch socket.
const Path = "/watch/ws"

// Limits of one socket.
const (
	// MaxWatches is the number of live watches a socket may hold.
	MaxWatches = 100
	// MaxIDLength bounds a watch id.
	MaxIDLength = 64
	// maxMessage bounds a browser frame: a watch request with its path and selectors.
	maxMessage = 16 << 10
	// maxStatusBody bounds the error answer of the API server passed on in a status frame.
	maxStatusBody = 1 << 20
	// defaultQueueLength frames wait for the browser at most; a watch that finds the queue
	// full waits defaultStallTimeout for room before the socket is closed as too slow (the
	// browser then reconnects and resumes), rather than buffering without bound.
	defaultQueueLength  = 128
	defaultStallTimeout = 15 * time.Second
)

// Handler serves Path. The request's context must carry its session (session.NewContext).
type Handler struct {
	// Proxy gives the API server's URLs; requests go through proxy.Transport as the user.
	Proxy *proxy.Proxy
	Log   *slog.Logger

	// queueLength and stallTimeout replace the defaults when set (tests).
	queueLength  int
	stallTimeout time.Duration
	// active counts the watches running upstream, on all sockets.
	active atomic.Int64
}

// ServeHTTP checks the request (session, same-origin Origin, the session's CSRF token in the
// csrf query parameter), upgrades it and serves the socket's watches until the browser leaves,
// the session ends or the browser falls too far behind.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, ok := browsersocket.Authorize(w, r)
	if !ok {
		return
	}
	conn, ok := browsersocket.Upgrade(w, r, "the watch socket")
	if !ok {
		return
	}
	h.serve(r.Context(), conn, s, r.RemoteAddr)
}

func (h *Handler) queueLen() int {
	if h.queueLength > 0 {
		return h.queueLength
	}
	return defaultQueueLength
}

func (h *Handler) stall() time.Duration {
	if h.stallTimeout > 0 {
		return h.stallTimeout
	}
	return defaultStallTimeout
}
